"""Reaping orphaned jobs in the api-server: gather the facts, plan with ``policy.reaping``, cancel as one user.

Runs where the metadata DB is (the api-server; Airflow 3 workers and triggers cannot query it): the live jobs
come from each connection's list, their owners from the task records (XCom key proof, task and DAG run state),
ownership from ``ui.binding.verify``. What a user sees and may cancel is their own access: a job of a DAG they
cannot read is left out of their report, one of a DAG they cannot edit is skipped, a job no task owns is shown
only to readers of its connection and never cancelled; error text passes ``ui.errors.ui_error_text`` and reaches
only readers of the connection. ``GenAIBatchReapOrphansOperator`` calls this through the endpoint.

Example::

    report = await reap(service, user, dry_run=True)
    report["to_cancel"][0]["reason"]   # 'its task instance is failed'
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.policy.idempotency import key_from_display_name, key_from_labels
from airflow_provider_genai_batch.policy.reaping import LiveJob, Owner, ReapDecision, plan_reaping
from airflow_provider_genai_batch.ui.access import can_edit_dag, can_read_connection, can_read_dag
from airflow_provider_genai_batch.ui.binding import verify, verify_followup
from airflow_provider_genai_batch.ui.errors import ui_error_text
from airflow_provider_genai_batch.ui.records import JobRecord, read_records
from airflow_provider_genai_batch.ui.views import task_instance_json

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.ui.app import JobsService

#: Jobs read per connection at most while looking for live ones (newest first).
SCAN_LIMIT = 5000
#: Task records read at most (newest first, none older than the oldest live job less ``RECORD_MARGIN``).
RECORD_LIMIT = 20000
RECORD_MARGIN = dt.timedelta(hours=1)
CANCELS_AT_ONCE = 8
HIDDEN_ERROR = "see the api-server log (the reason is shown to users who may read the connection)"


async def live_jobs(conn_id: str, limit: int = SCAN_LIMIT) -> tuple[list[BatchJob], bool]:
    """The unfinished jobs of one connection that carry a key of this provider, and whether the scan stopped
    at ``limit`` before the list's end."""
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    found: list[BatchJob] = []
    seen = 0
    async for job in GenAIBatchHook(genai_batch_conn_id=conn_id).alist_jobs(page_size=100):
        seen += 1
        if not job.done and (key_from_display_name(job.display_name) or key_from_labels(job.labels)):
            found.append(job)
        if seen >= limit:
            return found, True
    return found, False


def _owner(record: JobRecord, job: BatchJob, attempt: int = 1) -> Owner:
    verdict = verify(record, job) if attempt == 1 else verify_followup(record, job, attempt)
    return Owner(
        dag_id=record.dag_id,
        run_id=record.run_id,
        task_id=record.task_id,
        map_index=record.map_index,
        verified=verdict.verified,
        verify_reason=verdict.reason,
        ti_state=record.ti_state,
        dag_run_state=record.dag_run_state,
        attempt=attempt,
    )


def _owner_json(owner: Owner) -> dict[str, Any]:
    return {**task_instance_json(owner), "dag_run_state": owner.dag_run_state, "attempt": owner.attempt}


def _entry(decision: ReapDecision, reason: str | None = None) -> dict[str, Any]:
    job = decision.job
    return {
        "job_name": job.name,
        "conn_id": job.conn_id,
        "state": job.state,
        "reason": reason or decision.reason,
        "owner": _owner_json(decision.owner) if decision.owner is not None else None,
    }


