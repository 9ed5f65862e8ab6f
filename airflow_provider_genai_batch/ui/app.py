"""The FastAPI app the plugin mounts on the api-server at ``/genai-batch``: JSON endpoints and plain pages.

Every route needs a signed-in user; a task's job is shown to users who may read its DAG, and only when the job
carries the task's identity (``ui.binding``: XCom alone is not evidence); a job no task owns is shown to users
who may read its connection; cancelling needs edit access to the DAG that owns the job, and a job that is not
verified as the task's is never cancelled through it. Reaping orphans (``POST /api/reap``, ``ui.reaper``) needs
edit access to DAGs and cancels only verified jobs of DAGs the user may edit. Error text passes
``ui.errors.ui_error_text`` and reaches only users who may read the connection. Example::

    app = create_app()      # mounted by Airflow's plugins manager; tests serve it with httpx's ASGI transport
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Header, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from airflow_provider_genai_batch.ui.access import (
    UserDep,
    can_edit_dag,
    can_edit_some_dag,
    can_read_connection,
    can_read_dag,
    require,
)
from airflow_provider_genai_batch.ui.binding import Verdict, plausible_job_name, verify
from airflow_provider_genai_batch.ui.errors import ui_error_text
from airflow_provider_genai_batch.ui.reaper import reap
from airflow_provider_genai_batch.ui.records import (
    JobRecord,
    env_connection_ids,
    genai_connection_ids,
    read_records,
)
from airflow_provider_genai_batch.ui.service import JobReader
from airflow_provider_genai_batch.ui.views import job_row, summary, unverified_row

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob

URL_PREFIX = "/genai-batch"
STATIC = Path(__file__).parent / "static"
WINDOW = dt.timedelta(days=1)
#: A header a cross-site form cannot send: cancel requires it (CSRF).
CSRF_HEADER = "genai-batch-ui"
_PAGES = {"jobs": "jobs.html", "ti": "ti.html", "card": "card.html"}
_ASSETS = {"ui.js": "text/javascript", "ui.css": "text/css", "card.js": "text/javascript"}
#: Live reads of single jobs in flight at once for one page load.
READS_AT_ONCE = 8
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class TaskRef(BaseModel):
    """The task instance whose job to cancel."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


class ReapRequest(BaseModel):
    """A reaping action: a dry run (the default) or the cancellation of the orphans a dry run listed."""

    dry_run: bool = True
    #: The connections to scan (default: every known ``genai_batch`` connection).
    conn_ids: list[str] | None = None
    #: Cancel only these job names (what the user confirmed after a dry run); ``None``: every orphan found.
    only: list[str] | None = None


