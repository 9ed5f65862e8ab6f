"""The worker's wait loop (sync mode): the same policy, error budget and progress lines as the trigger.

Example::

    decision, job = wait_for_job(hook, "batches/abc", started_at=time.time(), deadline=time.time() + 3600,
                                 schedule=PollingSchedule(), partial=PartialFailurePolicy(),
                                 budget=PollErrorBudget.for_schedule(schedule, 5), log=log)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.operators.exceptions import GenAIBatchPollingError
from airflow_provider_genai_batch.utils.polling import (
    Decision,
    DecisionKind,
    PartialFailurePolicy,
    PollingSchedule,
    decide_for_job,
)
from airflow_provider_genai_batch.utils.progress import PollErrorBudget, progress_line

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

__all__ = ["wait_for_job"]


def wait_for_job(
    hook: GenAIBatchHook,
    job_name: str,
    *,
    started_at: float,
    deadline: float,
    schedule: PollingSchedule,
    partial: PartialFailurePolicy,
    budget: PollErrorBudget,
    log: Any,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> tuple[Decision, BatchJob]:
    """Poll until the policy says DONE or FAILED (a timeout is a FAILED with ``timed_out``)."""
    from airflow_provider_genai_batch.client.errors import is_transient

    while True:
        now = clock()
        try:
            job = hook.get_job(job_name)
        except Exception as exc:
            transient = is_transient(exc)
            if not budget.record(transient=transient) or now >= deadline:
                kind = "transient" if transient else "permanent"
                raise GenAIBatchPollingError(
                    f"{job_name}: polling failed ({kind}, {budget.consecutive} in a row): {type(exc).__name__}: "
                    f"{exc}. The job may still be running; a retry of the task reattaches to it."
                ) from exc
            wait = budget.backoff_seconds(cap=max(deadline - now, schedule.floor))
            log.warning("%s: poll failed (%s), retrying in %.1f s: %s", job_name, type(exc).__name__, wait, exc)
            sleep(wait)
            continue
        budget.reset()
        log.info(progress_line(job.name, job.state, job.request_counts, elapsed_seconds=now - started_at))
        decision = decide_for_job(
            job, started_at=started_at, deadline=deadline, now=now, schedule=schedule, partial=partial
        )
        if decision.kind is not DecisionKind.WAIT:
            return decision, job
        sleep(decision.wait_seconds)
