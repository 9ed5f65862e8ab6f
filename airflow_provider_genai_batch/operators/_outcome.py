"""How a wait ends, shared by the create operators (both modes) and the sensor (both modes).

A DONE decision returns the manifest; a timeout cancels the job (when asked) and fails the task; any other
FAILED decision fails the task with the job's error. A trigger event is validated first: an unknown status
never succeeds, and a success is re-checked against a fresh read of the job.

Example::

    return conclude(hook, decision, job, reattached=False, cancel_on_timeout=True, log=self.log)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.operators.exceptions import (
    GenAIBatchJobFailedError,
    GenAIBatchJobStuckError,
    GenAIBatchJobTimeoutError,
    GenAIBatchPollingError,
)
from airflow_provider_genai_batch.policy.events import InvalidTriggerEventError, validate_event
from airflow_provider_genai_batch.policy.idempotency import key_from_display_name, key_from_labels
from airflow_provider_genai_batch.policy.manifest import manifest_from_job
from airflow_provider_genai_batch.policy.polling import (
    Decision,
    DecisionKind,
    PartialFailurePolicy,
    decide_for_job,
)

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

__all__ = ["cancel_quietly", "conclude", "manifest_for", "resume_from_event", "stuck_failure", "unstick"]


def manifest_for(hook: GenAIBatchHook, job: BatchJob, *, reattached: bool) -> dict[str, Any]:
    """The XCom manifest of ``job``."""
    key = key_from_labels(job.labels) or key_from_display_name(job.display_name)
    return manifest_from_job(
        job, backend=hook.backend, console_url=hook.console_url(job.name), idempotency_key=key, reattached=reattached
    ).to_xcom()


def cancel_quietly(hook: GenAIBatchHook, job_name: str, log: Any, why: str) -> bool:
    """Best-effort cancel; return whether the request was accepted."""
    try:
        hook.cancel_job(job_name)
    except Exception as exc:
        log.warning("Could not cancel %s (%s): %s: %s", job_name, why, type(exc).__name__, exc)
        return False
    log.info("Cancelled %s (%s)", job_name, why)
    return True


def _describe(job: BatchJob) -> str:
    counts = job.request_counts
    total = "?" if counts.total is None else str(counts.total)
    pending = "" if counts.pending is None else f", {counts.pending} pending"
    return f"{job.state.short}, {counts.succeeded} of {total} requests succeeded, {counts.failed} failed{pending}"


def stuck_failure(job: BatchJob, reason: str) -> GenAIBatchJobStuckError:
    """The task failure for ``on_stuck="fail"``: the job, how long it was stuck, its state and counts, what to do."""
    return GenAIBatchJobStuckError(
        f"{job.name}: {reason}; it is {_describe(job)}. on_stuck='fail': the task fails and the job is left running "
        "(a retry of the task reattaches to it, and fails again if it is still stuck). To end it, cancel it "
        "(GenAIBatchCancelJobOperator, the jobs page or the console); to cancel stuck jobs and resubmit their "
        "rows automatically, use on_stuck='resubmit'; to wait longer, raise stuck_after / pending_after"
    )


def unstick(hook: GenAIBatchHook, job: BatchJob, reason: str, *, on_stuck: str, log: Any) -> None:
    """Act on a stuck job: ``"fail"`` raises :func:`stuck_failure`; ``"resubmit"`` cancels it (its rows are then
    open, for the completion policy to resubmit once it has ended); ``"wait"`` does nothing."""
    if on_stuck == "fail":
        raise stuck_failure(job, reason)
    if on_stuck != "resubmit":
        return
    log.warning(
        "%s: %s; it is %s. Cancelling it to resubmit its rows (on_stuck='resubmit')", job.name, reason, _describe(job)
    )
    try:
        hook.cancel_job(job.name)
    except Exception as exc:
        try:
            ended = hook.get_job(job.name).done  # it may have ended between the read and the cancel
        except Exception:
            ended = False
        if ended:
            log.info("%s ended before it could be cancelled; its results count as the attempt's", job.name)
            return
        raise GenAIBatchJobFailedError(
            f"{job.name}: {reason}, and cancelling it to resubmit its rows failed ({type(exc).__name__}: {exc}). "
            "A retry of the task reattaches to it and tries again; or cancel it yourself"
        ) from None


def conclude(
    hook: GenAIBatchHook,
    decision: Decision,
    job: BatchJob,
    *,
    reattached: bool,
    cancel_on_timeout: bool,
    log: Any,
) -> dict[str, Any]:
    """Return the manifest for DONE; raise for FAILED (cancelling first on a timeout when asked)."""
    if decision.kind is DecisionKind.DONE:
        manifest = manifest_for(hook, job, reattached=reattached)
        counts = manifest["request_counts"]
        log.info(
            "%s %s: %s succeeded, %s failed, results: %s",
            job.name,
            job.state.short,
            counts["succeeded"],
            counts["failed"],
            manifest["results"]["kind"],
        )
        return manifest
    if decision.kind is DecisionKind.WAIT:
        raise GenAIBatchJobFailedError(f"{job.name}: the job is still {job.state.short}; nothing to conclude")
    if decision.timed_out:
        raise _timeout(hook, job.name, decision.reason, cancel_on_timeout=cancel_on_timeout, log=log)
    raise GenAIBatchJobFailedError(f"{job.name}: {decision.reason}")


def _timeout(
    hook: GenAIBatchHook, job_name: str, reason: str, *, cancel_on_timeout: bool, log: Any
) -> GenAIBatchJobTimeoutError:
    if cancel_on_timeout:
        cancelled = cancel_quietly(hook, job_name, log, "timeout")
        suffix = "; the job was cancelled" if cancelled else "; cancelling the job failed"
    else:
        suffix = "; the job keeps running (cancel_on_timeout=False), a retry reattaches to it"
    return GenAIBatchJobTimeoutError(f"{job_name}: {reason}{suffix}")


def resume_from_event(
    hook: GenAIBatchHook,
    event: Any,
    *,
    reattached: bool,
    partial: PartialFailurePolicy,
    cancel_on_timeout: bool,
    log: Any,
) -> dict[str, Any]:
    """The manifest for a trigger's success event (re-checked with a fresh read), else raise."""
    try:
        parsed = validate_event(event)
    except InvalidTriggerEventError as exc:
        raise GenAIBatchPollingError(f"cannot resume: {exc}") from None
    if parsed.status == "stuck":  # only a completion policy's trigger reports it; that operator handles it first
        raise GenAIBatchJobFailedError(f"{parsed.job_name}: {parsed.reason}")
    if parsed.status == "timeout":
        raise _timeout(hook, parsed.job_name, parsed.reason, cancel_on_timeout=cancel_on_timeout, log=log)
    if parsed.status == "error":
        if parsed.state is None:
            raise GenAIBatchPollingError(
                f"{parsed.job_name}: {parsed.reason}. The job may still be running; a retry reattaches to it."
            )
        raise GenAIBatchJobFailedError(f"{parsed.job_name}: {parsed.reason}")
    try:
        job = hook.get_job(parsed.job_name)
    except Exception as exc:
        if parsed.manifest is None:
            raise
        log.warning("Could not re-read %s (%s); using the trigger's manifest", parsed.job_name, exc)
        return {**parsed.manifest, "reattached": reattached}
    now = time.time()
    decision = decide_for_job(job, started_at=now, deadline=None, now=now, partial=partial)
    return conclude(hook, decision, job, reattached=reattached, cancel_on_timeout=cancel_on_timeout, log=log)