class JobsService:
    """Joins the task records (metadata DB) with the API's jobs (cached) into the rows the pages show.

    A record's job is shown only when ``ui.binding.verify`` finds it to be the task's; read errors are shown
    only to users who may read the connection, and only after ``ui.errors.ui_error_text``.
    """

    def __init__(self, reader: JobReader) -> None:
        self.reader = reader

    async def records(self, *, ti: tuple[str, str, str, int] | None = None) -> list[JobRecord]:
        """One task instance's job, or the newest ``MAX_RECORDS`` jobs tasks recorded (whatever their age)."""
        return await asyncio.to_thread(read_records, ti=ti)

    async def checked(
        self, record: JobRecord, listed: BatchJob | None = None
    ) -> tuple[BatchJob | None, Verdict, str | None]:
        """The record's job (``listed`` when the list returned it, else one read), the verdict, and why the read
        failed (scrubbed) when it did."""
        if not plausible_job_name(record.job_name):
            return None, Verdict(False, "the recorded job name is not a batch job name"), None
        job = listed
        if job is None:
            try:
                job = await self.reader.get(record.conn_id, record.job_name)
            except Exception as exc:
                reason = "the job could not be read, so it could not be checked"
                return None, Verdict(False, reason), ui_error_text(exc)
        return job, verify(record, job), None

    async def row(
        self, user: Any, record: JobRecord, listed: BatchJob | None = None, *, down: str | None = None
    ) -> dict[str, Any]:
        """The row of one task's record, as ``user`` may see it (``down``: its connection's list failed)."""
        job: BatchJob | None
        error: str | None
        if down is not None and listed is None:
            job, verdict, error = None, Verdict(False, "the job's connection is unavailable"), down
        else:
            job, verdict, error = await self.checked(record, listed)
        if job is None or not verdict.verified:
            shown = error if error is not None and can_read_connection(user, record.conn_id) else None
            if error is not None and shown is None:
                shown = "the live read failed (its reason is shown to users who may read the connection)"
            return unverified_row(record, reason=verdict.reason, error=shown)
        return job_row(record, job, now=time.time())

    async def connection_ids(self, records: list[JobRecord]) -> list[str]:
        stored = await asyncio.to_thread(genai_connection_ids)
        ids = {*stored, *env_connection_ids(dict(os.environ)), *(r.conn_id for r in records)}
        return sorted(ids)

    async def _list(self, conn_id: str) -> list[BatchJob] | str:
        try:
            return await self.reader.list(conn_id)
        except Exception as exc:
            return ui_error_text(exc)

    async def visible_rows(self, user: Any) -> tuple[list[dict[str, Any]], list[str]]:
        """Every job this user may see: verified task jobs by DAG access, the rest of a connection's jobs by
        connection access; list errors only of connections this user may read."""
        records = await self.records()
        readable = [r for r in records if can_read_dag(user, r.dag_id)]
        conn_ids = await self.connection_ids(records)
        outcomes = await asyncio.gather(*(self._list(conn_id) for conn_id in conn_ids))
        listed = {c: o for c, o in zip(conn_ids, outcomes, strict=True) if not isinstance(o, str)}
        failed = {c: o for c, o in zip(conn_ids, outcomes, strict=True) if isinstance(o, str)}
        errors = [f"{c}: {text}" for c, text in failed.items() if can_read_connection(user, c)]
        by_name = {(c, job.name): job for c, jobs in listed.items() for job in jobs}
        limit = asyncio.Semaphore(READS_AT_ONCE)

        async def one(record: JobRecord) -> dict[str, Any]:
            job = by_name.get((record.conn_id, record.job_name))
            if job is not None or record.conn_id in failed:
                return await self.row(user, record, job, down=failed.get(record.conn_id))
            async with limit:  # a job the list did not return (older, or another page): read it alone
                return await self.row(user, record)

        rows = list(await asyncio.gather(*(one(record) for record in readable)))
        owned = {(r.conn_id, r.job_name) for r in records if self._owns(r, by_name)}
        now = time.time()
        for conn_id, jobs in listed.items():
            if not can_read_connection(user, conn_id):
                continue
            for job in jobs:
                if (conn_id, job.name) in owned:
                    continue
                row = job_row(None, job, now=now)
                row["conn_id"] = conn_id
                rows.append(row)
        return rows, errors

    @staticmethod
    def _owns(record: JobRecord, by_name: dict[tuple[str, str], BatchJob]) -> bool:
        """Whether ``record`` is the verified owner of a listed job (shown as that task's, not the connection's)."""
        job = by_name.get((record.conn_id, record.job_name))
        return job is not None and verify(record, job).verified


