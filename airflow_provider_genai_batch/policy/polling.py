"""The one polling policy: from a job's state and the time spent waiting to "done", "failed" or "wait N s".

The worker's wait loop, the trigger and the sensor all call :func:`decide`, so the sync and deferrable modes
cannot disagree. It is a pure function: no clock, no I/O.

Intervals grow with the time already spent waiting: the next wait is ``growth`` (5 %) of the elapsed time,
never less than ``min_interval`` (``min_poll_interval``, 5 s by default) and never more than ``max_interval`` (the
operators' ``poll_interval``, 600 s by default; the defaults are ``policy.defaults``'s, the settings
``policy.wait_settings.WaitSettings``). Waiting in proportion to the elapsed time is a geometric back-off (each
wait is 1.05 times the previous one) that needs no counter, so a trigger re-created on another triggerer resumes
at the same pace. With the defaults a 24 h job costs fewer than 250 polls and completion is seen within
max(60 s, 5 % of the elapsed time). With a webhook receiver armed for the job, ``at_least`` (the
``webhook_fallback_interval``) makes polling the fallback: each wait is at least that long, unless the deadline
is nearer.

Example::

    decision = decide("JOB_STATE_RUNNING", elapsed_seconds=120.0, deadline_reached=False)
    decision.kind is DecisionKind.WAIT and decision.wait_seconds == 6.0
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from airflow_provider_genai_batch.policy.defaults import (
    DEFAULT_MAX_FAILURE_RATIO,
    DEFAULT_MIN_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
)

__all__ = [
    "DEFAULT_SCHEDULE",
    "Decision",
    "DecisionKind",
    "PartialFailurePolicy",
    "PollingSchedule",
    "RequestCountsLike",
    "decide",
    "decide_for_job",
    "failure_ratio",
]

# Keyed by ``JobState`` value (a ``JobState`` is its value: the client is not imported at DAG parse).
_FAILED_HINTS = {
    "JOB_STATE_FAILED": "the job failed",
    "JOB_STATE_CANCELLED": "the job was cancelled",
    "JOB_STATE_EXPIRED": "the job expired before it finished (batch jobs expire after about 48 hours in the queue)",
}


class RequestCountsLike(Protocol):
    """What the policy reads from a job's request counts (the client's ``RequestCounts`` fits)."""

    @property
    def total(self) -> int | None: ...

    @property
    def succeeded(self) -> int: ...

    @property
    def failed(self) -> int: ...


class JobErrorLike(Protocol):
    """A job's error (the client's ``JobError`` fits)."""

    def describe(self) -> str: ...


class JobLike(Protocol):
    """What the policy reads from a job (the client's ``BatchJob`` fits)."""

    @property
    def state(self) -> object: ...

    @property
    def request_counts(self) -> RequestCountsLike: ...

    @property
    def error(self) -> JobErrorLike | None: ...


class DecisionKind(StrEnum):
    """What the caller does next."""

    DONE = "done"
    FAILED = "failed"
    WAIT = "wait"


@dataclass(frozen=True)
class Decision:
    """The policy's answer: ``kind``, how long to wait before the next poll, and why.

    ``timed_out`` is true when the job was still unfinished at the deadline (``kind`` is then FAILED);
    ``poll_error`` is true when reading the job kept failing (``kind`` is then FAILED, the job may still run);
    ``stuck`` is true when the job made no progress for too long (``kind`` is then FAILED, the job still runs).
    """

    kind: DecisionKind
    wait_seconds: float = 0.0
    reason: str = ""
    timed_out: bool = False
    poll_error: bool = False
    stuck: bool = False


@dataclass(frozen=True)
class PollingSchedule:
    """How long to wait between polls: ``growth`` of the elapsed time, clamped to the interval bounds.

    ``max_interval`` is the cap (the operators' ``poll_interval``). A cap below ``min_interval`` lowers the
    floor too, so ``PollingSchedule(max_interval=0.2)`` polls every 0.2 s (handy against the emulator).
    ``at_least`` (0: none) lengthens every wait to at least that many seconds: polling as the fallback of an armed
    webhook receiver. It moves neither the floor nor the cap, so the error back-off and the deadline's shortening
    of a wait (:func:`decide`) are the adaptive schedule's.

    Example::

        PollingSchedule(max_interval=60).interval(elapsed_seconds=3600)   # 60.0
        PollingSchedule(at_least=1800).interval(elapsed_seconds=10)      # 1800.0
    """

    min_interval: float = DEFAULT_MIN_POLL_INTERVAL
    max_interval: float = DEFAULT_POLL_INTERVAL
    growth: float = 0.05
    at_least: float = 0.0

    def __post_init__(self) -> None:
        if not self.max_interval > 0:
            raise ValueError(f"poll_interval must be > 0, got {self.max_interval!r}; give seconds such as 60")
        if not self.min_interval > 0:
            raise ValueError(f"min_interval must be > 0, got {self.min_interval!r}")
        if not 0 <= self.growth <= 1:
            raise ValueError(f"growth must be within [0, 1], got {self.growth!r}")
        if not self.at_least >= 0:
            raise ValueError(f"webhook_fallback_interval must be >= 0, got {self.at_least!r}")

    @property
    def floor(self) -> float:
        """The shortest wait."""
        return min(self.min_interval, self.max_interval)

    def interval(self, elapsed_seconds: float) -> float:
        """Seconds to wait after a poll made ``elapsed_seconds`` after the wait started."""
        adaptive = min(self.max_interval, max(self.floor, self.growth * max(elapsed_seconds, 0.0)))
        return max(adaptive, self.at_least)


DEFAULT_SCHEDULE = PollingSchedule()


@dataclass(frozen=True)
class PartialFailurePolicy:
    """How many failed requests a finished job may have and still count as done.

    The failure ratio is ``failed / total``. ``max_failure_ratio=0`` (the default) fails the task on any
    failed request, PARTIALLY_SUCCEEDED included; ``1.0`` accepts any finished job. It applies to SUCCEEDED
    jobs too, since Gemini reports SUCCEEDED with a ``failedRequestCount``.

    Example::

        PartialFailurePolicy(max_failure_ratio=0.01)   # tolerate up to 1 % failed requests
    """

    max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO

    def __post_init__(self) -> None:
        ratio = self.max_failure_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
            raise ValueError(
                f"max_failure_ratio must be a number within [0, 1], got {ratio!r}; "
                "use 0 to fail on any failed request or e.g. 0.05 to tolerate 5 %"
            )

    def check(self, state: str, counts: RequestCountsLike | None) -> str | None:
        """``None`` when a job that ended in ``state`` (a ``JobState``: SUCCEEDED or PARTIALLY_SUCCEEDED) passes,
        else why not."""
        ratio = failure_ratio(counts)
        if ratio is None:
            if state == "JOB_STATE_PARTIALLY_SUCCEEDED" and self.max_failure_ratio < 1:
                return (
                    "the job PARTIALLY_SUCCEEDED and its request counts are unknown; "
                    "set max_failure_ratio=1.0 to accept partial results"
                )
            return None
        if ratio <= self.max_failure_ratio or counts is None:
            return None
        return (
            f"{counts.failed} of {_total(counts)} requests failed ({ratio:.1%}), above max_failure_ratio="
            f"{self.max_failure_ratio}; raise max_failure_ratio to accept partial results"
        )


_NO_PARTIAL_FAILURES = PartialFailurePolicy()


def _total(counts: RequestCountsLike) -> int:
    if counts.total:
        return max(counts.total, counts.succeeded + counts.failed)
    return counts.succeeded + counts.failed


def failure_ratio(counts: RequestCountsLike | None) -> float | None:
    """``failed / total``, or ``None`` when nothing is known."""
    if counts is None:
        return None
    total = _total(counts)
    if total <= 0:
        return None
    return counts.failed / total


def decide(
    state: object,
    elapsed_seconds: float,
    deadline_reached: bool,
    *,
    counts: RequestCountsLike | None = None,
    job_error: str | None = None,
    schedule: PollingSchedule = DEFAULT_SCHEDULE,
    partial: PartialFailurePolicy | None = None,
    seconds_to_deadline: float | None = None,
) -> Decision:
    """Decide what to do after reading a job in ``state``, ``elapsed_seconds`` after the wait started.

    ``state`` is a ``JobState`` or its wire text (``JOB_STATE_X``/``BATCH_STATE_X``). A terminal state wins over
    the deadline. An unknown or UNSPECIFIED state never becomes success: it waits while under the deadline.
    ``seconds_to_deadline`` shortens the wait (never below the schedule's floor) so the deadline is not overslept.

    Example::

        decide("JOB_STATE_EXPIRED", 100.0, False).reason   # 'job ended in EXPIRED: the job expired ...'
    """
    from airflow_provider_genai_batch.client.models import JobState  # lazy: DAG parsing imports no client code

    job_state = JobState.coerce(state)
    name = job_state.short  # for the reason text only
    if job_state.is_success:
        problem = (partial or _NO_PARTIAL_FAILURES).check(job_state, counts)
        if problem is None:
            return Decision(DecisionKind.DONE, reason=f"job ended in {name}")
        return Decision(DecisionKind.FAILED, reason=f"job ended in {name}, but {problem}")
    if job_state.is_failure:
        detail = job_error or _FAILED_HINTS[job_state]
        return Decision(DecisionKind.FAILED, reason=f"job ended in {name}: {detail}")
    if deadline_reached:
        return Decision(
            DecisionKind.FAILED,
            reason=f"timeout: the job was still {name} after {elapsed_seconds:.0f} s, at the deadline",
            timed_out=True,
        )
    wait = schedule.interval(elapsed_seconds)
    if seconds_to_deadline is not None:
        wait = max(min(wait, seconds_to_deadline), schedule.floor)
    return Decision(DecisionKind.WAIT, wait_seconds=wait, reason=f"job is {name}; next poll in {wait:.1f} s")


def decide_for_job(
    job: JobLike,
    *,
    started_at: float,
    deadline: float | None,
    now: float,
    schedule: PollingSchedule = DEFAULT_SCHEDULE,
    partial: PartialFailurePolicy | None = None,
) -> Decision:
    """:func:`decide` for a job read at ``now`` (epoch seconds), waiting since ``started_at``, until ``deadline``.

    The one call shared by the worker loop, the trigger and the operators' resume path.
    """
    return decide(
        job.state,
        now - started_at,
        deadline is not None and now >= deadline,
        counts=job.request_counts,
        job_error=job.error.describe() if job.error is not None else None,
        schedule=schedule,
        partial=partial,
        seconds_to_deadline=None if deadline is None else deadline - now,
    )
