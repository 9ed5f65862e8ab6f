"""The JSON the pages show: one row per job, built from a task's record and/or the API's job. No secrets.

Example::

    row = job_row(record, job, now=time.time())
    row["progress"]   # {'total': 4, 'succeeded': 2, 'failed': 0, 'pending': 2, 'done_ratio': 0.5}
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.client.models import JobState
from airflow_provider_genai_batch.policy.idempotency import key_from_display_name, key_from_labels
from airflow_provider_genai_batch.policy.polling import PollingSchedule

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


def _results(job: BatchJob | None, manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    if manifest is not None and isinstance(manifest.get("results"), dict):
        return dict(manifest["results"])
    if job is None or not job.done:
        return None
    from airflow_provider_genai_batch.client.results import results_location

    try:
        return results_location(job).model_dump(mode="json")
    except (ValueError, TypeError):
        return None


def _next_poll(record: JobRecord | None, state: JobState, now: float) -> float | None:
    """Seconds until the trigger's next poll, from the shared policy (``None`` when nothing polls)."""
    if record is None or state.is_terminal or record.ti_state != "deferred":
        return None
    if record.started_at is None or record.poll_interval is None:
        return None
    schedule = PollingSchedule(min_interval=record.min_poll_interval or 5.0, max_interval=record.poll_interval)
    elapsed = max(now - record.started_at, 0.0)
    interval = schedule.interval(elapsed)
    return round(interval - (elapsed % interval), 1) if interval > 0 else None


def job_row(record: JobRecord | None, job: BatchJob | None, *, now: float, error: str | None = None) -> dict[str, Any]:
    """Everything a page shows about one job; ``error`` is why the live read failed, if it did."""
    manifest = record.manifest if record is not None else None
    if job is not None:
        counts = job.request_counts
        count_map: dict[str, Any] = {
            "total": counts.total,
            "succeeded": counts.succeeded,
            "failed": counts.failed,
            "pending": counts.pending,
        }
        state = job.state
        key = key_from_display_name(job.display_name) or key_from_labels(job.labels)
        job_error = job.error.describe() if job.error is not None else None
    else:
        count_map = dict((manifest or {}).get("request_counts") or {})
        state = JobState.coerce((manifest or {}).get("state"))
        key = None
        job_error = (manifest or {}).get("error")
    created = job.create_time if job is not None else None
    started = job.create_time if job is not None else (record.ti_start if record is not None else None)
    ended = job.end_time if job is not None else None
    elapsed = None
    if started is not None:
        stop = ended.timestamp() if ended is not None and state.is_terminal else now
        elapsed = round(max(stop - started.timestamp(), 0.0), 1)
    return {
        "job_name": job.name if job is not None else (record.job_name if record else None),
        "display_name": job.display_name if job is not None else (manifest or {}).get("display_name"),
        "model": job.model if job is not None else (manifest or {}).get("model"),
        "backend": job.backend if job is not None else (manifest or {}).get("backend"),
        "state": state.short,
        "progress": _progress(count_map),
        "created": _iso(created),
        "elapsed_seconds": elapsed,
        "next_poll_seconds": _next_poll(record, state, now),
        "error": job_error,
        "read_error": error,
        "results": _results(job, manifest),
        "console_url": (record.console_url if record else None) or (manifest or {}).get("console_url"),
        "idempotency_key": key or (manifest or {}).get("idempotency_key"),
        "reattached": (record.reattached if record else None)
        if record is None or record.reattached is not None
        else (manifest or {}).get("reattached"),
        "conn_id": record.conn_id if record is not None else None,
        "owner": None
        if record is None
        else {
            "dag_id": record.dag_id,
            "run_id": record.run_id,
            "task_id": record.task_id,
            "map_index": record.map_index,
            "task_state": record.ti_state,
            "recorded_at": _iso(record.created),
        },
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
