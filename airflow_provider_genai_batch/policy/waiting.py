"""The one wait loop's decisions: after each read of the job (or failed read), what to do next.

The worker (``operators._waiting``), the trigger (``triggers.genai_batch``) and the sensor's pokes each only read
the job, hand the result to :meth:`JobWatch.observe` and sleep the returned ``wait_seconds``: the policy
(``policy.polling.decide``), the poll-error budget and back-off (``policy.progress.PollErrorBudget``) and the progress
line live here once. The worker sleeps with ``time.sleep``, the trigger with ``asyncio.sleep``; that is the whole
difference.

Example::

    watch = WaitSettings(poll_interval=60).watch("batches/abc", started_at=now, deadline=now + 3600, log=log)
    while True:
        now = time.time()
        try:
            result = hook.get_job("batches/abc")
        except Exception as exc:
            result = exc
        decision = watch.observe(result, now)
        if decision.kind is not DecisionKind.WAIT:
            break
        time.sleep(decision.wait_seconds)
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.policy.polling import (
    Decision,
    DecisionKind,
    PartialFailurePolicy,
    PollingSchedule,
    decide_for_job,
)
from airflow_provider_genai_batch.policy.progress import PollErrorBudget, progress_line

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.policy.completion import StuckWatch

__all__ = ["JobWatch"]


def _epoch(when: dt.datetime) -> float:
    """Epoch seconds of a server time (naive means UTC)."""
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


class JobWatch:
    """The state of one wait: when it started, its deadline, its policies, the error budget and the last job read.

    ``deadline`` ``None`` means no deadline (the sensor: Airflow enforces its ``timeout``). ``stuck`` (a
    completion policy's ``StuckWatch``): a job still waiting that made no progress for too long gives a FAILED
    decision with ``stuck=True`` (a terminal state and the deadline win over it).
    """

    __slots__ = ("_budget", "deadline", "job", "job_name", "log", "partial", "schedule", "started_at", "stuck")

    def __init__(
        self,
        job_name: str,
        *,
        started_at: float,
        deadline: float | None,
        schedule: PollingSchedule,
        partial: PartialFailurePolicy,
        max_consecutive_poll_errors: int,
        log: Any,
        stuck: StuckWatch | None = None,
    ) -> None:
        self.job_name = job_name
        self.started_at = started_at
        self.deadline = deadline
        self.schedule = schedule
        self.partial = partial
        self.log = log
        self.stuck = stuck
        self.job: BatchJob | None = None
        self._budget = PollErrorBudget.for_schedule(schedule, max_consecutive_poll_errors)

    def observe(self, result: BatchJob | BaseException, now: float) -> Decision:
        """What to do after a read made at ``now`` (epoch seconds) that gave a job or raised ``result``."""
        if isinstance(result, BaseException):
            return self._after_error(result, now)
        self._budget.reset()
        self.job = result
        self.log.info(
            progress_line(result.name, result.state, result.request_counts, elapsed_seconds=now - self.started_at)
        )
        decision = decide_for_job(
            result,
            started_at=self.started_at,
            deadline=self.deadline,
            now=now,
            schedule=self.schedule,
            partial=self.partial,
        )
        if decision.kind is DecisionKind.WAIT and self.stuck is not None:
            counts = result.request_counts
            created = result.create_time
            reason = self.stuck.observe(
                result.state.value,
                (counts.total, counts.succeeded, counts.failed, counts.pending),
                now,
                pending_since=None if created is None else _epoch(created),
            )
            if reason is not None:
                return Decision(DecisionKind.FAILED, reason=f"the job is stuck: {reason}", stuck=True)
        return decision

    def _after_error(self, exc: BaseException, now: float) -> Decision:
        from airflow_provider_genai_batch.client.errors import is_transient

        transient = is_transient(exc)
        past_deadline = self.deadline is not None and now >= self.deadline
        if not self._budget.record(transient=transient) or past_deadline:
            kind = "transient" if transient else "permanent"
            reason = f"polling failed ({kind}, {self._budget.consecutive} in a row): {type(exc).__name__}: {exc}"
            return Decision(DecisionKind.FAILED, reason=reason, poll_error=True)
        to_deadline = None if self.deadline is None else max(self.deadline - now, self.schedule.floor)
        wait = self._budget.backoff_seconds(cap=to_deadline)
        self.log.warning(
            "%s: poll failed (%s, %d in a row), retrying in %.1f s: %s",
            self.job_name,
            type(exc).__name__,
            self._budget.consecutive,
            wait,
            exc,
        )
        return Decision(DecisionKind.WAIT, wait_seconds=wait, reason=f"poll failed; next poll in {wait:.1f} s")
