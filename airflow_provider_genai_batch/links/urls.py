"""Console URLs of batch jobs. Pure; no Airflow imports.

- Vertex AI: the Cloud Console page of the batch prediction job,
  ``https://console.cloud.google.com/vertex-ai/locations/<location>/batch-predictions/<id>?project=<project>``
  (the project and location are read from the job name when it has them).
- Gemini Developer API: AI Studio has no documented per-job page; ``https://aistudio.google.com/batches``, the
  list of the project's batch jobs, is the one address known to work, so the link points there (best effort).

Only these addresses are ever shown as links (``safe_console_url``): a URL read back from XCom, which an editor
of the DAG can overwrite, is shown only when it is an ``https`` URL of one of these two consoles.

Example::

    safe_console_url("javascript:alert(1)")   # None
    console_url("vertex", "projects/p/locations/us-central1/batchPredictionJobs/123")
    # 'https://console.cloud.google.com/vertex-ai/locations/us-central1/batch-predictions/123?project=p'
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

__all__ = ["AI_STUDIO_BATCHES_URL", "CONSOLE_HOSTS", "VERTEX_BATCH_LIST_URL", "console_url", "safe_console_url"]

AI_STUDIO_BATCHES_URL = "https://aistudio.google.com/batches"
VERTEX_BATCH_LIST_URL = "https://console.cloud.google.com/vertex-ai/batch-predictions"
#: The hosts of the consoles :func:`console_url` builds links to.
CONSOLE_HOSTS = frozenset({"aistudio.google.com", "console.cloud.google.com"})
# What a built URL may contain: unreserved and percent-encoded characters, and the few delimiters we use.
_URL_CHARS = re.compile(r"^[A-Za-z0-9._~%/?=&:-]+$")
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


def safe_console_url(url: object) -> str | None:
    """``url`` when it is an ``https`` URL of a console :func:`console_url` builds links to, else ``None``.

    No user, password or port, no fragment, and only the characters built URLs contain, so the value is safe in
    an ``href`` whatever page shows it.
    """
    if not isinstance(url, str) or len(url) > 2048 or not _URL_CHARS.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or parts.hostname not in CONSOLE_HOSTS or port is not None:
        return None
    if parts.username is not None or parts.password is not None or parts.netloc != parts.hostname:
        return None
    return url
