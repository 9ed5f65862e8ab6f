"""What the worker loop and the trigger share besides the policy: progress lines and the poll-error budget.

Example::

    progress_line("batches/abc", "JOB_STATE_RUNNING", counts, elapsed_seconds=75)
    # 'batches/abc: RUNNING, 30/100 requests done (30.0%), 2 failed, elapsed 75 s'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_genai_batch.policy.defaults import DEFAULT_MAX_CONSECUTIVE_POLL_ERRORS, DEFAULT_MIN_POLL_INTERVAL
from airflow_provider_genai_batch.policy.polling import PollingSchedule, RequestCountsLike

__all__ = ["PollErrorBudget", "progress_line"]


def progress_line(job_name: str, state: object, counts: RequestCountsLike | None, *, elapsed_seconds: float) -> str:
    """One log line: state, done/failed/total requests, percentage and elapsed time."""
    from airflow_provider_genai_batch.client.models import JobState  # lazy: DAG parsing imports no client code

    parts = [f"{job_name}: {JobState.coerce(state).short}"]
    if counts is not None and (counts.total or counts.succeeded or counts.failed):
        done = counts.succeeded + counts.failed
        if counts.total:
            parts.append(f"{done}/{counts.total} requests done ({100.0 * done / counts.total:.1f}%)")
        else:
            parts.append(f"{done} requests done")
        parts.append(f"{counts.failed} failed")
    parts.append(f"elapsed {elapsed_seconds:.0f} s")
    return ", ".join(parts)


@dataclass
class PollErrorBudget:
    """How many poll errors in a row are tolerated before giving up, and how long to back off.

    Transient errors (429, 5xx, connection; each already retried by the client) are retried with exponential
    back-off up to ``max_consecutive`` in a row; a permanent error (401, 403, 404, ...) gives up at once.

    Example::

        budget = PollErrorBudget(max_consecutive=5)
        budget.record(transient=True)   # True: try again after budget.backoff_seconds()
    """

    max_consecutive: int = DEFAULT_MAX_CONSECUTIVE_POLL_ERRORS
    base_backoff: float = DEFAULT_MIN_POLL_INTERVAL  # for_schedule: the schedule's floor
    max_backoff: float = 120.0
    consecutive: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.max_consecutive < 1:
            raise ValueError(f"max_consecutive_poll_errors must be >= 1, got {self.max_consecutive}")

    @classmethod
    def for_schedule(cls, schedule: PollingSchedule, max_consecutive: int) -> PollErrorBudget:
        """Back-off from the schedule's shortest wait, doubling up to its longest (the client retries first)."""
        return cls(max_consecutive=max_consecutive, base_backoff=schedule.floor, max_backoff=schedule.max_interval)

    def record(self, *, transient: bool) -> bool:
        """Count one failed poll; return whether polling may go on."""
        self.consecutive += 1
        return transient and self.consecutive < self.max_consecutive

    def reset(self) -> None:
        """A poll succeeded."""
        self.consecutive = 0

    def backoff_seconds(self, cap: float | None = None) -> float:
        """The wait before the next poll after ``consecutive`` failures (doubling, capped)."""
        wait = min(self.max_backoff, self.base_backoff * 2.0 ** max(self.consecutive - 1, 0))
        return min(wait, cap) if cap is not None else wait
