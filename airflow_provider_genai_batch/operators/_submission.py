"""Exactly one remote job per task instance: the one path from a create operator's input to its job.

``submit_create`` owns every step, for both create operators (and any later caller):

0. Prepare once: a split's shard reference (``operators._shard_refs``) becomes its file or object, whose
   content must be the one the split recorded (checked right after the identity below, before any look-up or
   create). The input is validated once (``GenAIBatchHook.prepare_create``; a local JSONL file is read
   once to validate and hash it), its content identified (``input_identity``: the hash above, or one metadata
   call for ``gs://`` and ``files/...``), the idempotency key computed (``policy.idempotency``) and the job
   named with it (``PreparedCreate.rename``). That prepared create is what every create below sends: the input
   is not validated again, and the upload is the file's second and last read.

Then the order of checks (1 and 2 skipped with ``force_rerun``):

1. Fast path, Airflow 3.3+: the job name an earlier try saved in the task state store, if that job still
   carries this try's key and may be reattached. Never the only guard: a worker can die between the create and
   the save.
2. The remote look-up by idempotency key (the source of truth, ``hooks.lookup``): Vertex AI filters its list
   by the key label; Gemini reads its whole list (it has no filter and no documented order), up to
   ``lookup_max_jobs`` jobs. A look-up that cannot be completed (its job budget spent, or the list call
   failed) fails the try, loudly, rather than risk a second job; ``on_incomplete_lookup="create"`` creates
   anyway.
3. Create. If the create fails after the request may have reached the server (a dropped connection, a
   timeout, a 408 or a 5xx), look up by key again (three times over 7 s): a job found is the one created
   ("create applied, response lost" never leads to a second job); when every look-up answered and found none,
   the create was not applied and is sent again (at most three creates per try); when the look-ups
   themselves fail, the try fails and Airflow's retry looks again before creating.

A FAILED, CANCELLED or EXPIRED job is not reattached: a new one is submitted.

Example::

    request = CreateRequest(model="gemini-2.5-flash", src=[...], config=None, display_name=None)
    submission = submit_create(hook, context, request, log=self.log)   # Submission(job, reattached)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.client.names import JobNaming
from airflow_provider_genai_batch.compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_genai_batch.hooks.lookup import DEFAULT_MAX_SCANNED, KeyLookupIncompleteError, is_reattachable
from airflow_provider_genai_batch.operators._inputs import DepthCheckedList, OperatorInputError, check_nesting
from airflow_provider_genai_batch.operators._shard_refs import check_shard_content, unwrap_shard
from airflow_provider_genai_batch.operators.exceptions import GenAIBatchPollingError
from airflow_provider_genai_batch.policy.idempotency import (
    InputFingerprint,
    fingerprint_input,
    job_carries_key,
    key_from_display_name,
    key_identity,
    key_of_identity,
)

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.creation import PreparedCreate
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

__all__ = [
    "CreateRequest",
    "Submission",
    "TaskStateJobStore",
    "is_ambiguous_create_error",
    "job_config",
    "job_naming",
    "lookup_bound",
    "submit_create",
    "submit_once",
]

STORE_KEY = "genai_batch_job"
# Margin subtracted from the DAG run's run_after when scanning Gemini jobs (clock skew between Airflow and Google).
LOOKUP_MARGIN = dt.timedelta(minutes=30)
# Look-ups after an ambiguous create, and the pause before each (the list may lag the create slightly).
AMBIGUOUS_LOOKUP_DELAYS = (0.0, 2.0, 5.0)
# Creates per try: a failed create is sent again only after the look-ups above all answered and found no job.
MAX_CREATE_ATTEMPTS = 3


@dataclass(frozen=True)
class CreateRequest:
    """A create operator's rendered and checked input (``operators/_inputs.py``), not yet validated as a job.

    ``model`` is a ``client.names.ModelName`` when the operator built it (checked once, not again)."""

    model: str
    src: Any
    config: dict[str, Any] | None
    display_name: str | None
    embeddings: bool = False


@dataclass(frozen=True)
class Submission:
    """The job of this task instance and how it was found."""

    job: BatchJob
    reattached: bool
    #: What the job's key was derived from (``policy.idempotency.key_identity``), recorded for the UI.
    key_identity: list[Any] | None = None


class TaskStateJobStore:
    """The Airflow 3.3+ task state store as a fast path for the job name (a no-op before 3.3 or when absent).

    Errors of the store are logged and ignored: the remote look-up remains the guard.
    """

    def __init__(self, context: Any, log: logging.Logger | Any) -> None:
        self._store = context.get("task_state_store") if AIRFLOW_V_3_3_PLUS and hasattr(context, "get") else None
        self._log = log

    def get(self) -> tuple[str, str] | None:
        """``(job_name, key)`` saved by an earlier try, or None."""
        if self._store is None:
            return None
        try:
            value = self._store.get(STORE_KEY)
        except Exception as exc:
            self._log.warning("task state store unavailable (%s); using the remote look-up only", exc)
            return None
        if isinstance(value, dict) and isinstance(value.get("job_name"), str) and isinstance(value.get("key"), str):
            return value["job_name"], value["key"]
        return None

    def set(self, job_name: str, key: str) -> None:
        """Save the job name for later tries."""
        if self._store is None:
            return
        try:
            self._store.set(STORE_KEY, {"job_name": job_name, "key": key})
        except Exception as exc:
            self._log.warning("could not save the job name in the task state store: %s", exc)


def _aware(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def lookup_bound(context: Any) -> dt.datetime | None:
    """Jobs created before this cannot belong to this DAG run: its ``run_after`` minus a margin (clock skew).

    ``run_after`` (Airflow 3.0+) is set when the run is created and is not changed by clearing the run, unlike
    ``start_date`` and ``queued_at``; a run never starts before it. The logical date stands in when
    ``run_after`` is absent. None (no bound: the whole list is read) when neither is known.
    """
    dag_run = context.get("dag_run") if hasattr(context, "get") else None
    candidates = [_aware(getattr(dag_run, name, None)) for name in ("run_after", "logical_date")]
    fixed = [value for value in candidates if value is not None]
    return min(fixed) - LOOKUP_MARGIN if fixed else None


def is_ambiguous_create_error(exc: BaseException) -> bool:
    """Whether a failed create may nevertheless have created the job."""
    from airflow_provider_genai_batch.client.errors import APIConnectionError, APIStatusError

    if isinstance(exc, APIConnectionError):
        return exc.request_sent
    if isinstance(exc, APIStatusError):
        return exc.status_code == 408 or exc.status_code >= 500
    return False


def _from_store(
    hook: GenAIBatchHook, key: str, store: TaskStateJobStore, log: Any, accept_ended: bool = False
) -> BatchJob | None:
    saved = store.get()
    if saved is None or saved[1] != key:  # a legacy key is never saved: that job is found by the look-up
        return None
    from airflow_provider_genai_batch.client.errors import APIStatusError

    try:
        job = hook.get_job(saved[0])
    except APIStatusError as exc:
        log.info("job %s saved by an earlier try cannot be read (%s); looking it up by key", saved[0], exc)
        return None
    if job_carries_key(job.display_name, job.labels, key) and (accept_ended or is_reattachable(job)):
        return job
    return None


def _look_up_after_ambiguous_create(
    hook: GenAIBatchHook, key: str, created_after: dt.datetime | None, log: Any, sleep: Callable[[float], None]
) -> BatchJob | None:
    """The job of ``key`` if the failed create was applied; None when every look-up answered and found none.

    A look-up that itself fails leaves the question open: then the caller must not create again.
    """
    answered = False
    for delay in AMBIGUOUS_LOOKUP_DELAYS:
        sleep(delay)
        try:
            found = hook.find_job_by_key(key, not_before=created_after)
        except Exception as lookup_exc:
            log.warning("look-up after the failed create failed too: %s", lookup_exc)
            continue
        answered = True
        if found is not None:
            return found
    if not answered:
        raise GenAIBatchPollingError(
            f"the create of key {key} failed and no look-up could tell whether it was applied; "
            "the task's retry will look again before creating"
        )
    return None


def _look_up(
    hook: GenAIBatchHook,
    keys: Sequence[str],
    created_after: dt.datetime | None,
    log: Any,
    on_incomplete_lookup: str,
    lookup_max_jobs: int,
    accept_ended: bool = False,
) -> BatchJob | None:
    """The look-up before a create; an incomplete one fails the try unless the policy is ``create``."""
    from airflow_provider_genai_batch.client.errors import GenAIBatchError

    key = keys[0]
    try:
        return hook.find_job_by_key(
            keys, not_before=created_after, max_scanned=lookup_max_jobs, accept_ended=accept_ended
        )
    except (KeyLookupIncompleteError, GenAIBatchError) as exc:
        if on_incomplete_lookup == "create":
            log.error(
                "LOOK-UP INCOMPLETE for key %s (%s); creating a job anyway (on_incomplete_lookup='create'): "
                "this may be a second job",
                key,
                exc,
            )
            return None
        log.error(
            "LOOK-UP INCOMPLETE for key %s (%s); failing this try instead of risking a second job "
            "(on_incomplete_lookup='create' would create anyway)",
            key,
            exc,
        )
        raise


def submit_once(
    hook: GenAIBatchHook,
    *,
    key: str,
    create: Callable[[], BatchJob],
    created_after: dt.datetime | None,
    store: TaskStateJobStore,
    force_rerun: bool,
    log: Any,
    sleep: Callable[[float], None] = time.sleep,
    on_incomplete_lookup: str = "fail",
    lookup_max_jobs: int = DEFAULT_MAX_SCANNED,
    legacy_keys: Sequence[str] = (),
    accept_ended: bool = False,
) -> Submission:
    """The job of this task instance: reattached when an earlier try made one, else created once.

    ``legacy_keys``: keys an earlier version of the provider gave this task instance's job (see
    ``airflow_provider_genai_batch.deployment``); the look-up before the create accepts them too.
    ``accept_ended``: a job of the key that ended badly is reattached too (a completion policy's attempt: its
    open rows go to the next attempt, never to a second job of the same key).
    """
    if not force_rerun:
        job = _from_store(hook, key, store, log, accept_ended)
        if job is not None:
            log.info("Reattaching to %s (%s), saved by an earlier try", job.name, job.state.short)
            return Submission(job, reattached=True)
        job = _look_up(
            hook, [key, *legacy_keys], created_after, log, on_incomplete_lookup, lookup_max_jobs, accept_ended
        )
        if job is not None:
            log.info("Reattaching to %s (%s), found by idempotency key %s", job.name, job.state.short, key)
            store.set(job.name, key)
            return Submission(job, reattached=True)
    job = None
    for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
        try:
            job = create()
            break
        except Exception as exc:
            if not is_ambiguous_create_error(exc):
                raise
            log.warning("The create failed after it may have reached the server (%s); looking up key %s", exc, key)
            found = _look_up_after_ambiguous_create(hook, key, created_after, log, sleep)
            if found is not None:
                log.info("The create was applied: found %s by its key", found.name)
                job = found
                break
            if attempt == MAX_CREATE_ATTEMPTS:
                log.error(
                    "No job carries key %s after %d failed creates; the task's retry will try again", key, attempt
                )
                raise
            log.warning(
                "No job carries key %s: the create was not applied; creating again (%d of %d)",
                key,
                attempt + 1,
                MAX_CREATE_ATTEMPTS,
            )
    assert job is not None
    log.info("Created %s (%s)", job.name, job.state.short)
    survivor = _settle_duplicates(hook, key, job, created_after, log, lookup_max_jobs)
    store.set(survivor.name, key)
    return Submission(survivor, reattached=survivor.name != job.name)


def _settle_duplicates(
    hook: GenAIBatchHook,
    key: str,
    created: BatchJob,
    created_after: dt.datetime | None,
    log: Any,
    lookup_max_jobs: int,
) -> BatchJob:
    """After a create, the one job this task instance keeps: the earliest created job of its key.

    Two tries of one task instance can overlap (a lost heartbeat: Airflow starts another try while the first
    still runs), and both may create. Each looks the key up again right after its own create: the earliest
    created job (ties: the smaller name, ``hooks.lookup.survivor_order``) survives, every other unfinished one
    is cancelled, and the try continues with the survivor. The try whose job was created later sees the earlier
    one (it existed before its own create), so both tries end attached to the same job, provided the list shows
    a job once its create has returned (the same assumption as the look-ups after an ambiguous create). A
    look-up that fails here keeps the job just created (this check is the second line; the look-up before the
    create is the first).
    """
    from airflow_provider_genai_batch.operators._outcome import cancel_quietly

    try:
        scan = hook.scan_jobs_by_key(key, not_before=created_after, max_scanned=lookup_max_jobs)
    except Exception as exc:
        log.warning(
            "Could not check key %s for a duplicate job after the create (%s); keeping %s", key, exc, created.name
        )
        return created
    survivor = scan.best or created
    for duplicate in scan.duplicates:
        if duplicate.name == survivor.name or duplicate.done:
            continue
        log.warning(
            "DUPLICATE JOB: %s also carries key %s (an overlapping try of this task instance created it); "
            "cancelling it and keeping %s, the earliest created",
            duplicate.name,
            key,
            survivor.name,
        )
        cancel_quietly(hook, duplicate.name, log, "a duplicate of " + survivor.name)
    if survivor.name != created.name:
        log.warning(
            "Continuing with %s, created earlier by an overlapping try, instead of %s", survivor.name, created.name
        )
    return survivor


# --- the one path of a create operator ---------------------------------------------------------------


def job_naming(
    config: dict[str, Any] | None, display_name: str | None, *, task_id: str
) -> tuple[dict[str, Any], JobNaming]:
    """The user's config without a display name, and how the job is named (``client.names.JobNaming``, checked
    once here): the ``display_name`` parameter, else ``config.display_name``, else the task id."""
    rest = dict(config or {})
    configured = rest.pop("display_name", None) or rest.pop("displayName", None)
    rest.pop("displayName", None)
    if configured is not None and not isinstance(configured, str):
        raise OperatorInputError(
            "config.display_name", f"must be a string, got {type(configured).__name__}", "pass a string"
        )
    if display_name:
        return rest, JobNaming.parse(display_name, field="display_name")
    return rest, JobNaming.parse(configured, default=task_id, field="config.display_name")


def job_config(
    config: dict[str, Any] | None, display_name: str | None, *, task_id: str, key: str, backend: str
) -> dict[str, Any]:
    """The user's config plus the idempotency key in the display name (and, on Vertex AI, a label)."""
    rest, naming = job_naming(config, display_name, task_id=task_id)
    return {**rest, **naming.config(key, backend=backend, labels=rest.get("labels"))}


