"""The worker's wait loop (sync mode): read, let ``policy.waiting.JobWatch`` decide, ``time.sleep``.

The trigger runs the same loop with ``await`` and ``asyncio.sleep``; every decision is the watch's.

Example::

    watch = WaitSettings(poll_interval=60).watch("batches/abc", started_at=now, deadline=now + 3600, log=log)
    decision, job = wait_for_job(hook, watch)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow_provider_genai_batch.operators.exceptions import GenAIBatchPollingError
from airflow_provider_genai_batch.policy.polling import Decision, DecisionKind

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from airflow_provider_genai_batch.policy.waiting import JobWatch

__all__ = ["polling_error", "wait_for_job"]


def polling_error(job_name: str, decision: Decision) -> GenAIBatchPollingError:
    """The task failure for a watch that gave up reading the job (``decision.poll_error``)."""
    return GenAIBatchPollingError(
        f"{job_name}: {decision.reason}. The job may still be running; a retry of the task reattaches to it."
    )


def wait_for_job(
    hook: GenAIBatchHook,
    watch: JobWatch,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> tuple[Decision, BatchJob]:
    """Poll until the watch says DONE or FAILED (a timeout is a FAILED with ``timed_out``).

    Raises ``GenAIBatchPollingError`` when reading the job kept failing.
    """
    while True:
        now = clock()
        try:
            result: BatchJob | BaseException = hook.get_job(watch.job_name)
        except Exception as exc:
            result = exc
        decision = watch.observe(result, now)
        if decision.kind is not DecisionKind.WAIT:
            if decision.poll_error or watch.job is None:
                raise polling_error(watch.job_name, decision) from (result if isinstance(result, Exception) else None)
            return decision, watch.job
        sleep(decision.wait_seconds)
