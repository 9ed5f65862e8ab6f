"""The control API of an emulator, in process: timing, outcomes, faults, counters, GCS objects, BigQuery tables.

``EmulatorHandle`` (from ``run_emulator``) is an ``EmulatorControls``; ``EmulatorClient`` offers the same methods
over HTTP (``/_emulator/...``) for an emulator running in another process. Errors are ``EmulatorError``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from airflow_provider_genai_batch.emulator.errors import EmulatorError, failed_precondition, not_found
from airflow_provider_genai_batch.emulator.faults import FaultKind, FaultRule
from airflow_provider_genai_batch.emulator.inputs import parse_table_uri
from airflow_provider_genai_batch.emulator.jobs import find_job, refresh, settle_due
from airflow_provider_genai_batch.emulator.state import Backend, FailedRequests, FinalState, Job, Outcome, Store

__all__ = ["EmulatorControls", "EmulatorStats", "JobSummary", "table_key"]

_FINISH_STATES = ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "EXPIRED", "CANCELLED")


class JobSummary(TypedDict):
    """One job in ``stats()["jobs"]``; ``state`` is spelled ``JOB_STATE_*`` for both backends, as the SDK does."""

    name: str
    backend: str
    display_name: str | None
    labels: dict[str, str]
    state: str
    model: str
    request_count: int


class EmulatorStats(TypedDict):
    """What ``stats()`` returns."""

    #: Requests received per route label (``gemini.batches.create``...; ``unknown`` for unknown routes).
    requests: dict[str, int]
    #: Jobs created in total (deleted jobs still count): the number to check for duplicate submissions.
    jobs_created: int
    #: Jobs created per backend: ``gemini``, ``vertex``.
    jobs_created_by_backend: dict[str, int]
    #: Cancel and delete calls that took effect, per backend.
    cancels: dict[str, int]
    deletes: dict[str, int]
    #: Faults fired: ``total`` and per kind.
    faults_fired: dict[str, int]
    #: Jobs that exist (not deleted), oldest first.
    jobs: list[JobSummary]


def table_key(table_uri: str) -> str:
    """``bq://p.d.t`` or ``p.d.t`` -> ``p.d.t``; a 400 ``EmulatorError`` for anything else."""
    try:
        return ".".join(parse_table_uri(table_uri))
    except ValueError as exc:
        raise EmulatorError(400, f"table_uri: {exc}") from None


def _summary(store: Store, job: Job) -> JobSummary:
    return {
        "name": job.name,
        "backend": job.backend,
        "display_name": job.display_name,
        "labels": dict(job.labels),
        "state": "JOB_STATE_" + refresh(store, job).state,
        "model": job.model,
        "request_count": len(job.items),
    }


