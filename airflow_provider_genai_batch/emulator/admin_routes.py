"""The control API over HTTP, under ``/_emulator/`` (no credentials; never faulted; not counted in stats).

==========================================  ======================================================
``POST /_emulator/reset``                   ``reset()``
``GET /_emulator/config``                   the settings
``POST /_emulator/config``                  ``configure(**body)``; answers the settings
``POST /_emulator/outcomes``                ``add_outcome(**body)``
``POST /_emulator/faults``                  ``add_fault(**body)``
``DELETE /_emulator/faults``                ``clear_faults()``
``POST /_emulator/jobs/{name}:finish``      ``finish_job(name, **body)``; answers the job summary
``POST /_emulator/clock:advance``           ``advance_clock(body["seconds"])``
``GET /_emulator/stats``                    ``stats()``
``PUT /_emulator/gcs/{bucket}/o/{name}``    ``put_object`` (raw body, its Content-Type)
``GET /_emulator/gcs/{bucket}/o/{name}``    ``get_object`` (raw bytes)
``GET /_emulator/gcs/{bucket}/o?prefix=``   ``{"names": list_objects(bucket, prefix)}``
``GET /_emulator/bigquery/tables``          ``{"tables": list_tables()}``
``PUT /_emulator/bigquery/tables/{p.d.t}``  ``put_table`` (body ``{"rows": [...]}``)
``GET /_emulator/bigquery/tables/{p.d.t}``  ``{"rows": get_table(...)}``
==========================================  ======================================================

Errors are Google-style JSON (``EmulatorClient`` raises them back as ``EmulatorError``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from airflow_provider_genai_batch.emulator.control import EmulatorControls
from airflow_provider_genai_batch.emulator.errors import invalid_argument
from airflow_provider_genai_batch.emulator.routing import RequestContext, Route, json_response

__all__ = ["admin_routes"]


def _call(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call a control method with JSON arguments, turning unknown or missing arguments into a 400."""
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError as exc:
        raise invalid_argument(f"{function.__name__}: {exc}") from None
    return function(*args, **kwargs)


class _Handlers:
    def __init__(self, controls: EmulatorControls) -> None:
        self.controls = controls

    async def reset(self, ctx: RequestContext) -> Response:
        self.controls.reset()
        return json_response({})

    async def get_config(self, ctx: RequestContext) -> Response:
        return json_response(self.controls.configure())

    async def configure(self, ctx: RequestContext) -> Response:
        return json_response(_call(self.controls.configure, **await ctx.json_body()))

    async def add_outcome(self, ctx: RequestContext) -> Response:
        _call(self.controls.add_outcome, **await ctx.json_body())
        return json_response({})

    async def add_fault(self, ctx: RequestContext) -> Response:
        _call(self.controls.add_fault, **await ctx.json_body())
        return json_response({})

    async def clear_faults(self, ctx: RequestContext) -> Response:
        self.controls.clear_faults()
        return json_response({})

    async def finish_job(self, ctx: RequestContext) -> Response:
        return json_response(_call(self.controls.finish_job, ctx.params["name"], **await ctx.json_body()))

    async def advance_clock(self, ctx: RequestContext) -> Response:
        _call(self.controls.advance_clock, **await ctx.json_body())
        return json_response({})

    async def stats(self, ctx: RequestContext) -> Response:
        return json_response(self.controls.stats())

    async def put_object(self, ctx: RequestContext) -> Response:
        content_type = ctx.header("content-type") or "application/octet-stream"
        data = await ctx.request.body()
        self.controls.put_object(ctx.params["bucket"], ctx.params["object"], data, content_type)
        return json_response({})

    async def get_object(self, ctx: RequestContext) -> Response:
        data = self.controls.get_object(ctx.params["bucket"], ctx.params["object"])
        return Response(data, media_type="application/octet-stream")

    async def list_objects(self, ctx: RequestContext) -> Response:
        names = self.controls.list_objects(ctx.params["bucket"], ctx.query("prefix") or "")
        return json_response({"names": names})

    async def list_tables(self, ctx: RequestContext) -> Response:
        return json_response({"tables": self.controls.list_tables()})

    async def put_table(self, ctx: RequestContext) -> Response:
        rows = (await ctx.json_body()).get("rows")
        if not isinstance(rows, list):
            raise invalid_argument('rows: expected {"rows": [{...}, ...]}')
        self.controls.put_table(ctx.params["table"], rows)
        return json_response({})

    async def get_table(self, ctx: RequestContext) -> Response:
        return json_response({"rows": self.controls.get_table(ctx.params["table"])})


def admin_routes(controls: EmulatorControls) -> list[Route]:
    """The ``/_emulator/`` routes (labels ``admin.*``)."""
    h = _Handlers(controls)
    gcs = r"/_emulator/gcs/(?P<bucket>[^/]+)/o"
    tables = "/_emulator/bigquery/tables"
    return [
        Route("POST", "/_emulator/reset", "admin.reset", h.reset),
        Route("GET", "/_emulator/config", "admin.config", h.get_config),
        Route("POST", "/_emulator/config", "admin.configure", h.configure),
        Route("POST", "/_emulator/outcomes", "admin.outcomes", h.add_outcome),
        Route("POST", "/_emulator/faults", "admin.faults", h.add_fault),
        Route("DELETE", "/_emulator/faults", "admin.faults.clear", h.clear_faults),
        Route("POST", r"/_emulator/jobs/(?P<name>.+):finish", "admin.jobs.finish", h.finish_job),
        Route("POST", "/_emulator/clock:advance", "admin.clock", h.advance_clock),
        Route("GET", "/_emulator/stats", "admin.stats", h.stats),
        Route("GET", gcs, "admin.gcs.list", h.list_objects),
        Route("PUT", gcs + "/(?P<object>.+)", "admin.gcs.put", h.put_object),
        Route("GET", gcs + "/(?P<object>.+)", "admin.gcs.get", h.get_object),
        Route("GET", tables, "admin.bigquery.list", h.list_tables),
        Route("PUT", tables + "/(?P<table>[^/]+)", "admin.bigquery.put", h.put_table),
        Route("GET", tables + "/(?P<table>[^/]+)", "admin.bigquery.get", h.get_table),
    ]
