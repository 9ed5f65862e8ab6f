"""The webhook receiver: a FastAPI app the api-server mounts at ``/genai-batch-webhooks`` (``plugin.py``).

``POST /genai-batch-webhooks/deliveries`` is public (Google calls it without Airflow credentials), so every
delivery is verified before anything is kept: a static one by its Standard Webhooks HMAC with a secret from the
receiver's connection, a dynamic one by its RS256 JWT against the JWK set (cached, refreshed on rotation). A bad
signature, a stale or future timestamp or a malformed delivery gets 401 and changes nothing. A verified delivery is
recorded (``nudges.record_delivery``: job name, event type, id, time) and answered 202; its ``webhook-id`` seen
before (a replay, or Google retrying a delivery whose answer was lost) is answered 200 and changes nothing. The
body is used for one thing only: which job may have ended; the trigger then reads that job from the API.

The receiver's connection (``[genai_batch] webhook_conn_id``, default ``genai_batch_webhooks``): ``password``
holds the static webhooks' signing secrets (``whsec_...``, space-separated, several while rotating); extras
``jwks_url`` (default Google's), ``audience`` (this receiver's public URL, checked against the JWT's ``aud``)
and ``tolerance_seconds`` (default 300). Without the connection, static deliveries are refused and dynamic ones
are verified against Google's key set.

Example::

    app = create_app()    # the plugin's; tests pass ``config=`` and ``record=``
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from airflow_provider_genai_batch.webhooks.events import MAX_BODY, job_from_event
from airflow_provider_genai_batch.webhooks.jwks import GOOGLE_JWKS_URL, JwksCache
from airflow_provider_genai_batch.webhooks.nudges import record_delivery
from airflow_provider_genai_batch.webhooks.secrets import VARIABLE_KEY as SECRETS_VARIABLE
from airflow_provider_genai_batch.webhooks.secrets import all_secrets
from airflow_provider_genai_batch.webhooks.signing import (
    TOLERANCE_SECONDS,
    WebhookVerificationError,
    check_timestamp,
    read_headers,
    usable_keys,
    verify_static,
)

__all__ = ["DEFAULT_CONN_ID", "URL_PREFIX", "ReceiverConfig", "create_app", "load_config"]

URL_PREFIX = "/genai-batch-webhooks"
DEFAULT_CONN_ID = "genai_batch_webhooks"
#: Seconds a read of the receiver's connection is reused.
CONFIG_TTL = 30.0
_NO_STORE = {"Cache-Control": "no-store"}
log = logging.getLogger(__name__)

Recorder = Callable[[str, str | None, str, str, float], Awaitable[bool]]


@dataclass(frozen=True)
class ReceiverConfig:
    """What the receiver verifies with. ``repr`` never shows a secret."""

    static_secrets: tuple[str, ...] = field(default=(), repr=False)
    jwks_url: str = GOOGLE_JWKS_URL
    audiences: frozenset[str] = frozenset()
    tolerance: float = TOLERANCE_SECONDS
    #: The shortest time between two reads of the key set caused by unknown ``kid``s, seconds.
    jwks_min_refetch: float = 30.0


def _registered_secrets() -> tuple[str, ...]:
    """The secrets the maintenance operator stored (``webhooks.secrets``); none when the Variable is absent."""
    from airflow.sdk import Variable

    try:
        value = Variable.get(SECRETS_VARIABLE, default=None)
    except Exception as exc:  # the connection's secrets still verify
        log.warning("webhook signing secrets Variable unreadable: %s", type(exc).__name__)
        return ()
    return all_secrets(value if isinstance(value, str) else None)


def load_config() -> ReceiverConfig:
    """The receiver's settings from its Airflow connection (blocking: run in a thread)."""
    from airflow.sdk import BaseHook, conf

    conn_id = conf.get("genai_batch", "webhook_conn_id", fallback=DEFAULT_CONN_ID)
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # no connection: Google's key set, and the secrets the maintenance operator stored
        return ReceiverConfig(static_secrets=_registered_secrets())
    extras = conn.extra_dejson or {}
    audience = extras.get("audience")
    secrets = tuple((conn.password or "").split()) + _registered_secrets()
    malformed = len(secrets) - len(usable_keys(secrets))
    if malformed:
        log.error(
            "connection %s: %d of its %d webhook signing secrets are not 'whsec_' followed by base64 and are "
            "ignored; copy each secret exactly as the webhook's create or rotation returned it",
            conn_id,
            malformed,
            len(secrets),
        )
    return ReceiverConfig(
        static_secrets=secrets,
        jwks_url=str(extras.get("jwks_url") or GOOGLE_JWKS_URL),
        audiences=frozenset([audience]) if isinstance(audience, str) and audience else frozenset(),
        tolerance=float(extras.get("tolerance_seconds") or TOLERANCE_SECONDS),
    )