def _key_config(request: CreateRequest) -> dict[str, Any]:
    """The config as the key covers it (the display name is cosmetic: ``fingerprint_input`` leaves it out)."""
    return {**(request.config or {}), "__embeddings__": request.embeddings}


def task_key(
    context: Any,
    request: CreateRequest,
    identity: dict[str, Any] | None,
    *,
    force_rerun: bool,
    deployment: str | None = None,
) -> str:
    """The idempotency key of this task instance and input in ``deployment`` (``policy.idempotency``)."""
    fingerprint = fingerprint_input(request.model, request.src, _key_config(request), identity)
    return key_of_identity(task_identity(context, fingerprint, force_rerun=force_rerun, deployment=deployment))


def task_identity(context: Any, fingerprint: str, *, force_rerun: bool, deployment: str | None = None) -> list[Any]:
    """What this task instance's key is the hash of (``policy.idempotency.key_identity``), for an input of
    ``fingerprint`` (``fingerprint_input``)."""
    ti = context["ti"]
    run_id = ti.run_id
    if force_rerun:
        run_id = f"{run_id}#try-{ti.try_number}"  # a new job per try, still found again within the try
    return key_identity(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=run_id,
        map_index=ti.map_index,
        fingerprint=fingerprint,
        deployment=deployment,
    )