def create_app(reader: JobReader | None = None) -> FastAPI:
    """The plugin's app (``reader``: the job reader and its cache; one per api-server process by default)."""
    service = JobsService(reader or JobReader())
    app = FastAPI(title="Gen AI batch jobs", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    @app.get("/api/ti")
    async def task_job(user: UserDep, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        require(can_read_dag(user, dag_id), f"no read access to DAG {dag_id!r}")
        records = await service.records(ti=(dag_id, run_id, task_id, map_index))
        if not records:
            raise HTTPException(status_code=404, detail="this task instance has no Gen AI batch job (yet)")
        row = await service.row(user, records[0])
        # a verified row's owner is the DAG the job's key proof names (``ui.binding``): access is checked there
        owner = (row["owner"] or {}).get("dag_id")
        row["can_cancel"] = bool(row["verified"]) and isinstance(owner, str) and can_edit_dag(user, owner)
        return row

    @app.get("/api/jobs")
    async def jobs(
        user: UserDep,
        state: str | None = Query(default=None),
        dag_id: str | None = Query(default=None),
        conn_id: str | None = Query(default=None),
    ) -> dict[str, Any]:
        rows, errors = await service.visible_rows(user)
        facets = {
            "states": sorted({r["state"] for r in rows}),
            "dag_ids": sorted({r["owner"]["dag_id"] for r in rows if r["owner"]}),
            "conn_ids": sorted({r["conn_id"] for r in rows if r["conn_id"]}),
        }
        if state:
            rows = [r for r in rows if r["state"] == state.upper()]
        if dag_id:
            rows = [r for r in rows if r["owner"] and r["owner"]["dag_id"] == dag_id]
        if conn_id:
            rows = [r for r in rows if r["conn_id"] == conn_id]
        return {"jobs": rows, "facets": facets, "errors": errors}

    @app.get("/api/summary")
    async def card(user: UserDep) -> dict[str, Any]:
        rows, _ = await service.visible_rows(user)
        since = (dt.datetime.now(dt.UTC) - WINDOW).isoformat()
        recent = [r for r in rows if (r["created"] or (r["owner"] or {}).get("recorded_at") or "") >= since]
        return {"window_hours": 24, "counts": summary(recent)}

    @app.post("/api/cancel")
    async def cancel(
        user: UserDep, ref: TaskRef, x_requested_with: str | None = Header(default=None)
    ) -> dict[str, Any]:
        if x_requested_with != CSRF_HEADER:
            raise HTTPException(status_code=400, detail=f"send the header X-Requested-With: {CSRF_HEADER}")
        require(can_read_dag(user, ref.dag_id), f"no read access to DAG {ref.dag_id!r}")
        require(can_edit_dag(user, ref.dag_id), f"no edit access to DAG {ref.dag_id!r}: cannot cancel its job")
        records = await service.records(ti=(ref.dag_id, ref.run_id, ref.task_id, ref.map_index))
        if not records:
            raise HTTPException(status_code=404, detail="this task instance has no Gen AI batch job")
        record = records[0]
        job, verdict, _ = await service.checked(record)
        if job is None or not verdict.verified or verdict.owner_dag_id is None:
            raise HTTPException(
                status_code=409,
                detail=f"not verified: {verdict.reason}; a job is cancelled only through the task that created it",
            )
        owner = verdict.owner_dag_id
        require(can_edit_dag(user, owner), f"no edit access to DAG {owner!r}: cannot cancel its job")
        try:
            await service.reader.cancel(record.conn_id, job.name)
        except Exception as exc:
            detail = ui_error_text(exc) if can_read_connection(user, record.conn_id) else "see the api-server log"
            raise HTTPException(status_code=502, detail=f"cancel failed: {detail}") from exc
        return await service.row(user, record)

    @app.post("/api/reap")
    async def reap_orphans(
        user: UserDep, body: ReapRequest, x_requested_with: str | None = Header(default=None)
    ) -> dict[str, Any]:
        if x_requested_with != CSRF_HEADER:
            raise HTTPException(status_code=400, detail=f"send the header X-Requested-With: {CSRF_HEADER}")
        require(can_edit_some_dag(user), "no edit access to DAGs: cannot reap their jobs")
        only = set(body.only) if body.only is not None else None
        return await reap(service, user, dry_run=body.dry_run, conn_ids=body.conn_ids, only=only)

    @app.get("/static/{asset}")
    async def static(user: UserDep, asset: str) -> FileResponse:
        if asset not in _ASSETS:
            raise HTTPException(status_code=404, detail="no such asset")
        return FileResponse(STATIC / asset, media_type=_ASSETS[asset], headers=_NO_STORE)

    @app.get("/{page}", response_class=HTMLResponse)
    async def html(user: UserDep, page: str) -> HTMLResponse:
        if page not in _PAGES:
            raise HTTPException(status_code=404, detail="no such page")
        return HTMLResponse((STATIC / _PAGES[page]).read_text(), headers=_NO_STORE)

    return app
