"""Wait for an existing batch job, by name, in the worker or deferred to the triggerer."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_genai_batch.links.genai_batch import JOB_NAME_XCOM_KEY, JOB_URL_XCOM_KEY, GenAIBatchJobLink
from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID
from airflow_provider_genai_batch.operators._inputs import check_count, check_positive_seconds, check_ratio
from airflow_provider_genai_batch.operators.jobs import job_name_from
from airflow_provider_genai_batch.utils.compat import default_deferrable
from airflow_provider_genai_batch.utils.polling import DecisionKind, PartialFailurePolicy, decide_for_job
from airflow_provider_genai_batch.utils.progress import PollErrorBudget, progress_line

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

__all__ = ["GenAIBatchJobSensor"]

DEFER_TIMEOUT_MARGIN = 300.0


class GenAIBatchJobSensor(BaseSensorOperator):
    """Wait until a batch job ends; succeed with its manifest, fail when it failed, expired or was cancelled.

    The job's state is mapped by the same policy as the create operators. Returns the manifest (XCom).

    :param name: the job name, or a create operator's manifest (templated).
    :param deferrable: wait in the triggerer (``poll_interval`` is then the longest wait between polls).
    :param poll_interval: deferrable mode: the longest wait between two polls, seconds.
    :param max_failure_ratio: failed/total requests tolerated in a finished job.
    :param max_consecutive_poll_errors: transient poll errors (429, 5xx, connection) in a row before the task
        fails, in poke mode and in the check made before deferring (a permanent error, 404 or 403, fails at once).
        In ``mode="reschedule"`` the count starts again at each reschedule.
    :param cancel_on_kill: deferrable mode on Airflow 3.3+: cancel the job when the task is killed.

    ``poke_interval``, ``timeout``, ``mode`` and ``soft_fail`` are the usual sensor arguments.

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
        deferrable: bool = default_deferrable(),
        poll_interval: float = 600.0,
        min_poll_interval: float = 5.0,
        max_failure_ratio: float = 0.0,
        max_consecutive_poll_errors: int = 5,
        cancel_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.genai_batch_conn_id = genai_batch_conn_id
        self.deferrable = deferrable
        self.poll_interval = check_positive_seconds("poll_interval", poll_interval)
        self.min_poll_interval = check_positive_seconds("min_poll_interval", min_poll_interval)
        self.max_failure_ratio = check_ratio("max_failure_ratio", max_failure_ratio)
        self.max_consecutive_poll_errors = check_count("max_consecutive_poll_errors", max_consecutive_poll_errors)
        self.cancel_on_kill = cancel_on_kill
        self._started_at: float | None = None
        self._poll_errors = PollErrorBudget(max_consecutive=self.max_consecutive_poll_errors)

    @cached_property
    def hook(self) -> GenAIBatchHook:
        """The hook of ``genai_batch_conn_id``."""
        from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

        return GenAIBatchHook(genai_batch_conn_id=self.genai_batch_conn_id)

    @property
    def _partial(self) -> PartialFailurePolicy:
        return PartialFailurePolicy(max_failure_ratio=self.max_failure_ratio)

    def _push_link(self, context: Context, job_name: str) -> None:
        ti = context["ti"]
        ti.xcom_push(key=JOB_NAME_XCOM_KEY, value=job_name)
        ti.xcom_push(key=JOB_URL_XCOM_KEY, value=self.hook.console_url(job_name))

    def poke(self, context: Context) -> PokeReturnValue:
        """One read of the job: done (with the manifest), not yet, or a failure."""
        from airflow_provider_genai_batch.operators._outcome import conclude

        name = job_name_from(self.name)
        now = time.time()
        if self._started_at is None:
            self._started_at = now
            self._push_link(context, name)
        job = self._read(name)
        if job is None:
            return PokeReturnValue(is_done=False)
        self.log.info(progress_line(job.name, job.state, job.request_counts, elapsed_seconds=now - self._started_at))
        decision = decide_for_job(job, started_at=self._started_at, deadline=None, now=now, partial=self._partial)
        if decision.kind is DecisionKind.WAIT:
            return PokeReturnValue(is_done=False)
        manifest = conclude(self.hook, decision, job, reattached=False, cancel_on_timeout=False, log=self.log)
        return PokeReturnValue(is_done=True, xcom_value=manifest)

    def _read(self, name: str) -> BatchJob | None:
        """The job, or None after a poll error the budget tolerates (the trigger's and the operators' policy)."""
        from airflow_provider_genai_batch.client.errors import InvalidInputError, is_transient
        from airflow_provider_genai_batch.operators.exceptions import GenAIBatchPollingError

        try:
            job = self.hook.get_job(name)
        except InvalidInputError:
            raise  # a bad name: refused before any call, nothing to retry
        except Exception as exc:
            transient = is_transient(exc)
            if not self._poll_errors.record(transient=transient):
                kind = "transient" if transient else "permanent"
                raise GenAIBatchPollingError(
                    f"{name}: polling failed ({kind}, {self._poll_errors.consecutive} in a row): "
                    f"{type(exc).__name__}: {exc}. The job may still be running; a retry of the task reattaches."
                ) from exc
            self.log.warning(
                "%s: poll failed (%s, %d of %d tolerated in a row), trying again: %s",
                name,
                type(exc).__name__,
                self._poll_errors.consecutive,
                self.max_consecutive_poll_errors - 1,
                exc,
            )
            return None
        self._poll_errors.reset()
        return job

    def execute(self, context: Context) -> Any:
        """Poke in the worker, or check once and defer to the trigger."""
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)  # a tolerated poll error defers anyway: the trigger polls on, same budget
        if first.is_done:
            return first.xcom_value
        from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger

        assert self.poll_interval is not None and self.min_poll_interval is not None
        started_at = self._started_at or time.time()
        timeout = float(self.timeout)
        self.defer(
            trigger=GenAIBatchJobTrigger(
                genai_batch_conn_id=self.genai_batch_conn_id,
                job_name=job_name_from(self.name),
                deadline=started_at + timeout,
                started_at=started_at,
                poll_interval=self.poll_interval,
                min_poll_interval=self.min_poll_interval,
                max_failure_ratio=self.max_failure_ratio,
                max_consecutive_poll_errors=self.max_consecutive_poll_errors,
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=timeout + self.poll_interval + DEFER_TIMEOUT_MARGIN),
        )
        return None  # pragma: no cover - defer raises

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after the trigger: the manifest, or a failure naming the job's error."""
        from airflow_provider_genai_batch.operators._outcome import resume_from_event

        return resume_from_event(
            self.hook, event, reattached=False, partial=self._partial, cancel_on_timeout=False, log=self.log
        )
