"""The FastAPI app the plugin mounts on the api-server at ``/genai-batch``: JSON endpoints and plain pages.

Every route needs a signed-in user; a job is shown to users who may read its DAG (or, for a job no task owns,
its connection); cancelling needs edit access to the DAG. Example::

    app = create_app()      # mounted by Airflow's plugins manager; tests serve it with httpx's ASGI transport
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from airflow_provider_genai_batch.ui.access import (
    UserDep,
    can_edit_dag,
    can_read_connection,
    can_read_dag,
    require,
)
from airflow_provider_genai_batch.ui.records import (
    JobRecord,
    env_connection_ids,
    genai_connection_ids,
    read_records,
)
from airflow_provider_genai_batch.ui.service import JobReader
from airflow_provider_genai_batch.ui.views import job_row, summary

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


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


class JobsService:
    """Joins the task records (metadata DB) with the API's jobs (cached) into the rows the pages show."""

    def __init__(self, reader: JobReader) -> None:
        self.reader = reader

    async def records(self, *, ti: tuple[str, str, str, int] | None = None) -> list[JobRecord]:
        """One task instance's job, or the newest ``MAX_RECORDS`` jobs tasks recorded (whatever their age)."""
        return await asyncio.to_thread(read_records, ti=ti)

    async def row(self, record: JobRecord) -> dict[str, Any]:
        try:
            job = await self.reader.get(record.conn_id, record.job_name)
        except Exception as exc:
            return job_row(record, None, now=time.time(), error=_error_text(exc))
        return job_row(record, job, now=time.time())

    async def connection_ids(self, records: list[JobRecord]) -> list[str]:
        stored = await asyncio.to_thread(genai_connection_ids)
        ids = {*stored, *env_connection_ids(dict(os.environ)), *(r.conn_id for r in records)}
        return sorted(ids)

    async def visible_rows(self, user: Any) -> tuple[list[dict[str, Any]], list[str]]:
        """Every job this user may see: owned ones by DAG access, unowned ones by connection access."""
        records = await self.records()
        owned_names = {(r.conn_id, r.job_name) for r in records}
        readable = [r for r in records if can_read_dag(user, r.dag_id)]
        conn_ids = await self.connection_ids(records)
        listed: dict[str, list[Any]] = {}
        errors: list[str] = []
        for conn_id in conn_ids:
            try:
                listed[conn_id] = await self.reader.list(conn_id)
            except Exception as exc:
                errors.append(f"{conn_id}: {_error_text(exc)}")
        by_name = {(c, job.name): job for c, jobs in listed.items() for job in jobs}
        now = time.time()
        limit = asyncio.Semaphore(READS_AT_ONCE)

        async def one(record: JobRecord) -> dict[str, Any]:
            job = by_name.get((record.conn_id, record.job_name))
            if job is not None:
                return job_row(record, job, now=now)
            async with limit:  # a job the list did not return (older, or another page): read it alone
                return await self.row(record)

        rows = list(await asyncio.gather(*(one(record) for record in readable)))
        for conn_id, jobs in listed.items():
            if not can_read_connection(user, conn_id):
                continue
            for job in jobs:
                if (conn_id, job.name) in owned_names:
                    continue
                row = job_row(None, job, now=now)
                row["conn_id"] = conn_id
                rows.append(row)
        return rows, errors


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
        row = await service.row(records[0])
        row["can_cancel"] = can_edit_dag(user, dag_id)
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
        try:
            await service.reader.cancel(record.conn_id, record.job_name)
        except Exception as exc:
            raise HTTPException(status_code=502, detail=f"cancel failed: {_error_text(exc)}") from exc
        return await service.row(record)

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
