"""Wait for an existing batch job, by name, in the worker or deferred to the triggerer."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_genai_batch.compat import conf
from airflow_provider_genai_batch.links.genai_batch import (
    JOB_NAME_XCOM_KEY,
    JOB_URL_XCOM_KEY,
    GenAIBatchJobLink,
    mark_job_pushed,
)
from airflow_provider_genai_batch.operators.jobs import job_name_from
from airflow_provider_genai_batch.policy.defaults import DEFAULT_CONN_ID
from airflow_provider_genai_batch.policy.wait_settings import DEFAULT_WAIT, WaitSettings, check_flag

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from airflow_provider_genai_batch.policy.waiting import JobWatch

__all__ = ["GenAIBatchJobSensor"]


class GenAIBatchJobSensor(BaseSensorOperator):
    """Wait until a batch job ends; succeed with its manifest, fail when it failed, expired or was cancelled.

    :param name: the job name, or a create operator's manifest (templated).
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable`` (False unless set),
        read when the DAG file is parsed. A deferred sensor needs a running triggerer (``airflow triggerer``):
        without one it stays *deferred* and never ends (nothing fails); once a triggerer runs, it resumes.
    :param poll_interval: the longest wait between two polls, seconds, in every mode (waits grow from
        ``min_poll_interval`` with the elapsed time, as in the create operators; ``poke_interval`` is not used).
    :param min_poll_interval: the first (shortest) wait between two polls, seconds.
    :param max_failure_ratio: failed/total requests tolerated in a finished job.
    :param max_consecutive_poll_errors: transient poll errors (429, 5xx, connection) in a row before the task
        fails, in every mode (a permanent error, 404 or 403, fails at once). In ``mode="reschedule"`` the count
        starts again at each reschedule.
    :param cancel_on_kill: deferrable mode on Airflow 3.3+: cancel the job when the task is killed.
    :param webhook_armed: deferrable mode: the job was created with a webhook config naming this deployment's
        receiver (or a static webhook of its project delivers there), and the connection has ``webhook_url``:
        a verified delivery wakes the wait within seconds and polling is only the fallback, every
        ``webhook_fallback_interval`` (docs/WEBHOOKS.md). Default False: the adaptive schedule, woken early by any
        delivery all the same.
    :param webhook_fallback_interval: with ``webhook_armed``, the shortest wait between two polls, seconds.

    ``timeout``, ``mode`` and ``soft_fail`` are the usual sensor arguments. Returns the manifest (XCom). The
    job's state is mapped by the same policy as the create operators. A FAILED, CANCELLED or EXPIRED job (or one
    with more failed requests than ``max_failure_ratio``) fails the task for good (``GenAIBatchJobEndedError``,
    an ``AirflowFailException``): retries would re-read the same job.

    Example::

        GenAIBatchJobSensor(task_id="wait", name="{{ ti.xcom_pull('submit')['job_name'] }}", deferrable=True)
    """

    template_fields: Sequence[str] = ("name", "genai_batch_conn_id")
    operator_extra_links = (GenAIBatchJobLink(),)

    def __init__(
        self,
        *,
        name: Any,
        genai_batch_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_WAIT.poll_interval,
        min_poll_interval: float = DEFAULT_WAIT.min_poll_interval,
        max_failure_ratio: float = DEFAULT_WAIT.max_failure_ratio,
        max_consecutive_poll_errors: int = DEFAULT_WAIT.max_consecutive_poll_errors,
        cancel_on_kill: bool = DEFAULT_WAIT.cancel_on_kill,
        webhook_armed: bool = False,
        webhook_fallback_interval: float = DEFAULT_WAIT.webhook_fallback_interval,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.genai_batch_conn_id = genai_batch_conn_id
        self.deferrable = deferrable
        self.wait = WaitSettings.from_kwargs(locals())  # the wait parameters above, checked once
        self.webhook_armed = check_flag("webhook_armed", webhook_armed)
        self._job_watch: JobWatch | None = None
        self._next_wait: float | None = None
        mark_job_pushed(self, False)  # no console link (and no XCom read for one) until the job's URL is pushed

    @cached_property
    def hook(self) -> GenAIBatchHook:
        """The hook of ``genai_batch_conn_id``."""
        from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

        return GenAIBatchHook(genai_batch_conn_id=self.genai_batch_conn_id)

    def _push_link(self, context: Context, job_name: str) -> None:
        ti = context["ti"]
        ti.xcom_push(key=JOB_NAME_XCOM_KEY, value=job_name)
        ti.xcom_push(key=JOB_URL_XCOM_KEY, value=self.hook.console_url(job_name))
        mark_job_pushed(self)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after a deferral: the job's URL was pushed before deferring, so the link reads it."""
        mark_job_pushed(self)
        return super().resume_execution(next_method, next_kwargs, context)

    def poke(self, context: Context) -> PokeReturnValue:
        """One read of the job, decided by the same ``JobWatch`` as the worker loop and the trigger."""
        from airflow_provider_genai_batch.client.errors import InvalidInputError
        from airflow_provider_genai_batch.operators._outcome import conclude
        from airflow_provider_genai_batch.operators._waiting import polling_error

        name = job_name_from(self.name)
        now = time.time()
        if self._job_watch is None:
            self._job_watch = self.wait.watch(name, started_at=now, deadline=None, log=self.log)  # Airflow: timeout
            self._push_link(context, name)
        try:
            result: BatchJob | BaseException = self.hook.get_job(name)
        except InvalidInputError:
            raise  # a bad name: refused before any call, nothing to retry
        except Exception as exc:
            result = exc
        from airflow_provider_genai_batch.policy.polling import DecisionKind

        decision = self._job_watch.observe(result, now)
        self._next_wait = decision.wait_seconds
        if decision.kind is DecisionKind.WAIT:
            return PokeReturnValue(is_done=False)
        if decision.poll_error or self._job_watch.job is None:
            raise polling_error(name, decision) from (result if isinstance(result, Exception) else None)
        with _dead_job_fails_for_good():
            manifest = conclude(
                self.hook, decision, self._job_watch.job, reattached=False, cancel_on_timeout=False, log=self.log
            )
        return PokeReturnValue(is_done=True, xcom_value=manifest)

    def _get_next_poke_interval(self, started_at: Any, run_duration: Callable[[], float], poke_count: int) -> float:
        """Poke and reschedule modes wait as the trigger does: the watch's last wait, else the adaptive schedule.

        Overrides ``BaseSensorOperator``'s hook for the wait between pokes (``poke_interval`` and
        ``exponential_backoff`` are not used); never past the sensor's ``timeout``.
        """
        elapsed = run_duration()
        wait = self._next_wait if self._next_wait is not None else self.wait.schedule.interval(elapsed)
        return max(min(wait, float(self.timeout) - elapsed), 0.0)

    def execute(self, context: Context) -> Any:
        """Poke in the worker, or check once and defer to the trigger."""
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)  # a tolerated poll error defers anyway: the trigger polls on, same budget
        if first.is_done:
            return first.xcom_value
        from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger

        started_at = self._job_watch.started_at if self._job_watch is not None else time.time()
        timeout = float(self.timeout)
        self.defer(
            trigger=GenAIBatchJobTrigger(
                genai_batch_conn_id=self.genai_batch_conn_id,
                job_name=job_name_from(self.name),
                deadline=started_at + timeout,
                started_at=started_at,
                webhook_armed=self.webhook_armed,
                **self.wait.to_kwargs(),
            ),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=self.wait.defer_timeout(timeout)),
        )
        return None  # pragma: no cover - defer raises

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after the trigger: the manifest, or a failure naming the job's error."""
        from airflow_provider_genai_batch.operators._outcome import resume_from_event

        with _dead_job_fails_for_good():
            return resume_from_event(
                self.hook, event, reattached=False, partial=self.wait.partial, cancel_on_timeout=False, log=self.log
            )


@contextmanager
def _dead_job_fails_for_good() -> Iterator[None]:
    """A FAILED / CANCELLED / EXPIRED job (or too many failed requests) fails the sensor without Airflow retries:
    a retry would only re-read the same dead job."""
    from airflow_provider_genai_batch.operators.exceptions import GenAIBatchJobEndedError, GenAIBatchJobFailedError

    try:
        yield
    except GenAIBatchJobFailedError as exc:
        if isinstance(exc, GenAIBatchJobEndedError):
            raise
        raise GenAIBatchJobEndedError(str(exc)) from exc