class EmulatorControls:
    """Control an emulator's behaviour and inspect what it received.

    Example::

        with run_emulator() as emu:            # an EmulatorHandle is an EmulatorControls
            emu.configure(job_seconds=0.2)
            emu.add_outcome("FAILED", error_message="quota", match_display_name="nightly")
            emu.add_fault("status", method="POST", path=r":batchGenerateContent$", status=429, retry_after=1)
            emu.put_object("bucket", "in.jsonl", b'{"request": {"contents": [...]}}\\n')
            ...
            assert emu.stats()["jobs_created"] == 1
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def reset(self) -> None:
        """Forget all jobs, files, objects, tables, outcomes, faults and counters; restore the start settings."""
        self._store.reset()

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings (``job_seconds``, ``pending_seconds``, ``cancel_seconds``, ``vertex_shard_rows``,
        ``api_key``, ``accepted_tokens``, ``strict``, ``shuffle_results``, ``check_models``, ``extra_models``)
        and return them all. ``job_seconds`` and ``pending_seconds`` apply to jobs created afterwards; the others
        apply at once (``shuffle_results`` to jobs whose results are not written yet)."""
        with self._store.lock:
            self._store.config = self._store.config.updated(**settings)
            return self._store.config.to_dict()

    def add_outcome(
        self,
        final_state: FinalState = "SUCCEEDED",
        *,
        failed_requests: FailedRequests = (),
        error_message: str | None = None,
        job_seconds: float | None = None,
        pending_seconds: float | None = None,
        match_display_name: str | None = None,
        backend: Backend | None = None,
        count: int | None = 1,
        expired_done: int = 0,
    ) -> None:
        """Decide how the next ``count`` jobs (``None``: all, until reset) matching ``backend`` and whose display
        name contains ``match_display_name`` end.

        ``final_state``: SUCCEEDED, PARTIALLY_SUCCEEDED (request 0 fails if ``failed_requests`` and the prompts
        make none fail; on Gemini the job still SUCCEEDS with failed requests), FAILED, EXPIRED, CANCELLED, or
        STUCK_PENDING (pending until cancelled or finished). ``failed_requests``: requests that fail individually
        (out-of-range indices are ignored): indices (each fails with 400 INVALID_ARGUMENT), ``{index: code}``
        (``{3: 429, 7: 400}``; a value may be ``[code, message]`` or ``{"code", "message"}``), or
        ``(index, code[, message])`` pairs. Each backend writes the error in its own form: Gemini
        ``{"error": {"code", "message", "status"}}``, Vertex ``status: "Too Many Requests: {...}"`` with
        ``response: {}``. ``expired_done`` (EXPIRED only): the first requests processed before expiry, counted but
        without results. ``job_seconds`` / ``pending_seconds`` override the timing of these jobs. Outcomes are
        matched in the order they were added.
        """
        outcome = Outcome(
            final_state=final_state,
            failed_requests=failed_requests,
            error_message=error_message,
            job_seconds=job_seconds,
            pending_seconds=pending_seconds,
            match_display_name=match_display_name,
            backend=backend,
            count=count,
            expired_done=expired_done,
        )
        with self._store.lock:
            self._store.outcomes.append(outcome)

    def add_fault(
        self,
        kind: FaultKind = "status",
        *,
        method: str | None = None,
        path: str | None = None,
        status: int = 429,
        google_status: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        retry_delay: float = 1.0,
        delay_seconds: float = 0.0,
        count: int | None = 1,
        skip: int = 0,
        probability: float = 1.0,
        seed: int | None = None,
    ) -> None:
        """Inject a fault into the next ``count`` matching requests (``None``: all, until cleared).

        ``kind``: ``status`` (answer ``status`` with a Google error, ``Retry-After: retry_after`` if set; a 429
        carries ``QuotaFailure`` and ``RetryInfo`` with ``retryDelay`` = ``retry_delay`` seconds, as Google's do),
        ``delay`` (wait ``delay_seconds`` then serve), ``drop`` (close the connection without a response) or
        ``apply_then_drop`` (serve, then close without sending the response). ``method`` and ``path`` (a regex
        searched in the URL path) select requests; the first ``skip`` matching requests are let through;
        ``probability`` with ``seed`` makes faults random but reproducible. Rules are tried in the order they
        were added.
        """
        rule = FaultRule(
            kind=kind,
            method=method,
            path=path,
            status=status,
            google_status=google_status,
            message=message,
            retry_after=retry_after,
            retry_delay=retry_delay,
            delay_seconds=delay_seconds,
            count=count,
            skip=skip,
            probability=probability,
            seed=seed,
        )
        with self._store.lock:
            self._store.faults.append(rule)

    def clear_faults(self) -> None:
        """Remove every fault rule that has not fired out yet."""
        with self._store.lock:
            self._store.faults.clear()

    def finish_job(self, name: str, state: str = "SUCCEEDED", *, error_message: str | None = None) -> JobSummary:
        """End a running or pending job now in ``state`` (SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED, EXPIRED or
        CANCELLED); ``name`` is ``batches/ID``, a Vertex job name or a bare id. Returns the job's summary."""
        if state not in _FINISH_STATES:
            raise EmulatorError(400, f"state: {state!r} is not one of {', '.join(_FINISH_STATES)}")
        if error_message is not None and not isinstance(error_message, str):
            raise EmulatorError(400, "error_message: expected a string")
        store = self._store
        with store.lock:
            job = find_job(store, name)
            if job is None:
                raise not_found(f"No job named {name!r}.")
            status = refresh(store, job)
            if status.terminal:
                raise failed_precondition(f"{job.name} has already ended (JOB_STATE_{status.state}).")
            job.final_state = state  # type: ignore[assignment]  # checked against _FINISH_STATES above
            if error_message is not None:
                job.error_message = error_message
            if state == "PARTIALLY_SUCCEEDED" and not job.failed and job.items:
                job.failed = (0,)
            job.forced_end = store.now()
            return _summary(store, job)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward: jobs age by ``seconds`` at once (timestamps move too)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise EmulatorError(400, f"seconds: expected a number >= 0, got {seconds!r}")
        with self._store.lock:
            self._store.clock_offset += seconds

    def stats(self) -> EmulatorStats:
        """Request counts per route label, jobs created (total and per backend), cancels, deletes, faults fired,
        and the jobs."""
        store = self._store
        with store.lock:
            counters = store.counters
            jobs = sorted([*store.gemini_jobs.values(), *store.vertex_jobs.values()], key=lambda j: j.seq)
            return {
                "requests": dict(store.requests),
                "jobs_created": counters["jobs_created"],
                "jobs_created_by_backend": {
                    "gemini": counters["jobs_created.gemini"],
                    "vertex": counters["jobs_created.vertex"],
                },
                "cancels": {"gemini": counters["cancels.gemini"], "vertex": counters["cancels.vertex"]},
                "deletes": {"gemini": counters["deletes.gemini"], "vertex": counters["deletes.vertex"]},
                "faults_fired": {"total": sum(store.faults_fired.values()), **store.faults_fired},
                "jobs": [_summary(store, job) for job in jobs],
            }

    def put_object(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Create or replace the GCS object ``gs://bucket/name``."""
        if not bucket or not name:
            raise EmulatorError(400, "bucket and name: required")
        self._store.put_object(bucket, name, bytes(data), content_type)

    def get_object(self, bucket: str, name: str) -> bytes:
        """The bytes of ``gs://bucket/name`` (results of ended jobs are written first)."""
        settle_due(self._store)
        with self._store.lock:
            obj = self._store.objects.get((bucket, name))
        if obj is None:
            raise not_found(f"No such object: {bucket}/{name}")
        return obj.data

    def list_objects(self, bucket: str, prefix: str = "") -> list[str]:
        """Names of the objects of ``bucket`` starting with ``prefix``, sorted."""
        settle_due(self._store)
        with self._store.lock:
            return sorted(n for (b, n) in self._store.objects if b == bucket and n.startswith(prefix))

    def put_table(self, table_uri: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Create or replace the BigQuery table ``bq://project.dataset.table``; each row is a dict of columns,
        with a ``request`` column (an object or JSON text) when the table is a batch input."""
        key = table_key(table_uri)
        materialized = []
        for row in rows:
            if not isinstance(row, Mapping):
                raise EmulatorError(400, "rows: expected a list of objects (one per row)")
            materialized.append(copy.deepcopy(dict(row)))
        with self._store.lock:
            self._store.tables[key] = materialized

    def get_table(self, table_uri: str) -> list[dict[str, Any]]:
        """The rows of a BigQuery table (results of ended jobs are written first)."""
        key = table_key(table_uri)
        settle_due(self._store)
        with self._store.lock:
            rows = self._store.tables.get(key)
            if rows is None:
                raise not_found(f"BigQuery table bq://{key} was not found.")
            return copy.deepcopy(rows)

    def list_tables(self) -> list[str]:
        """The ``bq://project.dataset.table`` URIs of every table, sorted."""
        settle_due(self._store)
        with self._store.lock:
            return sorted(f"bq://{key}" for key in self._store.tables)
