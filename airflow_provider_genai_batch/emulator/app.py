"""The emulator's ASGI application: routing, request counting, faults, authentication, Google-style errors.

Serve it with any ASGI server, e.g. ``uvicorn --factory airflow_provider_genai_batch.emulator.app:create_app``;
``run_emulator`` and the ``genai-batch-emulator`` command do it for you.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from airflow_provider_genai_batch.emulator.admin_routes import admin_routes
from airflow_provider_genai_batch.emulator.control import EmulatorControls
from airflow_provider_genai_batch.emulator.errors import EmulatorError
from airflow_provider_genai_batch.emulator.faults import Receive, Scope, Send, pick_fault, run_fault
from airflow_provider_genai_batch.emulator.files_routes import files_routes
from airflow_provider_genai_batch.emulator.gemini_routes import gemini_routes
from airflow_provider_genai_batch.emulator.routing import (
    Match,
    RequestContext,
    Router,
    check_auth,
    error_response,
    normalize_path,
)
from airflow_provider_genai_batch.emulator.state import EmulatorConfig, Store
from airflow_provider_genai_batch.emulator.storage_routes import storage_routes
from airflow_provider_genai_batch.emulator.vertex_routes import vertex_routes
from airflow_provider_genai_batch.emulator.webhooks import webhook_routes

__all__ = ["EmulatorApp", "create_app"]

logger = logging.getLogger(__name__)


class EmulatorApp:
    """The ASGI application of one emulator, with its own in-memory state.

    Example::

        app = EmulatorApp(EmulatorConfig(api_key="k", job_seconds=0.5))
        app.controls.put_object("bucket", "in.jsonl", b"...")
        uvicorn.run(app, host="127.0.0.1", port=8085)
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.store = Store(config)
        self.controls = EmulatorControls(self.store)
        self.router = Router(
            [
                *admin_routes(self.controls),
                *gemini_routes(self.store),
                *files_routes(self.store),
                *vertex_routes(self.store),
                *storage_routes(self.store),
                *webhook_routes(self.store),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path = normalize_path(scope.get("raw_path"), scope["path"])
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        match = self.router.match(method, path, query)
        label = match.route.label if match else "unknown"
        respond = partial(self._respond, match, method, path)
        if label.startswith("admin."):
            await respond(scope, receive, send)
            return
        with self.store.lock:
            self.store.requests[label] += 1
        fault = pick_fault(self.store, method, path)
        if fault is None:
            await respond(scope, receive, send)
        else:
            await run_fault(fault, respond, scope, receive, send)

    async def _respond(
        self, match: Match | None, method: str, path: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request = Request(scope, receive)
        try:
            if match is None:
                raise EmulatorError(404, f"The emulator has no route for {method} {path}.", "NOT_FOUND")
            check_auth(match.route.auth, request, self.store.config)
            response = await match.route.handler(RequestContext(request, match, self.store))
        except EmulatorError as exc:
            response = error_response(exc)
        except Exception:
            logger.exception("Emulator error on %s %s", method, path)
            response = error_response(EmulatorError(500, "Internal error encountered.", "INTERNAL"))
        await response(scope, receive, send)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(**settings: Any) -> EmulatorApp:
    """A new emulator application; ``settings`` are ``EmulatorConfig`` fields."""
    return EmulatorApp(EmulatorConfig(**settings))