async def gather(conn_ids: list[str]) -> tuple[list[LiveJob], dict[str, str], list[str]]:
    """The live jobs of ``conn_ids`` with the records that name them; failed scans by connection (scrubbed
    text); connections whose scan stopped at ``SCAN_LIMIT``."""
    scans = await asyncio.gather(*(live_jobs(c) for c in conn_ids), return_exceptions=True)
    jobs: list[tuple[str, BatchJob]] = []
    failed: dict[str, str] = {}
    truncated: list[str] = []
    for conn_id, scan in zip(conn_ids, scans, strict=True):
        if isinstance(scan, BaseException):
            failed[conn_id] = ui_error_text(scan)
            continue
        jobs.extend((conn_id, job) for job in scan[0])
        if scan[1]:
            truncated.append(conn_id)
    if not jobs:
        return [], failed, truncated
    created = [job.create_time for _, job in jobs if job.create_time is not None]
    since = min(created) - RECORD_MARGIN if len(created) == len(jobs) else None
    records = await asyncio.to_thread(read_records, since=since, limit=RECORD_LIMIT)
    by_name: dict[str, list[tuple[JobRecord, int]]] = {}
    for record in records:
        by_name.setdefault(record.job_name, []).append((record, 1))
        for attempt, name in enumerate(record.attempts or [], start=1):
            if attempt > 1:  # a completion policy's follow-up: verified against the derived key
                by_name.setdefault(name, []).append((record, attempt))
    live = [
        LiveJob(
            conn_id=conn_id,
            name=job.name,
            state=job.state.short,
            key=key_from_display_name(job.display_name) or key_from_labels(job.labels),
            owners=[_owner(record, job, attempt) for record, attempt in by_name.get(job.name, [])],
        )
        for conn_id, job in jobs
    ]
    return live, failed, truncated


async def reap(
    service: JobsService,
    user: Any,
    *,
    dry_run: bool = True,
    conn_ids: list[str] | None = None,
    only: set[str] | None = None,
) -> dict[str, Any]:
    """Plan (and unless ``dry_run`` apply) the reaping of orphaned jobs as ``user`` may see and cancel them.

    ``only``: the job names a user confirmed after a dry run; an orphan outside it is skipped, not cancelled.
    """
    scan = conn_ids if conn_ids is not None else await service.connection_ids([])
    live, failed, truncated = await gather(scan)
    report: dict[str, Any] = {
        "dry_run": dry_run,
        "connections": scan,
        "looked_at": 0,
        "to_cancel": [],
        "cancelled": [],
        "kept": [],
        "skipped": [],
        "unowned": [],
        "errors": [
            f"{c}: {text if can_read_connection(user, c) else HIDDEN_ERROR}" for c, text in sorted(failed.items())
        ],
        "truncated": [c for c in truncated if can_read_connection(user, c)],
    }
    cancels: list[ReapDecision] = []
    for decision in plan_reaping(live):
        conn_id = decision.job.conn_id
        if decision.owner is not None:
            if not can_read_dag(user, decision.owner.dag_id):
                continue  # another team's job: not even its existence is shown
        elif not can_read_connection(user, conn_id):
            continue  # unowned or unverified: shown only to readers of the connection
        report["looked_at"] += 1
        if decision.action == "keep":
            report["kept"].append(_entry(decision))
        elif decision.action == "report":
            report["unowned"].append(_entry(decision))
        elif decision.action == "skip":
            report["skipped"].append(_entry(decision))
        elif decision.owner is not None and not can_edit_dag(user, decision.owner.dag_id):
            reason = f"{decision.reason}, but you have no edit access to DAG {decision.owner.dag_id!r}"
            report["skipped"].append(_entry(decision, reason))
        elif only is not None and decision.job.name not in only:
            report["skipped"].append(_entry(decision, f"{decision.reason}, but it was not in the confirmed list"))
        else:
            report["to_cancel"].append(_entry(decision))
            cancels.append(decision)
    if not dry_run and cancels:
        await _cancel_all(service, user, cancels, report)
    return report


async def _cancel_all(service: JobsService, user: Any, cancels: list[ReapDecision], report: dict[str, Any]) -> None:
    limit = asyncio.Semaphore(CANCELS_AT_ONCE)

    async def one(decision: ReapDecision) -> None:
        conn_id, name = decision.job.conn_id, decision.job.name
        async with limit:
            try:
                await service.reader.cancel(conn_id, name)
            except Exception as exc:
                text = ui_error_text(exc) if can_read_connection(user, conn_id) else HIDDEN_ERROR
                report["errors"].append(f"{conn_id}: cancel {name} failed: {text}")
                return
        report["cancelled"].append(name)

    await asyncio.gather(*(one(d) for d in cancels))
    report["cancelled"].sort()
