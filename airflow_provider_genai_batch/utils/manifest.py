"""The small XCom manifest of a batch job: what it is, how it went and where its results are. Never results.

Example::

    manifest = manifest_from_job(job, backend="gemini", console_url=url, idempotency_key=key, reattached=False)
    manifest.to_xcom()
    # {'job_name': 'batches/abc', 'backend': 'gemini', 'state': 'JOB_STATE_SUCCEEDED',
    #  'request_counts': {'total': 2, 'succeeded': 2, 'failed': 0, 'pending': 0},
    #  'results': {'kind': 'inline', 'inline_count': 2, ...}, ...}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob

__all__ = ["BatchJobManifest", "ManifestCounts", "ResultsLocation", "manifest_from_job", "results_location"]

ResultsKind = Literal["inline", "file", "gcs", "bigquery", "none"]


class ManifestCounts(BaseModel):
    """Request counts: total (when known), succeeded, failed, pending."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total: int | None = None
    succeeded: int = 0
    failed: int = 0
    pending: int | None = None


class ResultsLocation(BaseModel):
    """Where a job's results are; ``kind`` says which field is set.

    - ``inline``: inside the job (Gemini inlined responses); ``inline_count`` of them.
    - ``file``: a Gemini Files API file, ``file_name`` (``files/...``).
    - ``gcs``: a Vertex GCS output directory, ``gcs_output_directory``.
    - ``bigquery``: a Vertex BigQuery table, ``bigquery_table`` (``bq://project.dataset.table``).
    - ``none``: no results (yet).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ResultsKind = "none"
    inline_count: int | None = None
    file_name: str | None = None
    gcs_output_directory: str | None = None
    bigquery_table: str | None = None


class BatchJobManifest(BaseModel):
    """What the task returns through XCom: a few hundred bytes, whatever the size of the job.

    Example::

        BatchJobManifest(job_name="batches/abc", backend="gemini", state="JOB_STATE_RUNNING").to_xcom()
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_name: str
    backend: str
    model: str | None = None
    display_name: str | None = None
    state: str
    request_counts: ManifestCounts = ManifestCounts()
    results: ResultsLocation = ResultsLocation()
    console_url: str | None = None
    idempotency_key: str | None = None
    reattached: bool = False
    error: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        """A JSON-able dict for XCom."""
        return self.model_dump(mode="json")


def results_location(job: BatchJob) -> ResultsLocation:
    """Where ``job``'s results are, as the client sees it (``client.results.results_location``), for XCom."""
    from airflow_provider_genai_batch.client.results import results_location as client_results_location

    location = client_results_location(job)
    if location.kind == "inline":
        dest = job.dest
        inlined = (dest.inlined_responses or dest.inlined_embed_content_responses or []) if dest else []
        return ResultsLocation(kind="inline", inline_count=len(inlined))
    if location.kind == "file":
        return ResultsLocation(kind="file", file_name=location.uri)
    if location.kind == "gcs":
        return ResultsLocation(kind="gcs", gcs_output_directory=location.uri)
    if location.kind == "bigquery":
        return ResultsLocation(kind="bigquery", bigquery_table=location.uri)
    return ResultsLocation()


def manifest_from_job(
    job: BatchJob,
    *,
    backend: str,
    console_url: str | None = None,
    idempotency_key: str | None = None,
    reattached: bool = False,
) -> BatchJobManifest:
    """Build the manifest of ``job`` (a client ``BatchJob``)."""
    counts = job.request_counts
    return BatchJobManifest(
        job_name=job.name,
        backend=job.backend or backend,
        model=job.model,
        display_name=job.display_name,
        state=job.state.value,
        request_counts=ManifestCounts(
            total=counts.total, succeeded=counts.succeeded, failed=counts.failed, pending=counts.pending
        ),
        results=results_location(job),
        console_url=console_url,
        idempotency_key=idempotency_key,
        reattached=reattached,
        error=job.error.describe() if job.error is not None else None,
    )
