"""The small XCom manifest of a batch job: what it is, how it went and where its results are. Never results.

It speaks the client's vocabulary: ``request_counts`` is the job's ``RequestCounts`` and ``results`` its
``ResultsLocation`` (``client.results.results_location``), so the manifest holds no second copy of either.

Example::

    manifest = manifest_from_job(job, backend="gemini", console_url=url, idempotency_key=key, reattached=False)
    manifest.to_xcom()
    # {'job_name': 'batches/abc', 'backend': 'gemini', 'state': 'JOB_STATE_SUCCEEDED',
    #  'request_counts': {'total': 2, 'succeeded': 2, 'failed': 0, 'pending': 0},
    #  'results': {'kind': 'inline', 'inline_count': 2, ...}, ...}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from airflow_provider_genai_batch.client.models import BatchJob, RequestCounts
from airflow_provider_genai_batch.client.results import ResultsLocation, results_location

__all__ = ["BatchJobManifest", "ResultsAttribution", "manifest_from_job"]


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
    request_counts: RequestCounts = RequestCounts()
    results: ResultsLocation = ResultsLocation()
    console_url: str | None = None
    idempotency_key: str | None = None
    reattached: bool = False
    error: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        """A JSON-able dict for XCom (field names, never the API's camelCase aliases)."""
        return self.model_dump(mode="json", by_alias=False)


def manifest_from_job(
    job: BatchJob,
    *,
    backend: str,
    console_url: str | None = None,
    idempotency_key: str | None = None,
    reattached: bool = False,
) -> BatchJobManifest:
    """Build the manifest of ``job`` (a client ``BatchJob``)."""
    return BatchJobManifest(
        job_name=job.name,
        backend=job.backend or backend,
        model=job.model,
        display_name=job.display_name,
        state=job.state.value,
        request_counts=job.request_counts,
        results=results_location(job),
        console_url=console_url,
        idempotency_key=idempotency_key,
        reattached=reattached,
        error=job.error.describe() if job.error is not None else None,
    )


class ResultsAttribution(BaseModel):
    """How a job's results were tied to their requests, counted (``BatchResult.attribution``): by the index stamp
    or the echoed request (``index`` is the input position), by the user's key or only by arrival (``index``
    is the order results were read). The write operator returns it under ``attribution``.

    Example::

        counts = ResultsAttribution.of(["stamp", "stamp"])
        counts.to_xcom(), counts.in_input_order     # ({'stamp': 2}, True)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stamp: int = 0
    request: int = 0
    key: int = 0
    arrival: int = 0

    @classmethod
    def of(cls, kinds: Any) -> ResultsAttribution:
        """Count an iterable of attribution kinds (or take a ``{kind: count}`` dict)."""
        counts: dict[str, int] = {}
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + (kinds[kind] if isinstance(kinds, dict) else 1)
        return cls(**counts)

    @property
    def in_input_order(self) -> bool:
        """True when every result's index is its input position."""
        return not (self.key or self.arrival)

    def to_xcom(self) -> dict[str, int]:
        """The non-zero counts, e.g. ``{"request": 12}``."""
        return {kind: count for kind, count in self.model_dump().items() if count}
