"""The trigger: a read-only poller of one batch job, safe to re-run from the start on any triggerer.

It never creates anything remote. Its kwargs are a connection id, a job name, a wall-clock deadline and the wait
settings (``policy.wait_settings.WaitSettings``): never a secret. Every decision after a read is
``policy.waiting.JobWatch``'s, as in the worker: transient errors (429, 5xx, connection) are retried with back-off,
and the trigger gives up only on a permanent error or after
``max_consecutive_poll_errors`` failures in a row. It yields exactly one terminal event (``policy.events``).
With a webhook receiver armed for the job (``webhook_armed`` and the connection's ``webhook_url``), a verified
delivery wakes it within seconds and polling is the fallback, every ``webhook_fallback_interval``; the deadline
still wakes it on time.

Example::

    GenAIBatchJobTrigger(genai_batch_conn_id="genai_batch_default", job_name="batches/abc",
                         deadline=time.time() + 3600)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_genai_batch.compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_genai_batch.policy.events import JobEvent, event_for_decision
from airflow_provider_genai_batch.policy.idempotency import key_from_display_name, key_from_labels
from airflow_provider_genai_batch.policy.polling import Decision, DecisionKind
from airflow_provider_genai_batch.policy.wait_settings import DEFAULT_WAIT, WaitSettings, check_flag

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from airflow_provider_genai_batch.policy.completion import StuckWatch
    from airflow_provider_genai_batch.webhooks.wakeup import NudgeWaiter

__all__ = ["GenAIBatchJobTrigger"]

CLASS_PATH = "airflow_provider_genai_batch.triggers.genai_batch.GenAIBatchJobTrigger"
# The longest the on_kill check and cancel may take, seconds (they continue even when on_kill is cancelled).
ON_KILL_BUDGET = 120.0
# on_kill work in flight in this process: kept referenced until done.
_ON_KILL_WORK: set[asyncio.Future[None]] = set()
# Task states in which the trigger is still the one watching the job: on_kill must not cancel then.
_STILL_WATCHED = frozenset({"deferred"})


def _optional_seconds(name: str, value: Any) -> float | None:
    """None, or a number of seconds > 0 (checked at construction, so a bad value fails before deferral)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name} must be a number of seconds > 0 or None, got {value!r}")
    return float(value)