def task_identities(context: Any, fingerprint: str, *, force_rerun: bool) -> list[list[Any]]:
    """What this deployment's key is the hash of, then the legacy identities a retry may still accept
    (``deployment`` module docstring): the keys are their ``key_of_identity``. One fingerprint serves all."""
    from airflow_provider_genai_batch.deployment import accept_legacy_keys, deployment_digest_from_config

    deployment = deployment_digest_from_config()
    proofs = [task_identity(context, fingerprint, force_rerun=force_rerun, deployment=deployment)]
    if (
        deployment
        and not force_rerun
        and int(getattr(context["ti"], "try_number", 1) or 1) > 1
        and accept_legacy_keys()
    ):
        proofs.append(task_identity(context, fingerprint, force_rerun=force_rerun, deployment=None))
    return proofs


class _OnePass:
    """What the create operators do to each request of a list while the client converts it (one pass over the
    list before the encoder): refuse one nested too deep (before anything recursive reads it), and hash it into
    the key's fingerprint (``policy.idempotency.InputFingerprint``)."""

    def __init__(self, request: CreateRequest) -> None:
        self.fingerprint = InputFingerprint(request.model, _key_config(request))
        self._check_depth = not isinstance(request.src, DepthCheckedList)

    def __call__(self, index: int, item: Any) -> None:
        if self._check_depth:
            check_nesting(f"src[{index}]", item, level=1)  # one request of the list
        self.fingerprint.add(item)

    def result(self, src: Any, identity: dict[str, Any] | None) -> str | None:
        """The fingerprint when this pass saw the whole list and there is no content identity to add."""
        whole = isinstance(src, list | tuple) and self.fingerprint.count == len(src) > 0
        return self.fingerprint.hexdigest() if whole and identity is None else None


