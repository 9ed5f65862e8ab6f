"""Console URLs of batch jobs. Pure; no Airflow imports.

- Vertex AI: the Cloud Console page of the batch prediction job,
  ``https://console.cloud.google.com/vertex-ai/locations/<location>/batch-predictions/<id>?project=<project>``
  (the project and location are read from the job name when it has them).
- Gemini Developer API: AI Studio has no documented per-job page; ``https://aistudio.google.com/batches``, the
  list of the project's batch jobs, is the one address known to work, so the link points there (best effort).

Example::

    console_url("vertex", "projects/p/locations/us-central1/batchPredictionJobs/123")
    # 'https://console.cloud.google.com/vertex-ai/locations/us-central1/batch-predictions/123?project=p'
"""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = ["AI_STUDIO_BATCHES_URL", "VERTEX_BATCH_LIST_URL", "console_url"]

AI_STUDIO_BATCHES_URL = "https://aistudio.google.com/batches"
VERTEX_BATCH_LIST_URL = "https://console.cloud.google.com/vertex-ai/batch-predictions"
_VERTEX_NAME = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/batchPredictionJobs/(?P<id>[^/]+)$"
)


def console_url(backend: str, job_name: str, *, project: str | None = None, location: str | None = None) -> str:
    """The page where a person can look at the job ``job_name`` of ``backend`` (``gemini`` or ``vertex``)."""
    if backend != "vertex":
        return AI_STUDIO_BATCHES_URL
    match = _VERTEX_NAME.match(job_name)
    job_id = job_name.rsplit("/", 1)[-1]
    if match:
        project, location, job_id = match["project"], match["location"], match["id"]
    if not project or not location:
        return VERTEX_BATCH_LIST_URL
    return (
        f"https://console.cloud.google.com/vertex-ai/locations/{quote(location, safe='')}/batch-predictions/"
        f"{quote(job_id, safe='')}?project={quote(project, safe='')}"
    )
