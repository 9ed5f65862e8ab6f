"""Job life cycle, computed lazily from timestamps whenever a job is read (no background tasks).

Timeline of a job created at ``t0`` (``pending`` and ``running`` from the settings or the job's outcome)::

    [t0, t0 + pending)                      PENDING
    [t0 + pending, t0 + pending + running)  RUNNING; requests complete linearly over the interval
    t0 + pending + running                  the outcome's terminal state; results are written now

- Only jobs heading to SUCCEEDED or PARTIALLY_SUCCEEDED make progress; jobs heading to FAILED or CANCELLED (by an
  outcome) report every request as pending until they end, and write no results. A job heading to EXPIRED
  processes its first ``expired_done`` requests (0 by default) while it runs, counts them once expired, and writes
  no results: "the job will not have any results to retrieve" (Google's batch guide).
- An input that cannot be read (missing object or table, malformed JSONL line) fails the job when it would
  start running, with an error naming the source and line.
- A cancel freezes the progress: Gemini jobs are CANCELLED at once, Vertex jobs are CANCELLING for
  ``cancel_seconds`` first. Cancelled jobs write no results.
- Gemini jobs whose requests fail individually still SUCCEED (``failedRequestCount`` > 0). Vertex jobs end
  PARTIALLY_SUCCEEDED when some but not all rows failed, and FAILED (results still written) when all did.
- ``finish_job`` ends a job at once in the state it is given.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.emulator.outputs import materialize
from airflow_provider_genai_batch.emulator.responses import RequestKind, request_problem
from airflow_provider_genai_batch.emulator.state import Backend, Job, RequestItem, SourceKind, Store

__all__ = [
    "TERMINAL_STATES",
    "JobStatus",
    "create_job",
    "find_job",
    "job_error",
    "job_status",
    "refresh",
    "settle_due",
]

#: Generic terminal states (Gemini spells them ``BATCH_STATE_*``, Vertex ``JOB_STATE_*``).
TERMINAL_STATES = frozenset({"SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})


@dataclass(frozen=True)
class JobStatus:
    """A job as seen at one instant.

    Example::

        >>> JobStatus("RUNNING", 4, 1, 1, 10.0, None, 10.0, False).pending
        2
    """

    state: str
    total: int
    succeeded: int
    failed: int
    start_time: float | None
    end_time: float | None
    update_time: float
    #: Whether every request was processed and the results are (to be) written.
    produced: bool

    @property
    def pending(self) -> int:
        """Requests neither succeeded nor failed yet."""
        return self.total - self.succeeded - self.failed

    @property
    def terminal(self) -> bool:
        """Whether the job has ended."""
        return self.state in TERMINAL_STATES


def create_job(
    store: Store,
    *,
    backend: Backend,
    job_id: str,
    name: str,
    kind: RequestKind,
    source: SourceKind,
    model: str,
    display_name: str | None,
    items: list[RequestItem],
    input_error: str | None,
    input_config: dict[str, Any],
    output_config: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    project: str = "",
    location: str = "",
) -> Job:
    """Create and register a job, applying the first matching queued outcome."""
    outcome = store.take_outcome(backend, display_name)
    config = store.config
    failed = {i for i, item in enumerate(items) if request_problem(kind, item.request)}
    final_state = outcome.final_state if outcome else "SUCCEEDED"
    row_errors = {i: f for i, f in outcome.failed_requests.items() if i < len(items)} if outcome else {}
    failed.update(row_errors)
    if final_state == "PARTIALLY_SUCCEEDED" and not failed and items:
        failed.add(0)
    pending = outcome.pending_seconds if outcome and outcome.pending_seconds is not None else None
    running = outcome.job_seconds if outcome and outcome.job_seconds is not None else None
    job = Job(
        backend=backend,
        id=job_id,
        name=name,
        seq=store.next_seq(),
        kind=kind,
        source=source,
        model=model,
        display_name=display_name,
        create_time=store.now(),
        pending_seconds=config.pending_seconds if pending is None else pending,
        job_seconds=config.job_seconds if running is None else running,
        final_state=final_state,
        error_message=outcome.error_message if outcome else None,
        items=items,
        failed=tuple(sorted(failed)),
        row_errors=row_errors,
        expired_done=min(outcome.expired_done, len(items)) if outcome else 0,
        input_error=input_error,
        input_config=input_config,
        output_config=output_config,
        labels=dict(labels or {}),
        project=project,
        location=location,
    )
    store.add_job(job)
    return job


def _done_at(job: Job, when: float, start: float) -> int:
    total = job.expired_done if job.final_state == "EXPIRED" else len(job.items)
    if job.job_seconds <= 0:
        return total if when >= start else 0
    return max(0, min(total, int(total * (when - start) / job.job_seconds)))


def _split(job: Job, done: int) -> tuple[int, int]:
    failed = bisect.bisect_left(job.failed, done)
    return done - failed, failed


def _terminal(job: Job, when: float, started: float | None) -> JobStatus:
    total = len(job.items)
    if job.input_error is None and job.final_state == "EXPIRED" and started is not None:
        done = job.expired_done if when >= started + job.job_seconds else _done_at(job, when, started)
        succeeded, failed = _split(job, done)
        return JobStatus("EXPIRED", total, succeeded, failed, started, when, when, False)
    if job.input_error is not None or job.final_state in ("FAILED", "EXPIRED", "CANCELLED"):
        state = "FAILED" if job.input_error is not None else job.final_state
        return JobStatus(state, total, 0, 0, started, when, when, False)
    failed = len(job.failed)
    if job.backend == "gemini":
        state = "SUCCEEDED"
    elif failed and failed == total:
        state = "FAILED"
    else:
        state = "PARTIALLY_SUCCEEDED" if failed else "SUCCEEDED"
    return JobStatus(state, total, total - failed, failed, started, when, when, True)


def job_status(job: Job, now: float, cancel_seconds: float) -> JobStatus:
    """The state and counts of ``job`` at time ``now`` (see the module docstring)."""
    total = len(job.items)
    start = job.create_time + job.pending_seconds
    end = start + job.job_seconds
    progressing = job.final_state in ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "EXPIRED") and job.input_error is None
    if job.forced_end is not None:
        return _terminal(job, job.forced_end, start if job.forced_end >= start else None)
    if job.cancel_time is not None:
        cancelled_at = job.cancel_time
        succeeded, failed = _split(job, _done_at(job, cancelled_at, start) if progressing else 0)
        started = start if cancelled_at >= start else None
        if job.backend == "vertex":
            cancelled_at += cancel_seconds
            if now < cancelled_at:
                return JobStatus("CANCELLING", total, succeeded, failed, started, None, job.cancel_time, False)
        return JobStatus("CANCELLED", total, succeeded, failed, started, cancelled_at, cancelled_at, False)
    if job.final_state == "STUCK_PENDING" or now < start:
        return JobStatus("PENDING", total, 0, 0, None, None, job.create_time, False)
    if job.input_error is not None:
        return JobStatus("FAILED", total, 0, 0, None, start, start, False)
    if now < end:
        succeeded, failed = _split(job, _done_at(job, now, start) if progressing else 0)
        return JobStatus("RUNNING", total, succeeded, failed, start, None, start, False)
    return _terminal(job, end, start)


def job_error(job: Job, status: JobStatus) -> tuple[str, str] | None:
    """The ``(google status, message)`` of a job that ended badly, else ``None``."""
    if status.state == "CANCELLED":
        return "CANCELLED", job.error_message or "The batch job was cancelled."
    if status.state == "EXPIRED":
        return "DEADLINE_EXCEEDED", job.error_message or (
            "The batch job expired: it was pending or running for more than 48 hours."
        )
    if status.state != "FAILED":
        return None
    if job.input_error is not None:
        return "INVALID_ARGUMENT", job.input_error
    if status.produced:
        return "INVALID_ARGUMENT", f"All {status.total} requests failed; see the status of each output row."
    return "INTERNAL", job.error_message or "The batch job failed (emulator outcome FAILED)."


def refresh(store: Store, job: Job) -> JobStatus:
    """The current status of ``job``, writing its results the first time it is seen terminal."""
    with store.lock:
        status = job_status(job, store.now(), store.config.cancel_seconds)
        if status.terminal and not job.settled:
            job.settled = True
            store.unsettled.pop(id(job), None)
            if status.produced:
                job.output = materialize(store, job, status)
        return status


def settle_due(store: Store) -> None:
    """Write the results of every job that has ended (before reading GCS, BigQuery or files directly)."""
    with store.lock:
        for job in list(store.unsettled.values()):
            refresh(store, job)


def find_job(store: Store, name: str) -> Job | None:
    """A job by Gemini name (``batches/ID``), Vertex name (``.../batchPredictionJobs/ID``) or bare id."""
    with store.lock:
        if name.startswith("batches/"):
            return store.gemini_jobs.get(name.removeprefix("batches/"))
        if "batchPredictionJobs/" in name:
            return store.vertex_jobs.get(name.rsplit("/", 1)[-1])
        return store.gemini_jobs.get(name) or store.vertex_jobs.get(name)