def submit_create(
    hook: GenAIBatchHook,
    context: Any,
    request: CreateRequest,
    *,
    log: Any,
    force_rerun: bool = False,
    on_incomplete_lookup: str = "fail",
    lookup_max_jobs: int = DEFAULT_MAX_SCANNED,
    sleep: Callable[[float], None] = time.sleep,
    accept_ended: bool = False,
) -> Submission:
    """The job of this task instance for ``request``: prepared once, then reattached or created once.

    The job's naming (display name, labels with room for the key label) is checked once when the create is
    prepared; the key, which needs the validated input's identity, is applied afterwards
    (``PreparedCreate.key``) without another check. A list of requests is read once before the encoder here:
    checked for depth, converted and hashed for the key in the same pass (``_OnePass``).
    """
    from airflow_provider_genai_batch.operators._spool import spool_stream

    src, shard = unwrap_shard(request.src)  # a split's shard reference: submit its file if it is unchanged
    if shard is not None:
        request = replace(request, src=src)
    config, naming = job_naming(request.config, request.display_name, task_id=context["ti"].task_id)
    one_pass = _OnePass(request)
    with spool_stream(request.src) as spooled:  # a generator is read (and hashed) before its key is computed
        prepared = hook.prepare_create(
            model=request.model,
            src=spooled.replay if spooled is not None else request.src,
            config=config,
            embeddings=request.embeddings,
            naming=naming,
            each=one_pass if isinstance(request.src, list | tuple) else None,
        )
        try:
            identity = spooled.identity if spooled is not None else hook.input_identity(prepared)
            if shard is not None:
                check_shard_content(shard, identity)
            fingerprint = one_pass.result(request.src, identity) or fingerprint_input(
                request.model, request.src, _key_config(request), identity
            )
            return _submit_prepared(
                hook,
                context,
                prepared,
                fingerprint,
                log=log,
                force_rerun=force_rerun,
                on_incomplete_lookup=on_incomplete_lookup,
                lookup_max_jobs=lookup_max_jobs,
                sleep=sleep,
                accept_ended=accept_ended,
            )
        finally:
            prepared.cleanup.close()


