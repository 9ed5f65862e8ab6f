"""Create a batch job exactly once per task instance, then (optionally) wait for it in the worker or deferred.

Importing this module is cheap: the client, httpx and google-auth are imported inside ``execute()``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_genai_batch.compat import conf
from airflow_provider_genai_batch.links.genai_batch import GenAIBatchJobLink
from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID, REATTACHED_XCOM_KEY, GenAIBatchBaseOperator
from airflow_provider_genai_batch.operators._inputs import (
    OperatorInputError,
    check_choice,
    check_config,
    check_count,
    check_display_name,
    check_positive_seconds,
    decode_json_source,
    missing_relative_src,
    resolve_local_src,
)
from airflow_provider_genai_batch.operators.lineage import GenAIBatchLineageMixin
from airflow_provider_genai_batch.policy.defaults import DEFAULT_MAX_SCANNED
from airflow_provider_genai_batch.policy.wait_settings import CREATE_WAIT, WaitSettings

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.operators._submission import CreateRequest, Submission
    from airflow_provider_genai_batch.policy.completion import CompletionPolicy

__all__ = ["GenAIBatchCreateEmbeddingsJobOperator", "GenAIBatchCreateJobOperator"]

DEFAULT_TIMEOUT = 48 * 3600.0  # batch jobs expire after 48 hours on both backends


class GenAIBatchCreateJobOperator(GenAIBatchLineageMixin, GenAIBatchBaseOperator):
    """Create a Gemini or Vertex AI batch job once per task instance and wait for it.

    :param model: the model, e.g. ``gemini-2.5-flash`` (templated).
    :param src: the requests (templated): a list of requests or an XCom of one, ``files/...``, ``gs://...``
        (Vertex AI), ``bq://project.dataset.table`` (Vertex AI), or a local ``.jsonl`` path (a relative path is
        read from the DAG file's folder).
    :param config: ``CreateBatchJobConfig`` as a dict (templated): ``dest`` (Vertex AI), ``labels``...
    :param display_name: the job's display name (templated); the task id when empty. The idempotency key is
        appended as ``--gbk-<key>``.
    :param genai_batch_conn_id: the connection (``genai_batch`` or ``google_cloud_platform``).
    :param wait_for_completion: wait for the job to end (else return right after submission).
    :param deferrable: wait in the triggerer instead of the worker. Default: ``[operators] default_deferrable``
        (False unless set), read when the DAG file is parsed. A deferred task needs a running triggerer
        (``airflow triggerer``): without one it stays *deferred* and never ends (nothing fails, no job is
        cancelled); once a triggerer runs, it polls the job and the task resumes. ``dag.test()`` runs the
        trigger itself.
    :param poll_interval: the longest wait between two polls, seconds (the first wait is ``min_poll_interval``,
        then 5 % of the elapsed time). 600 s keeps a 24 h job under 250 polls.
    :param min_poll_interval: the first and shortest wait, seconds.
    :param timeout: wall-clock seconds the job may take, counted from its creation, across all tries.
    :param cancel_on_timeout: cancel the job when ``timeout`` passes.
    :param resubmit_on_timeout: ``False`` (default): a ``timeout`` fails the task without retries. ``True``:
        ``timeout`` counts per try and its failure is retried; a retry after a cancelled job submits a new one.
    :param cancel_on_kill: cancel the job when the task is killed (sync mode: ``on_kill``; deferrable mode on
        Airflow 3.3+: the trigger's ``on_kill``, after checking that the task really ended). An
        ``execution_timeout`` that ends a try with retries left does not cancel: the retry reattaches.
    :param max_failure_ratio: failed/total requests tolerated in a finished job; 0 fails on any failed request.
    :param max_consecutive_poll_errors: transient poll errors in a row before the wait gives up.
    :param webhook_fallback_interval: deferrable mode, Gemini, a connection with ``webhook_url``: the job is
        created with a webhook config naming the receiver, a verified delivery wakes the wait within seconds, and
        polling is only the fallback for a lost delivery: at least this many seconds apart (default 30 min), and
        at the deadline (docs/WEBHOOKS.md).
    :param force_rerun: skip the look-up and always submit a new job.
    :param on_incomplete_lookup: ``"fail"`` (default): when the look-up by key cannot be completed (budget
        spent, list error), fail the try loudly; ``"create"``: log an error and create a job anyway (which may
        be a second one).
    :param lookup_max_jobs: the most Gemini jobs one look-up reads (100 per list call) before it is
        incomplete.
    :param completion: a :class:`~airflow_provider_genai_batch.policy.completion.CompletionPolicy`: after the
        job ends (any terminal state), its rows without an answer and its rows failed retryably (429, 500, 503,
        504) are resubmitted as follow-up jobs, each keyed by the first job's key and its attempt number, up to
        ``max_attempts`` / ``deadline`` / ``max_tokens`` / ``max_cost``. The manifest gains ``completion``
        (attempts and their jobs, rows answered / failed / given up, summed usage); the task fails when the
        unanswered share exceeds ``max_failure_ratio``. Inputs: a list of requests, a local ``.jsonl`` file, a
        ``files/...`` file (Gemini), one ``gs://...jsonl`` object (Vertex AI; follow-ups are written next to
        it), or a split's shard of any of them; a ``bq://`` table is refused when the DAG is parsed (export it
        to JSONL in Cloud Storage). ``None`` (default): one job, as without a policy.


    Returns a small manifest (job name, state, request counts, where the results are); never the results:
    stream them with :class:`GenAIBatchWriteResultsOperator` or ``GenAIBatchHook.iter_results``.

    Example::

        summarise = GenAIBatchCreateJobOperator(
            task_id="summarise",
            model="gemini-2.5-flash",
            src=[{"contents": "Summarise: ...", "metadata": {"key": "doc-1"}}],
            deferrable=True,
        )

    A retry, a restarted worker or a cleared task reattaches to the job the task instance already created
    (found by an idempotency key carried in the job's display name and, on Vertex AI, a label); a FAILED,
    CANCELLED or EXPIRED job is replaced by a new one. ``force_rerun=True`` always submits a new job.

    The key covers the input's content, not only its name: a local ``.jsonl`` file is hashed while it is
    validated, a ``gs://`` object contributes its generation and checksums and a ``files/...`` file its
    ``sha256Hash`` (one metadata call each, before the look-up), so a re-run after the input was rewritten
    creates a new job. ``bq://`` tables are keyed by name only (this provider has no BigQuery client): after
    rewriting a table, use ``force_rerun=True`` or a new table name.

    Cost of the look-up before a create: on Vertex AI one list call filtered by the key label. The Gemini API
    has no list filter and does not document the list's order, so the look-up reads the whole list, pages of
    100 jobs, up to ``lookup_max_jobs`` jobs (one call per 100 jobs listed in the project). A look-up that
    reads ``lookup_max_jobs`` jobs without an answer, or whose list call fails, fails the try
    (``on_incomplete_lookup="fail"``) rather than risk a second job. On Airflow 3.3+
    a retry first tries the job name saved in the task state store (one get call). If a create fails after it
    may have reached the server (dropped connection, timeout, 408, 5xx), the key is looked up again before the
    error is raised, so a lost response never leads to a second job.

    ``timeout`` is the task instance's, not each try's: it counts from the job's creation (its ``createTime``),
    so a retry (after a lost worker, a failed read, an ``execution_timeout``) reattaches to the same job and
    waits only what is left. When it passes, the job is cancelled (``cancel_on_timeout``) and the task fails
    without retrying (``GenAIBatchTaskTimeoutError``): one paid job per task instance. With
    ``resubmit_on_timeout=True`` each try waits ``timeout`` from its own start, and a timeout fails the try with
    a retryable error: a retry then submits a new job when the old one was cancelled (a paid job per try).

    ``execution_timeout`` with retries: when the timeout ends a try that has retries left, ``on_kill`` leaves
    the job running and the next try reattaches to it (no second job is paid for). The last try's timeout,
    a user marking the task failed, or any other kill cancels the job (``cancel_on_kill``). In deferrable
    mode the timeout is applied by the triggerer while deferred (``TaskDeferralTimeout``); the retry then
    reattaches by key, but whether the job was left running depends on the trigger's ``on_kill`` (3.3+).
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
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = CREATE_WAIT.poll_interval,
        min_poll_interval: float = CREATE_WAIT.min_poll_interval,
        timeout: float = DEFAULT_TIMEOUT,
        cancel_on_timeout: bool = True,
        resubmit_on_timeout: bool = False,
        cancel_on_kill: bool = CREATE_WAIT.cancel_on_kill,
        max_failure_ratio: float = CREATE_WAIT.max_failure_ratio,
        max_consecutive_poll_errors: int = CREATE_WAIT.max_consecutive_poll_errors,
        webhook_fallback_interval: float = CREATE_WAIT.webhook_fallback_interval,
        force_rerun: bool = False,
        on_incomplete_lookup: str = "fail",
        lookup_max_jobs: int = DEFAULT_MAX_SCANNED,
        completion: CompletionPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(genai_batch_conn_id=genai_batch_conn_id, **kwargs)
        self.model = model
        self.src = src
        self.config = config
        self.display_name = display_name
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.wait = WaitSettings.from_kwargs(locals())  # the wait parameters above, checked once
        self.timeout = check_positive_seconds("timeout", timeout)
        self.cancel_on_timeout = cancel_on_timeout
        if not isinstance(resubmit_on_timeout, bool):
            raise OperatorInputError(
                "resubmit_on_timeout", f"must be True or False, got {resubmit_on_timeout!r}", "pass True or False"
            )
        self.resubmit_on_timeout = resubmit_on_timeout
        self.force_rerun = force_rerun
        self.on_incomplete_lookup = check_choice("on_incomplete_lookup", on_incomplete_lookup, ("fail", "create"))
        self.lookup_max_jobs = check_count("lookup_max_jobs", lookup_max_jobs)
        if completion is not None:  # imported here: a DAG without a policy does not load its module
            from airflow_provider_genai_batch.operators._completion import refuse_table_source
            from airflow_provider_genai_batch.policy.completion import CompletionPolicy

            if not isinstance(completion, CompletionPolicy):
                raise OperatorInputError(
                    "completion",
                    f"must be a CompletionPolicy or None, got {type(completion).__name__}",
                    "pass CompletionPolicy(max_attempts=3, ...)",
                )
            refuse_table_source(src)  # a literal bq:// src fails when the DAG is parsed
        self.completion = completion
        self._job_name: str | None = None
        self._context_ti: Any = None
        self._timed_out = False
        self._retries_left = False
        #: Attempts this process cancelled as stuck: waited for until they end, never judged stuck again.
        self._cancelled: set[str] = set()

    # --- execute --------------------------------------------------------------------------------

    def _checked_inputs(self) -> CreateRequest:
        """The rendered template fields, checked (no network)."""
        from airflow_provider_genai_batch.client.names import ModelName
        from airflow_provider_genai_batch.operators._submission import CreateRequest

        model = ModelName.parse(self.model.strip() if isinstance(self.model, str) else self.model)
        given = decode_json_source(self.src, lists_checked_later=True)  # checked as they are converted
        src = resolve_local_src(given, self._dag_fileloc())
        missing = missing_relative_src(src, given)
        if missing is not None:
            raise missing
        if src is None or src == [] or src == "":
            raise OperatorInputError(
                "src", "is empty", "pass requests, 'files/...', 'gs://...', 'bq://...' or a local .jsonl path"
            )
        return CreateRequest(
            model=model,
            src=src,
            config=check_config(self.config),
            display_name=check_display_name(self.display_name),
            embeddings=self.embeddings,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Check inputs, find or create the job, push its name, then wait (or defer) and return the manifest."""
        try:
            from airflow.sdk.exceptions import AirflowTaskTimeout
        except ImportError:  # Airflow 3.1 keeps it in core
            from airflow.exceptions import AirflowTaskTimeout  # type: ignore[no-redef,attr-defined,unused-ignore]

        ti = context["ti"]
        self._retries_left = int(ti.try_number) <= int(getattr(ti, "max_tries", self.retries or 0))
        self._timed_out = False
        try:
            return self._execute(context)
        except AirflowTaskTimeout:
            self._timed_out = True  # on_kill runs next (task runner): it then knows this was the timeout
            raise

    def _execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_genai_batch.operators._completion import check_completion_source
        from airflow_provider_genai_batch.operators._submission import submit_create

        request = self._checked_inputs()
        if self.completion is not None:
            check_completion_source(request.src)
        submission = submit_create(
            self.hook,
            context,
            request,
            log=self.log,
            force_rerun=self.force_rerun,
            on_incomplete_lookup=self.on_incomplete_lookup,
            lookup_max_jobs=self.lookup_max_jobs,
            accept_ended=self.completion is not None,
        )
        self._job_name = submission.job.name
        self.push_job(context, submission.job.name, reattached=submission.reattached, key_proof=submission.key_identity)
        if self.completion is not None and self.wait_for_completion:
            return self._complete(context, request, [submission.job], reattached=submission.reattached)
        return self._after_submission(submission)

    # --- completion policy ----------------------------------------------------------------------

    def _complete(
        self, context: Context, request: CreateRequest, jobs: list[BatchJob], *, reattached: bool
    ) -> dict[str, Any]:
        """Wait for the last attempt (or defer), replay the attempts, resubmit the open rows; repeat, then end."""
        from airflow_provider_genai_batch.operators._completion import replay, source_rows, submit_followup
        from airflow_provider_genai_batch.policy.completion import ATTEMPTS_XCOM_KEY
        from airflow_provider_genai_batch.policy.idempotency import key_from_display_name

        assert self.completion is not None
        self._context_ti = context["ti"]
        total = source_rows(request.src, self.hook)
        parent_key = key_from_display_name(jobs[0].display_name or "")
        if parent_key is None:
            raise OperatorInputError("completion", f"{jobs[0].name} carries no idempotency key", "report this")
        while True:
            jobs[-1] = self._attempt_ended(jobs)
            replayed = replay(self.hook, jobs, total, policy=self.completion)
            step = replayed.step
            assert step is not None
            if step.kind != "resubmit":
                return self._completion_result(context, jobs, replayed, reattached=reattached)
            jobs.append(
                submit_followup(
                    self.hook,
                    context,
                    request,
                    parent_key=parent_key,
                    attempt=len(jobs) + 1,
                    rows=step.rows,
                    log=self.log,
                    lookup_max_jobs=self.lookup_max_jobs,
                )
            )
            # Recorded at once (both modes): the reaper finds a follow-up of a task that failed through it.
            self._context_ti.xcom_push(key=ATTEMPTS_XCOM_KEY, value=[j.name for j in jobs])

    def _attempt_ended(self, jobs: list[BatchJob]) -> BatchJob:
        """The last attempt once it has ended: waited for in the worker, or deferred (resumed in
        ``execute_complete``). A timeout or a failed wait fails the task as without a policy. A stuck attempt
        (the policy's ``on_stuck``) fails the task, or is cancelled and waited for until it ends: its rows are
        then open and the next attempt resubmits them."""
        from airflow_provider_genai_batch.client.models import JobState
        from airflow_provider_genai_batch.operators._outcome import conclude, unstick
        from airflow_provider_genai_batch.operators._waiting import wait_for_job
        from airflow_provider_genai_batch.policy.completion import ATTEMPTS_XCOM_KEY, StuckWatch
        from airflow_provider_genai_batch.policy.polling import PartialFailurePolicy

        assert self.completion is not None
        job = jobs[-1]
        if job.done:
            return job
        started_at = time.time()
        deadline = self._deadline(job, started_at)
        cancelled = job.name in self._cancelled or job.state is JobState.CANCELLING
        stuck = None if cancelled else StuckWatch.for_policy(self.completion)
        if self.deferrable:
            # The attempts so far, for execute_complete: XCom lives across deferrals within a try (dag.test()
            # replaces a deferral's kwargs with the event, so kwargs cannot carry them).
            self._context_ti.xcom_push(key=ATTEMPTS_XCOM_KEY, value=[j.name for j in jobs])
            self._defer(job.name, started_at=started_at, deadline=deadline, stuck=stuck is not None)
        watch = self.wait.watch(
            job.name,
            started_at=started_at,
            deadline=deadline,
            log=self.log,
            partial=PartialFailurePolicy(max_failure_ratio=1.0),  # rows are the policy's, not the wait's
            stuck=stuck,
        )
        decision, job = wait_for_job(self.hook, watch)
        if decision.stuck:
            unstick(self.hook, job, decision.reason, on_stuck=self.completion.on_stuck, log=self.log)
            self._cancelled.add(job.name)
            jobs[-1] = job
            return self._attempt_ended(jobs)
        if not job.done:
            self._final_timeout(
                lambda: conclude(
                    self.hook, decision, job, reattached=False, cancel_on_timeout=self.cancel_on_timeout, log=self.log
                )
            )
        return job

    def _completion_result(
        self, context: Context, jobs: list[BatchJob], replayed: Any, *, reattached: bool
    ) -> dict[str, Any]:
        """The manifest with ``completion``; fail when the unanswered share exceeds ``max_failure_ratio``."""
        from airflow_provider_genai_batch.client.usage import estimate_cost
        from airflow_provider_genai_batch.operators._completion import LISTED_ROWS
        from airflow_provider_genai_batch.operators._outcome import manifest_for
        from airflow_provider_genai_batch.operators.exceptions import GenAIBatchJobFailedError

        assert self.completion is not None
        prices = self.completion.prices
        cost = estimate_cost(replayed.usage, prices) if prices is not None else None
        summary = replayed.summary(jobs, cost)
        rows = summary["rows"]
        manifest = manifest_for(self.hook, jobs[0], reattached=reattached)
        manifest["request_counts"] = {
            "total": rows["total"],
            "succeeded": rows["answered"],
            "failed": rows["failed"] + rows["given_up"],
            "pending": 0,
        }
        manifest["completion"] = summary
        names = ", ".join(f"{a['attempt']}: {a['job_name']} {a['state']}" for a in summary["attempts"])
        self.log.info(
            "Completion: %d of %d rows answered, %d failed for good, %d given up; attempts %s",
            rows["answered"],
            rows["total"],
            rows["failed"],
            rows["given_up"],
            names,
        )
        unanswered = rows["failed"] + rows["given_up"]
        if rows["given_up"]:
            self.log.warning(
                "Rows given up (%s): %s%s",
                summary.get("stopped", "no answer"),
                summary["given_up_rows"],
                " ..." if rows["given_up"] > LISTED_ROWS else "",
            )
        if rows["total"] and unanswered / rows["total"] > self.wait.max_failure_ratio:
            context["ti"].xcom_push(key="genai_batch_completion", value=manifest)
            raise GenAIBatchJobFailedError(
                f"{unanswered} of {rows['total']} rows have no answer after {len(jobs)} attempt(s) ({names}); "
                f"given up: {summary['given_up_rows']} ({summary.get('stopped', 'none')}); failed for good: "
                f"{summary['failed_rows']}; max_failure_ratio={self.wait.max_failure_ratio:g}"
            )
        return manifest

    def _after_submission(self, submission: Submission) -> dict[str, Any]:
        from airflow_provider_genai_batch.operators._outcome import conclude, manifest_for
        from airflow_provider_genai_batch.operators._waiting import wait_for_job
        from airflow_provider_genai_batch.policy.polling import decide_for_job

        hook, job = self.hook, submission.job
        if not self.wait_for_completion:
            return manifest_for(hook, job, reattached=submission.reattached)
        started_at = time.time()
        deadline = self._deadline(job, started_at)
        if job.done:  # check before deferring: a reattached job may have ended already
            decision = decide_for_job(
                job, started_at=started_at, deadline=deadline, now=started_at, partial=self.wait.partial
            )
            return self._final_timeout(
                lambda: conclude(
                    hook, decision, job, reattached=submission.reattached, cancel_on_timeout=False, log=self.log
                )
            )
        if self.deferrable:
            self._defer(job.name, started_at=started_at, deadline=deadline)
        watch = self.wait.watch(job.name, started_at=started_at, deadline=deadline, log=self.log)
        decision, job = wait_for_job(hook, watch)
        return self._final_timeout(
            lambda: conclude(
                hook,
                decision,
                job,
                reattached=submission.reattached,
                cancel_on_timeout=self.cancel_on_timeout,
                log=self.log,
            )
        )

    def _deadline(self, job: BatchJob, started_at: float) -> float:
        """When the wait ends: ``timeout`` after the job's creation (across tries), or after this try's start."""
        assert self.timeout is not None
        created = job.create_time
        if self.resubmit_on_timeout or created is None:
            return started_at + self.timeout
        created_at = (created if created.tzinfo else created.replace(tzinfo=dt.UTC)).timestamp()
        return min(created_at, started_at) + self.timeout  # a server clock ahead of ours never extends it

    def _final_timeout(self, conclude: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``conclude``; its timeout failure becomes final (no retry) unless ``resubmit_on_timeout``."""
        from airflow_provider_genai_batch.operators.exceptions import (
            GenAIBatchJobTimeoutError,
            GenAIBatchTaskTimeoutError,
        )

        try:
            return conclude()
        except GenAIBatchJobTimeoutError as exc:
            if self.resubmit_on_timeout or isinstance(exc, GenAIBatchTaskTimeoutError):
                raise
            raise GenAIBatchTaskTimeoutError(
                f"{exc}. The timeout ({self.timeout:g} s) counts from the job's creation across tries, so the "
                "task is not retried (resubmit_on_timeout=True would retry with a new job)"
            ) from None

    def _defer(self, job_name: str, *, started_at: float, deadline: float, stuck: bool = False) -> None:
        """Defer to the trigger; ``stuck``: with the completion policy's stuck thresholds."""
        from airflow_provider_genai_batch.client.creation import parse_config
        from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger
        from airflow_provider_genai_batch.webhooks.config import receiver_armed

        policy = self.completion if stuck else None
        webhook_config = parse_config(check_config(self.config)).webhook_config  # the user's, as sent
        self.defer(
            trigger=GenAIBatchJobTrigger(
                genai_batch_conn_id=self.genai_batch_conn_id,
                job_name=job_name,
                deadline=deadline,
                started_at=started_at,
                webhook_armed=receiver_armed(self.hook.get_settings(), webhook_config),
                stuck_after=policy.stuck_after if policy is not None else None,
                pending_after=policy.pending_after if policy is not None else None,
                **self.wait.to_kwargs(),
            ),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=self.wait.defer_timeout(deadline - time.time())),
        )

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after the trigger: validate its event, re-read the job, return the manifest or fail. With a
        completion policy, replay the attempts and resubmit the open rows (here, in the worker), then defer
        again or end."""
        from airflow_provider_genai_batch.operators._outcome import resume_from_event
        from airflow_provider_genai_batch.policy.completion import ATTEMPTS_XCOM_KEY
        from airflow_provider_genai_batch.policy.events import InvalidTriggerEventError, validate_event

        if isinstance(event, dict) and isinstance(event.get("job_name"), str):
            self._job_name = event["job_name"]
        # This task instance's own XComs: a mapped task's pull without map_indexes returns every map index's.
        ti, map_index = context["ti"], int(getattr(context["ti"], "map_index", -1))
        reattached = ti.xcom_pull(task_ids=self.task_id, key=REATTACHED_XCOM_KEY, map_indexes=map_index)
        completion_attempts = (
            ti.xcom_pull(task_ids=self.task_id, key=ATTEMPTS_XCOM_KEY, map_indexes=map_index)
            if self.completion
            else None
        )
        if self.completion is not None and isinstance(completion_attempts, list) and completion_attempts:
            self._context_ti = context["ti"]
            try:
                parsed = validate_event(event)
            except InvalidTriggerEventError:
                parsed = None
            if parsed is not None and parsed.status == "stuck":
                self._unstick_deferred(parsed.job_name, parsed.reason)
            ended = parsed is not None and parsed.status != "timeout" and parsed.state is not None
            if ended:
                jobs = [self.hook.get_job(name) for name in completion_attempts]
                return self._complete(context, self._checked_inputs(), jobs, reattached=bool(reattached))
        return self._final_timeout(
            lambda: resume_from_event(
                self.hook,
                event,
                reattached=bool(reattached),
                partial=self.wait.partial,
                cancel_on_timeout=self.cancel_on_timeout,
                log=self.log,
            )
        )

    def _unstick_deferred(self, job_name: str, reason: str) -> None:
        """The trigger saw ``job_name`` stuck: act on the policy's ``on_stuck`` (a job that ended since is left
        to the completion loop, like any ended attempt)."""
        from airflow_provider_genai_batch.operators._outcome import unstick

        assert self.completion is not None
        job = self.hook.get_job(job_name)
        if job.done:
            return
        unstick(self.hook, job, reason, on_stuck=self.completion.on_stuck, log=self.log)
        self._cancelled.add(job_name)

    def on_kill(self) -> None:
        """Cancel the job when the running task is killed (sync mode), if ``cancel_on_kill``.

        Airflow calls ``on_kill`` both when a user kills the task (SIGTERM) and after ``execution_timeout``
        (the task runner catches ``AirflowTaskTimeout`` raised inside ``execute`` and calls ``on_kill``). A
        timeout with retries left keeps the job: the retry reattaches to it instead of paying for a new one.
        """
        from airflow_provider_genai_batch.operators._outcome import cancel_quietly

        if not (self.wait.cancel_on_kill and self._job_name):
            return
        if self._timed_out and self._retries_left:
            self.log.warning(
                "execution_timeout ended this try with retries left: leaving %s running; the retry reattaches",
                self._job_name,
            )
            return
        cancel_quietly(self.hook, self._job_name, self.log, "the task was killed")


class GenAIBatchCreateEmbeddingsJobOperator(GenAIBatchCreateJobOperator):
    """Create a Gemini embeddings batch job once per task instance and wait for it.

    :param src: a list of texts, ``{"contents": [...], "config": {...}}`` (google-genai's EmbedContentBatch),
        ``files/...`` or a local ``.jsonl`` path (a relative path is read from the DAG file's folder) (templated).
    :param deferrable: wait in the triggerer instead of the worker. Default: ``[operators] default_deferrable``
        (False unless set), read when the DAG file is parsed. A deferred task needs a running triggerer
        (``airflow triggerer``): without one it stays *deferred* and never ends (nothing fails); once a
        triggerer runs, the task resumes.

    Every other parameter is as in :class:`GenAIBatchCreateJobOperator`. Returns the manifest (XCom).

    Gemini Developer API connections only: google-genai 3.3.0's ``batches.create_embeddings`` refuses Vertex AI
    (``ValueError``), and so does this operator, before any call. Vertex AI runs embeddings as ordinary batch
    prediction jobs of an embedding model (Google's "Get batch embeddings inferences" page), which neither the
    SDK's embeddings verb nor this operator builds.

    Example::

        embed = GenAIBatchCreateEmbeddingsJobOperator(
            task_id="embed", model="gemini-embedding-001", src=["hello", "world"], deferrable=True
        )
    """

    embeddings = True