class GenAIBatchJobTrigger(BaseTrigger):
    """Poll a batch job until it ends or the deadline passes; yield one event.

    :param genai_batch_conn_id: the connection to read the job with.
    :param job_name: ``batches/...`` or ``projects/.../batchPredictionJobs/...``.
    :param deadline: wall-clock deadline, epoch seconds: a job still unfinished then gives a ``timeout`` event.
    :param started_at: epoch seconds when waiting started (drives the adaptive interval); default now.
    :param poll_interval: the longest wait between two polls, seconds.
    :param min_poll_interval: the first (shortest) wait, seconds.
    :param max_failure_ratio: failed/total requests tolerated in a finished job (0: any failure fails).
    :param max_consecutive_poll_errors: transient poll errors in a row before giving up.
    :param cancel_on_kill: cancel the job when a user ends the deferred task (Airflow 3.3+), after checking
        that the task really ended.
    :param webhook_fallback_interval: with the receiver armed, the shortest wait between two polls, seconds.
    :param webhook_armed: the job was created with a webhook config naming this deployment's receiver (the create
        operators set it). With the connection's ``webhook_url`` too, polling is only the fallback.
    :param stuck_after: a completion policy's threshold: no change of state or counts for this many seconds
        gives a ``stuck`` event (the job keeps running; the worker decides). None (default): never.
    :param pending_after: the same for a job still PENDING (or QUEUED) this many seconds after its creation.

    Example::

        trigger = GenAIBatchJobTrigger(genai_batch_conn_id="c", job_name="batches/abc", deadline=time.time() + 60)
        async for event in trigger.run(): ...
    """

    def __init__(
        self,
        *,
        genai_batch_conn_id: str,
        job_name: str,
        deadline: float,
        started_at: float | None = None,
        poll_interval: float = DEFAULT_WAIT.poll_interval,
        min_poll_interval: float = DEFAULT_WAIT.min_poll_interval,
        max_failure_ratio: float = DEFAULT_WAIT.max_failure_ratio,
        max_consecutive_poll_errors: int = DEFAULT_WAIT.max_consecutive_poll_errors,
        cancel_on_kill: bool = DEFAULT_WAIT.cancel_on_kill,
        webhook_fallback_interval: float = DEFAULT_WAIT.webhook_fallback_interval,
        webhook_armed: bool = False,
        stuck_after: float | None = None,
        pending_after: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.genai_batch_conn_id = genai_batch_conn_id
        self.job_name = job_name
        self.deadline = float(deadline)
        self.started_at = float(started_at) if started_at is not None else time.time()
        # Checked now, so a bad value fails the operator before deferral rather than in the triggerer.
        self.wait = WaitSettings.from_kwargs(locals())  # the wait parameters above, checked once
        self.webhook_armed = check_flag("webhook_armed", webhook_armed)
        self.stuck_after = _optional_seconds("stuck_after", stuck_after)
        self.pending_after = _optional_seconds("pending_after", pending_after)
        # This process's clock at creation: the connection read may be shared with the triggers created with this
        # one (a read that started after now), never older than the connection at this trigger's creation.
        self._created = time.monotonic()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Exactly the constructor's kwargs: a connection id, a job name, times and the wait settings (plain JSON;
        ``webhook_armed`` and the stuck thresholds only when set, so a trigger serialized before they existed
        rebuilds the same)."""
        kwargs: dict[str, Any] = {
            "genai_batch_conn_id": self.genai_batch_conn_id,
            "job_name": self.job_name,
            "deadline": self.deadline,
            "started_at": self.started_at,
            **self.wait.to_kwargs(),
        }
        if self.webhook_armed:
            kwargs["webhook_armed"] = True
        for name in ("stuck_after", "pending_after"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        return CLASS_PATH, kwargs

    def _hook(self, read_since: float | None = None) -> GenAIBatchHook:
        from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

        return GenAIBatchHook(genai_batch_conn_id=self.genai_batch_conn_id, read_since=read_since)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the job ends or the deadline passes, then yield one event (the worker's loop, awaited)."""
        hook = self._hook(read_since=self._created)
        waiter = await self._webhook_waiter(hook)
        armed = waiter is not None and self.webhook_armed
        if armed:
            self.log.info(
                "%s: webhook receiver armed: polling only as the fallback, every %.0f s or at the deadline",
                self.job_name,
                self.wait.webhook_fallback_interval,
            )
        watch = self.wait.watch(
            self.job_name,
            started_at=self.started_at,
            deadline=self.deadline,
            log=self.log,
            stuck=self._stuck_watch(),
            webhook_armed=armed,
        )
        while True:
            now = time.time()
            try:
                result: BatchJob | BaseException = await hook.aget_job(self.job_name)
            except Exception as exc:
                result = exc
            decision = watch.observe(result, now)
            if decision.kind is DecisionKind.WAIT:
                if waiter is None:
                    await asyncio.sleep(decision.wait_seconds)
                elif await waiter.sleep(decision.wait_seconds, since=now):
                    self.log.info("%s: a webhook delivery says it may have ended: reading it now", self.job_name)
                continue
            yield TriggerEvent(self._event(decision, watch.job, hook).to_payload())  # type: ignore[no-untyped-call]
            return

    def _stuck_watch(self) -> StuckWatch | None:
        if self.stuck_after is None and self.pending_after is None:
            return None
        from airflow_provider_genai_batch.policy.completion import StuckWatch

        return StuckWatch(stuck_after=self.stuck_after, pending_after=self.pending_after)

    async def _webhook_waiter(self, hook: GenAIBatchHook) -> NudgeWaiter | None:
        """A waiter that also wakes on verified webhook deliveries, when the connection names a receiver (a
        connection that cannot be read gives none: the first read of the job then reports the error)."""
        try:
            settings = await hook.aget_settings()
        except Exception:
            return None
        if settings.webhook_url is None:
            return None
        from airflow_provider_genai_batch.webhooks.wakeup import NudgeWaiter

        return NudgeWaiter(self.job_name)

    def _event(self, decision: Decision, job: BatchJob | None, hook: GenAIBatchHook) -> JobEvent:
        if decision.poll_error or job is None:
            self.log.error("%s: %s", self.job_name, decision.reason)
            return JobEvent(status="error", job_name=self.job_name, reason=decision.reason)
        event = event_for_decision(
            decision, job_name=job.name, state=job.state.value, manifest=self._manifest(job, hook)
        )
        self.log.info("%s: %s (%s)", self.job_name, event.status, event.reason)
        return event

    @staticmethod
    def _manifest(job: BatchJob, hook: GenAIBatchHook) -> dict[str, Any]:
        from airflow_provider_genai_batch.policy.manifest import manifest_from_job  # client models: not at parse

        settings = hook.get_cached_settings()
        backend = job.backend or (settings.backend if settings is not None else "gemini")
        manifest = manifest_from_job(
            job,
            backend=backend,
            console_url=hook.console_url(job.name) if settings is not None else None,
            idempotency_key=key_from_labels(job.labels) or key_from_display_name(job.display_name),
        )
        return manifest.to_xcom()

    async def on_kill(self) -> None:
        """Cancel the job when a user ended the deferred task (Airflow 3.3+), once the task is confirmed ended.

        A stale copy of this trigger on a frozen triggerer can be killed while the task is still deferred and
        watched elsewhere: then the task state is still ``deferred`` and nothing is cancelled.

        The check and the cancel run as their own task, shielded: Airflow 3.3's triggerer cancels the trigger
        again on every sync (about once a second) while ``on_kill`` runs, and reading the task state alone can
        take seconds. A cancelled ``on_kill`` therefore still cancels the job, within ``ON_KILL_BUDGET``.
        """
        if not self.wait.cancel_on_kill or not AIRFLOW_V_3_3_PLUS:
            return
        work = asyncio.ensure_future(asyncio.wait_for(self._cancel_if_task_ended(), timeout=ON_KILL_BUDGET))
        _ON_KILL_WORK.add(work)  # a strong reference: the work outlives a cancelled on_kill
        work.add_done_callback(_ON_KILL_WORK.discard)
        await asyncio.shield(work)

    async def _cancel_if_task_ended(self) -> None:
        state = await self._task_state()
        if state is None or state in _STILL_WATCHED:
            self.log.info("on_kill: not cancelling %s: the task is %s", self.job_name, state or "of unknown state")
            return
        try:
            await self._hook().acancel_job(self.job_name)
            self.log.info("on_kill: cancelled %s (the task is %s)", self.job_name, state)
        except Exception as exc:
            self.log.warning("on_kill: could not cancel %s: %s: %s", self.job_name, type(exc).__name__, exc)

    async def _task_state(self) -> str | None:
        """The current state of this trigger's task instance, or None when it cannot be read."""
        ti = self.task_instance
        if ti is None:
            return None
        try:
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
            from asgiref.sync import sync_to_async

            map_index = getattr(ti, "map_index", -1)
            map_index = -1 if map_index is None else map_index
            states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=map_index
            )
        except Exception as exc:
            self.log.warning("on_kill: cannot read the task state: %s: %s", type(exc).__name__, exc)
            return None
        key = ti.task_id if map_index < 0 else f"{ti.task_id}_{map_index}"
        state = (states.get(ti.run_id) or {}).get(key)
        return str(getattr(state, "value", state)) if state is not None else None
