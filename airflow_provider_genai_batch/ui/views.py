"""The JSON the pages show: one row per job, built from a task's record and/or the API's job. No secrets.

A task's record is shown with the job's data only when ``ui.binding.verify`` found the job to be that task's;
otherwise :func:`unverified_row` shows that the task names a job it cannot be shown to own, and nothing read from
that job. Console links are rebuilt from the job (``links.urls.console_url``), never taken from XCom.

Example::

    row = job_row(record, job, now=time.time())
    row["progress"]   # {'total': 4, 'succeeded': 2, 'failed': 0, 'pending': 2, 'done_ratio': 0.5}
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_genai_batch.client.models import JobState
from airflow_provider_genai_batch.links.urls import console_url, safe_console_url
from airflow_provider_genai_batch.policy.idempotency import key_from_display_name, key_from_labels

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.ui.records import JobRecord


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _progress(counts: dict[str, Any]) -> dict[str, Any]:
    total = counts.get("total")
    done = (counts.get("succeeded") or 0) + (counts.get("failed") or 0)
    ratio = min(done / total, 1.0) if isinstance(total, int) and total > 0 else None
    return {**counts, "done_ratio": ratio}


def _results(job: BatchJob) -> dict[str, Any] | None:
    """Where a finished job's results are, read from the job (never from XCom)."""
    if not job.done:
        return None
    from airflow_provider_genai_batch.client.results import results_location

    try:
        return results_location(job).model_dump(mode="json")
    except (ValueError, TypeError):
        return None


def _next_poll(record: JobRecord | None, state: JobState, now: float) -> float | None:
    """Seconds until the trigger's next poll, from the wait settings the trigger runs on (``None`` when nothing
    polls). An armed wait polls only every ``webhook_fallback_interval``; any wait polls at its deadline."""
    if record is None or state.is_terminal or record.ti_state != "deferred":
        return None
    if record.started_at is None or record.wait is None:
        return None
    schedule = record.wait.schedule_for(webhook_armed=record.webhook_armed)
    elapsed = max(now - record.started_at, 0.0)
    interval = schedule.interval(elapsed)
    wait = interval - (elapsed % interval)
    if record.deadline is not None:
        wait = min(wait, max(record.deadline - now, 0.0))
    return round(wait, 1)


class TaskInstanceRef(Protocol):
    """What a job's record and a reaping owner both say about the task instance behind a job."""

    @property
    def dag_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def map_index(self) -> int: ...
    @property
    def ti_state(self) -> str | None: ...


def task_instance_json(ref: TaskInstanceRef) -> dict[str, Any]:
    """The task instance behind a job, as the jobs page and the reaper's report show it."""
    return {
        "dag_id": ref.dag_id,
        "run_id": ref.run_id,
        "task_id": ref.task_id,
        "map_index": ref.map_index,
        "task_state": ref.ti_state,
    }


def _owner(record: JobRecord) -> dict[str, Any]:
    return {**task_instance_json(record), "recorded_at": _iso(record.created)}


def unverified_row(record: JobRecord, *, reason: str, error: str | None = None) -> dict[str, Any]:
    """A task's record whose job could not be shown to be the task's: the recorded name, why, nothing else."""
    return {
        "job_name": record.job_name,
        "verified": False,
        "verify_reason": reason,
        "display_name": None,
        "model": None,
        "backend": None,
        "state": "UNVERIFIED",
        "progress": {},
        "created": None,
        "elapsed_seconds": None,
        "next_poll_seconds": None,
        "webhook_armed": False,
        "error": None,
        "read_error": error,
        "results": None,
        "console_url": None,
        "idempotency_key": None,
        "reattached": None,
        "conn_id": record.conn_id,
        "owner": _owner(record),
    }


def job_row(record: JobRecord | None, job: BatchJob, *, now: float) -> dict[str, Any]:
    """Everything a page shows about one job: a verified task's job (``record``) or a connection's (``None``)."""
    manifest = record.manifest if record is not None else None
    counts = job.request_counts
    count_map: dict[str, Any] = {
        "total": counts.total,
        "succeeded": counts.succeeded,
        "failed": counts.failed,
        "pending": counts.pending,
    }
    state = job.state
    started = job.create_time
    elapsed = None
    if started is not None:
        stop = job.end_time.timestamp() if job.end_time is not None and state.is_terminal else now
        elapsed = round(max(stop - started.timestamp(), 0.0), 1)
    reattached = record.reattached if record is not None else None
    if record is not None and reattached is None:
        reattached = (
            (manifest or {}).get("reattached") if isinstance((manifest or {}).get("reattached"), bool) else None
        )
    return {
        "job_name": job.name,
        "verified": record is not None,
        "verify_reason": "the job carries this task's idempotency key" if record is not None else None,
        "display_name": job.display_name,
        "model": job.model,
        "backend": job.backend,
        "state": state.short,
        "progress": _progress(count_map),
        "created": _iso(job.create_time),
        "elapsed_seconds": elapsed,
        "next_poll_seconds": _next_poll(record, state, now),
        "webhook_armed": record.webhook_armed if record is not None else False,
        "error": job.error.describe() if job.error is not None else None,
        "read_error": None,
        "results": _results(job),
        "console_url": safe_console_url(console_url(job.backend or "gemini", job.name)),
        "idempotency_key": key_from_display_name(job.display_name) or key_from_labels(job.labels),
        "reattached": reattached,
        "conn_id": record.conn_id if record is not None else None,
        "owner": _owner(record) if record is not None else None,
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Counts of running, succeeded (partial ones too), failed, expired and cancelled jobs; ``other`` counts rows
    whose state is not a job state."""
    out = {"running": 0, "succeeded": 0, "failed": 0, "expired": 0, "cancelled": 0, "other": 0}
    for row in rows:
        short = row["state"]
        state = JobState.parse(f"JOB_STATE_{short}") if isinstance(short, str) else JobState.UNSPECIFIED
        if state is JobState.UNSPECIFIED and short != "UNSPECIFIED":
            out["other"] += 1
        elif state.is_success:
            out["succeeded"] += 1
        elif state.is_failure:
            out[state.short.lower()] += 1
        else:
            out["running"] += 1
    return out