async def _record_in_db(webhook_id: str, job: str | None, event_type: str, via: str, now: float) -> bool:
    return await asyncio.to_thread(record_delivery, webhook_id, job, event_type, via, now=now)


class _Receiver:
    def __init__(self, config: ReceiverConfig | None, record: Recorder) -> None:
        self._fixed = config
        self._config: tuple[float, ReceiverConfig] | None = None
        self._record = record
        self._jwks: JwksCache | None = None

    async def config(self) -> ReceiverConfig:
        if self._fixed is not None:
            return self._fixed
        if self._config is None or time.monotonic() - self._config[0] > CONFIG_TTL:
            self._config = (time.monotonic(), await asyncio.to_thread(load_config))
        return self._config[1]

    def jwks(self, config: ReceiverConfig) -> JwksCache:
        if self._jwks is None or self._jwks.url != config.jwks_url:
            self._jwks = JwksCache(config.jwks_url, min_refetch=config.jwks_min_refetch)
        return self._jwks

    async def verify(self, headers: dict[str, str], body: bytes, now: float) -> tuple[str, str]:
        """The delivery's id and how it was signed (``static`` / ``dynamic``), or an error."""
        config = await self.config()
        delivery = read_headers(headers)
        signature = delivery.signature.strip()
        if signature.startswith("v1,") or " v1," in signature:
            verify_static(headers, body, config.static_secrets, now=now, tolerance=config.tolerance)
            return delivery.webhook_id, "static"
        check_timestamp(delivery.timestamp, now, config.tolerance)
        await self.jwks(config).verify(signature, now=now, leeway=config.tolerance, audiences=config.audiences)
        return delivery.webhook_id, "dynamic"

    async def handle(self, request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            return JSONResponse({"error": "body too large"}, status_code=413, headers=_NO_STORE)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return JSONResponse({"error": "body too large"}, status_code=413, headers=_NO_STORE)
        now = time.time()
        try:
            webhook_id, via = await self.verify(dict(request.headers), bytes(body), now)
        except WebhookVerificationError as exc:
            log.warning("webhook delivery refused: %s", exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=401, headers=_NO_STORE)
        event_type, job = job_from_event(bytes(body))
        if not await self._record(webhook_id, job, event_type, via, now):
            log.info("webhook delivery %s ignored: already received", webhook_id)
            return JSONResponse({"status": "duplicate"}, status_code=200, headers=_NO_STORE)
        log.info("webhook delivery %s (%s, %s): %s may have ended", webhook_id, via, event_type, job)
        return JSONResponse({"status": "accepted", "job": job}, status_code=202, headers=_NO_STORE)


def create_app(*, config: ReceiverConfig | None = None, record: Recorder | None = None) -> FastAPI:
    """The receiver app; ``config`` and ``record`` replace the connection and the metadata DB (tests)."""
    receiver = _Receiver(config, record or _record_in_db)
    app = FastAPI(title="Gen AI batch webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/deliveries", status_code=202)
    async def deliveries(request: Request) -> Any:
        return await receiver.handle(request)

    return app
