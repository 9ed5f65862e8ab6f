"""Create a batch job exactly once per task instance, then (optionally) wait for it in the worker or deferred.

Importing this module is cheap: the client, httpx and google-auth are imported inside ``execute()``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_genai_batch.links.genai_batch import GenAIBatchJobLink
from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID, REATTACHED_XCOM_KEY, GenAIBatchBaseOperator
from airflow_provider_genai_batch.operators._inputs import (
    OperatorInputError,
    check_config,
    check_count,
    check_display_name,
    check_model,
    check_positive_seconds,
    check_ratio,
    decode_json_source,
)
from airflow_provider_genai_batch.utils.compat import default_deferrable
from airflow_provider_genai_batch.utils.idempotency import display_name_with_key, idempotency_key, labels_with_key
from airflow_provider_genai_batch.utils.polling import PartialFailurePolicy, PollingSchedule, decide_for_job
from airflow_provider_genai_batch.utils.progress import PollErrorBudget

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from airflow_provider_genai_batch.operators._submission import Submission

__all__ = ["GenAIBatchCreateEmbeddingsJobOperator", "GenAIBatchCreateJobOperator"]

DEFAULT_TIMEOUT = 48 * 3600.0  # batch jobs expire after 48 hours on both backends
DEFAULT_POLL_INTERVAL = 600.0
# The deferral's own timeout exceeds the trigger's deadline by this much, so the trigger's clean "timeout"
# event (which cancels the job) arrives before Airflow's generic TaskDeferralTimeout.
DEFER_TIMEOUT_MARGIN = 300.0
# Margin before the DAG run's start when scanning Gemini jobs for the idempotency key.
GEMINI_LOOKUP_MARGIN = dt.timedelta(minutes=30)


class GenAIBatchCreateJobOperator(GenAIBatchBaseOperator):
    """Create a Gemini or Vertex AI batch job once per task instance and wait for it.

    A retry, a restarted worker or a cleared task reattaches to the job the task instance already created
    (found by an idempotency key carried in the job's display name and, on Vertex AI, a label); a FAILED,
    CANCELLED or EXPIRED job is replaced by a new one. ``force_rerun=True`` always submits a new job.

    Cost of the look-up before a create: on Vertex AI one list call filtered by the key label; on the Gemini API
    (no list filter) one list call per 20 jobs created in the project since this DAG run started (minus 30
    minutes). On Airflow 3.3+ a retry first tries the job name saved in the task state store (one get call).
    If a create fails after it may have reached the server (dropped connection, timeout, 408, 5xx), the key is
    looked up again before the error is raised, so a lost response never leads to a second job.

    Returns a small manifest (job name, state, request counts, where the results are); never the results:
    stream them with :class:`GenAIBatchWriteResultsOperator` or ``GenAIBatchHook.iter_results``.

    :param model: the model, e.g. ``gemini-2.5-flash`` (templated).
    :param src: the requests (templated): a list of requests or an XCom of one, ``files/...``, ``gs://...``
        (Vertex AI), ``bq://project.dataset.table`` (Vertex AI), or a local ``.jsonl`` path.
    :param config: ``CreateBatchJobConfig`` as a dict (templated): ``dest`` (Vertex AI), ``labels``...
    :param display_name: the job's display name (templated); the task id when empty. The idempotency key is
        appended as ``--gbk-<key>``.
    :param genai_batch_conn_id: the connection (``genai_batch`` or ``google_cloud_platform``).
    :param wait_for_completion: wait for the job to end (else return right after submission).
    :param deferrable: wait in the triggerer instead of the worker.
    :param poll_interval: the longest wait between two polls, seconds (the first wait is ``min_poll_interval``,
        then 5 % of the elapsed time). 600 s keeps a 24 h job under 250 polls.
    :param min_poll_interval: the first and shortest wait, seconds.
    :param timeout: wall-clock seconds to wait for the job in this try.
    :param cancel_on_timeout: cancel the job when ``timeout`` passes.
    :param cancel_on_kill: cancel the job when the task is killed (sync mode: ``on_kill``; deferrable mode on
        Airflow 3.3+: the trigger's ``on_kill``, after checking that the task really ended).
    :param max_failure_ratio: failed/total requests tolerated in a finished job; 0 fails on any failed request.
    :param max_consecutive_poll_errors: transient poll errors in a row before the wait gives up.
    :param force_rerun: skip the look-up and always submit a new job.

    Example::

        summarise = GenAIBatchCreateJobOperator(
            task_id="summarise",
            model="gemini-2.5-flash",
            src=[{"contents": "Summarise: ...", "metadata": {"key": "doc-1"}}],
            deferrable=True,
        )
    """

    template_fields: Sequence[str] = ("model", "src", "config", "display_name", "genai_batch_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"src": "json", "config": "json"}
    operator_extra_links = (GenAIBatchJobLink(),)
    ui_color = "#e8f0fe"
    embeddings = False

    def __init__(
        self,
        *,
        model: str,
        src: Any,
        config: dict[str, Any] | None = None,
        display_name: str | None = None,
        genai_batch_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        min_poll_interval: float = 5.0,
        timeout: float = DEFAULT_TIMEOUT,
        cancel_on_timeout: bool = True,
        cancel_on_kill: bool = True,
        max_failure_ratio: float = 0.0,
        max_consecutive_poll_errors: int = 5,
        force_rerun: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(genai_batch_conn_id=genai_batch_conn_id, **kwargs)
        self.model = model
        self.src = src
        self.config = config
        self.display_name = display_name
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = check_positive_seconds("poll_interval", poll_interval)
        self.min_poll_interval = check_positive_seconds("min_poll_interval", min_poll_interval)
        self.timeout = check_positive_seconds("timeout", timeout)
        self.cancel_on_timeout = cancel_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.max_failure_ratio = check_ratio("max_failure_ratio", max_failure_ratio)
        self.max_consecutive_poll_errors = check_count("max_consecutive_poll_errors", max_consecutive_poll_errors)
        self.force_rerun = force_rerun
        self._job_name: str | None = None

    # --- policy objects -------------------------------------------------------------------------

    @property
    def _schedule(self) -> PollingSchedule:
        assert self.poll_interval is not None and self.min_poll_interval is not None
        return PollingSchedule(min_interval=self.min_poll_interval, max_interval=self.poll_interval)

    @property
    def _partial(self) -> PartialFailurePolicy:
        return PartialFailurePolicy(max_failure_ratio=self.max_failure_ratio)

    # --- execute --------------------------------------------------------------------------------

    def _checked_inputs(self) -> tuple[str, Any, dict[str, Any] | None, str | None]:
        """The rendered template fields, checked (no network)."""
        model = check_model(self.model)
        src = decode_json_source(self.src)
        if src is None or src == [] or src == "":
            raise OperatorInputError(
                "src", "is empty", "pass requests, 'files/...', 'gs://...', 'bq://...' or a local .jsonl path"
            )
        config = check_config(self.config)
        display_name = check_display_name(self.display_name)
        return model, src, config, display_name

    def _job_config(
        self, config: dict[str, Any] | None, display_name: str | None, key: str, backend: str
    ) -> dict[str, Any]:
        """The user's config plus the idempotency key in the display name (and a Vertex label)."""
        job_config = dict(config or {})
        configured = job_config.pop("display_name", None) or job_config.pop("displayName", None)
        job_config.pop("displayName", None)
        if configured is not None and not isinstance(configured, str):
            from airflow_provider_genai_batch.client.errors import InvalidInputError

            raise InvalidInputError(
                "config.display_name", f"must be a string, got {type(configured).__name__}", "pass a string"
            )
        base = display_name or configured
        job_config["display_name"] = display_name_with_key(base, task_id=self.task_id, key=key)
        if backend == "vertex":
            job_config["labels"] = labels_with_key(job_config.get("labels"), key)
        return job_config

    def _create(self, hook: GenAIBatchHook, model: str, src: Any, config: dict[str, Any]) -> BatchJob:
        return hook.create_job(model=model, src=src, config=config)

    def _validate(self, hook: GenAIBatchHook, model: str, src: Any, config: dict[str, Any]) -> None:
        hook.validate_create(model=model, src=src, config=config, embeddings=self.embeddings)

    def _key(self, context: Context, model: str, src: Any, config: dict[str, Any] | None) -> str:
        ti = context["ti"]
        run_id = ti.run_id
        if self.force_rerun:
            run_id = f"{run_id}#try-{ti.try_number}"  # a new job per try, still found again within the try
        return idempotency_key(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=run_id,
            map_index=ti.map_index,
            model=model,
            src=src,
            config={**(config or {}), "__embeddings__": self.embeddings},
        )

    @staticmethod
    def _lookup_start(context: Context) -> dt.datetime:
        """Gemini jobs created before this cannot belong to this task instance (the run's start - margin)."""
        dag_run = context.get("dag_run")
        candidates = [getattr(dag_run, name, None) for name in ("start_date", "queued_at")]
        started = next((value for value in candidates if isinstance(value, dt.datetime)), None)
        if started is None:
            started = dt.datetime.now(dt.UTC) - dt.timedelta(hours=48)
        if started.tzinfo is None:
            started = started.replace(tzinfo=dt.UTC)
        return started - GEMINI_LOOKUP_MARGIN

    def execute(self, context: Context) -> dict[str, Any]:
        """Check inputs, find or create the job, push its name, then wait (or defer) and return the manifest."""
        from airflow_provider_genai_batch.operators._submission import TaskStateJobStore, submit_once

        model, src, config, display_name = self._checked_inputs()
        hook = self.hook
        key = self._key(context, model, src, config)
        job_config = self._job_config(config, display_name, key, hook.backend)
        self._validate(hook, model, src, job_config)
        submission = submit_once(
            hook,
            key=key,
            create=lambda: self._create(hook, model, src, job_config),
            created_after=self._lookup_start(context),
            store=TaskStateJobStore(context, self.log),
            force_rerun=self.force_rerun,
            log=self.log,
        )
        self._job_name = submission.job.name
        self.push_job(context, submission.job.name, reattached=submission.reattached)
        return self._after_submission(submission)

    def _after_submission(self, submission: Submission) -> dict[str, Any]:
        from airflow_provider_genai_batch.operators._outcome import conclude, manifest_for
        from airflow_provider_genai_batch.operators._waiting import wait_for_job

        hook, job = self.hook, submission.job
        if not self.wait_for_completion:
            return manifest_for(hook, job, reattached=submission.reattached)
        assert self.timeout is not None
        started_at = time.time()
        deadline = started_at + self.timeout
        if job.done:  # check before deferring: a reattached job may have ended already
            decision = decide_for_job(
                job, started_at=started_at, deadline=deadline, now=started_at, partial=self._partial
            )
            return conclude(
                hook, decision, job, reattached=submission.reattached, cancel_on_timeout=False, log=self.log
            )
        if self.deferrable:
            self._defer(job.name, started_at=started_at, deadline=deadline)
        decision, job = wait_for_job(
            hook,
            job.name,
            started_at=started_at,
            deadline=deadline,
            schedule=self._schedule,
            partial=self._partial,
            budget=PollErrorBudget.for_schedule(self._schedule, self.max_consecutive_poll_errors),
            log=self.log,
        )
        return conclude(
            hook,
            decision,
            job,
            reattached=submission.reattached,
            cancel_on_timeout=self.cancel_on_timeout,
            log=self.log,
        )

    def _defer(self, job_name: str, *, started_at: float, deadline: float) -> None:
        from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger

        assert self.timeout is not None and self.poll_interval is not None and self.min_poll_interval is not None
        self.defer(
            trigger=GenAIBatchJobTrigger(
                genai_batch_conn_id=self.genai_batch_conn_id,
                job_name=job_name,
                deadline=deadline,
                started_at=started_at,
                poll_interval=self.poll_interval,
                min_poll_interval=self.min_poll_interval,
                max_failure_ratio=self.max_failure_ratio,
                max_consecutive_poll_errors=self.max_consecutive_poll_errors,
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=self.timeout + self.poll_interval + DEFER_TIMEOUT_MARGIN),
        )

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after the trigger: validate its event, re-read the job, return the manifest or fail."""
        from airflow_provider_genai_batch.operators._outcome import resume_from_event

        if isinstance(event, dict) and isinstance(event.get("job_name"), str):
            self._job_name = event["job_name"]
        reattached = context["ti"].xcom_pull(task_ids=self.task_id, key=REATTACHED_XCOM_KEY)
        return resume_from_event(
            self.hook,
            event,
            reattached=bool(reattached),
            partial=self._partial,
            cancel_on_timeout=self.cancel_on_timeout,
            log=self.log,
        )

    def on_kill(self) -> None:
        """Cancel the job when the running task is killed (sync mode), if ``cancel_on_kill``."""
        from airflow_provider_genai_batch.operators._outcome import cancel_quietly

        if self.cancel_on_kill and self._job_name:
            cancel_quietly(self.hook, self._job_name, self.log, "the task was killed")


class GenAIBatchCreateEmbeddingsJobOperator(GenAIBatchCreateJobOperator):
    """Create a Gemini embeddings batch job once per task instance and wait for it.

    ``src`` is a list of texts, ``{"contents": [...], "config": {...}}`` (google-genai's EmbedContentBatch),
    ``files/...`` or a local ``.jsonl`` path. Every other parameter is as in
    :class:`GenAIBatchCreateJobOperator`. Embeddings batches exist on the Gemini Developer API only.

    Example::

        embed = GenAIBatchCreateEmbeddingsJobOperator(
            task_id="embed", model="gemini-embedding-001", src=["hello", "world"], deferrable=True
        )
    """

    embeddings = True

    def _create(self, hook: GenAIBatchHook, model: str, src: Any, config: dict[str, Any]) -> BatchJob:
        return hook.create_embeddings_job(model=model, src=src, config=config)