def _submit_prepared(
    hook: GenAIBatchHook,
    context: Any,
    prepared: PreparedCreate,
    fingerprint: str,
    *,
    log: Any,
    force_rerun: bool,
    on_incomplete_lookup: str,
    lookup_max_jobs: int,
    sleep: Callable[[float], None],
    accept_ended: bool = False,
) -> Submission:
    """Key ``prepared`` by the task instance and its input's ``fingerprint``, name the job with the key, then
    reattach or create."""
    proofs = task_identities(context, fingerprint, force_rerun=force_rerun)
    keys = [key_of_identity(proof) for proof in proofs]
    key, legacy_keys = keys[0], keys[1:]
    prepared.key(key)
    submission = submit_once(
        hook,
        key=key,
        create=lambda: hook.create_prepared(prepared),
        created_after=lookup_bound(context),
        store=TaskStateJobStore(context, log),
        force_rerun=force_rerun,
        log=log,
        sleep=sleep,
        on_incomplete_lookup=on_incomplete_lookup,
        lookup_max_jobs=lookup_max_jobs,
        legacy_keys=legacy_keys,
        accept_ended=accept_ended,
    )
    carried = key_from_display_name(submission.job.display_name or "")
    proof = next((p for p, k in zip(proofs, keys, strict=True) if k == carried), proofs[0])
    return dataclasses.replace(submission, key_identity=proof)  # the proof of the key the job carries (UI)
