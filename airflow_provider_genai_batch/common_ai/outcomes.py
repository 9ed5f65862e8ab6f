"""This client's jobs and results in common-ai's vocabulary: ``BatchState``, ``RawResultItem``, ``ExtractedOutput``.

Job states onto common-ai's five:

============================================  ===============  ==============================================
our state                                     common-ai        counts
============================================  ===============  ==============================================
QUEUED, PENDING, RUNNING, PAUSED, UPDATING,   ``in_progress``  succeeded/errored so far
CANCELLING, UNSPECIFIED
SUCCEEDED, PARTIALLY_SUCCEEDED                ``completed``    errored > 0 makes the manifest ``partial``
FAILED                                        ``failed``       the job's error is the message
EXPIRED                                       ``expired``      unfinished requests counted ``expired``
CANCELLED                                     ``cancelled``    unfinished requests counted ``cancelled``
============================================  ===============  ==============================================

Example::

    state = batch_state(client.batches.get(name="batches/abc"))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from airflow.providers.common.ai.batch.base import BatchState, BatchStatus, ExtractedOutput, RawResultItem

from airflow_provider_genai_batch.client.models import BatchJob, JobState
from airflow_provider_genai_batch.client.results import BatchResult
from airflow_provider_genai_batch.common_ai.items import CUSTOM_ID_SEPARATOR, parse_custom_id

__all__ = ["batch_state", "extract_output", "raw_items", "unfinished_status"]

_STATUS: dict[JobState, BatchStatus] = {
    JobState.SUCCEEDED: "completed",
    JobState.PARTIALLY_SUCCEEDED: "completed",
    JobState.FAILED: "failed",
    JobState.EXPIRED: "expired",
    JobState.CANCELLED: "cancelled",
}


def unfinished_status(job: BatchJob) -> Literal["expired", "cancelled"] | None:
    """What a request with no result of an ended job counts as: ``expired``, ``cancelled`` or neither."""
    if job.state is JobState.EXPIRED:
        return "expired"
    if job.state is JobState.CANCELLED:
        return "cancelled"
    return None


def batch_state(job: BatchJob) -> BatchState:
    """The job as common-ai's ``BatchState``, with request counts."""
    status: BatchStatus = _STATUS.get(job.state, "in_progress")
    counts = job.request_counts
    pending = counts.pending
    if pending is None:
        pending = max((counts.total or 0) - counts.done, 0)
    unfinished = unfinished_status(job)
    breakdown = {
        "succeeded": counts.succeeded,
        "errored": counts.failed,
        "expired": pending if unfinished == "expired" else 0,
        "cancelled": pending if unfinished == "cancelled" else 0,
    }
    message = None
    if status == "failed":
        detail = job.error.describe() if job.error is not None else "no error detail"
        message = f"Batch {job.name} failed: {detail}"
    return BatchState(status=status, counts=breakdown, error_message=message)


def _usage(response: dict[str, Any]) -> dict[str, int] | None:
    meta = response.get("usageMetadata")
    if not isinstance(meta, dict):
        return None
    names = (("promptTokenCount", "input_tokens"), ("candidatesTokenCount", "output_tokens"))
    usage = {ours: int(meta[theirs]) for theirs, ours in names if isinstance(meta.get(theirs), int)}
    if isinstance(meta.get("totalTokenCount"), int):
        usage["total_tokens"] = int(meta["totalTokenCount"])
    return usage or None


def _finish_reason(response: dict[str, Any]) -> str | None:
    candidates = response.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        reason = candidates[0].get("finishReason")
        return str(reason) if reason is not None else None
    return None


def _item(result: BatchResult, index: int) -> RawResultItem:
    custom_id = result.key or ""
    if result.ok and result.response is not None:
        return RawResultItem(
            custom_id=custom_id,
            index=index,
            provider_status="success",
            model=result.response.get("modelVersion"),
            usage=_usage(result.response),
            finish_reason=_finish_reason(result.response),
            error=None,
            raw=result,
        )
    error = result.error
    return RawResultItem(
        custom_id=custom_id,
        index=index,
        provider_status="errored",
        model=None,
        usage=None,
        finish_reason=None,
        error={
            "type": (error.status if error is not None else None) or "error",
            "message": error.message if error is not None and error.message else "the request produced no response",
            "provider_code": error.code if error is not None else None,
            "stage": "provider",
        },
        raw=result,
    )


def _unfinished(index: int, prefix: str, status: Literal["expired", "cancelled"]) -> RawResultItem:
    return RawResultItem(
        custom_id=f"{prefix}{CUSTOM_ID_SEPARATOR}{index}",
        index=index,
        provider_status=status,
        model=None,
        usage=None,
        finish_reason=None,
        error={"type": status, "message": f"the batch was {status} before this request ran", "stage": "provider"},
        raw=None,
    )


def raw_items(
    results: Iterable[BatchResult], *, total: int | None, prefix: str | None, unfinished: str | None
) -> Iterator[RawResultItem]:
    """Results re-keyed to their request index; then, for an expired or cancelled job whose request count is
    known, one ``expired``/``cancelled`` row per request that has no result. Results whose key is not
    ``<key16>-<index>`` are skipped (common-ai reports them as ``missing``)."""
    seen: set[int] = set()
    for result in results:
        index = parse_custom_id(result.key)
        if index is None:
            continue
        seen.add(index)
        yield _item(result, index)
    if unfinished in ("expired", "cancelled") and total and prefix:
        status: Literal["expired", "cancelled"] = "expired" if unfinished == "expired" else "cancelled"
        for index in range(total):
            if index not in seen:
                yield _unfinished(index, prefix, status)


def extract_output(raw: RawResultItem, structured: bool) -> ExtractedOutput:
    """The first candidate's text; for structured output, that text is the JSON document to validate."""
    result = raw.raw
    text = result.text if isinstance(result, BatchResult) else None
    if not structured:
        return ExtractedOutput(kind="text", text=text)
    if text is None or not text.strip():
        return ExtractedOutput(kind="absent", text=text)
    return ExtractedOutput(kind="json_text", text=text)
