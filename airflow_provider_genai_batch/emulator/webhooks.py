"""Gemini webhooks in the emulator: the WebhookService routes, a JWKS endpoint, and deliveries as Google makes
them when a Gemini job ends, with faults (lost, duplicated, delayed, out of order, bad signature).

Static webhooks (``POST/GET /v1beta/webhooks``, ``GET/PATCH/DELETE /v1beta/webhooks/{id}``, ``:rotateSigningSecret``,
``:ping``; paths and snake_case fields as google-genai 3.3.0's ``_gaos/webhooks.py``) are signed with Standard
Webhooks HMAC (``webhooks.signing``); a job created with ``batch.webhookConfig`` is delivered to its ``uris``
instead, signed with an RS256 JWT whose key is served at ``/.well-known/jwks.json`` (``aud`` the delivery URI,
``exp`` five minutes on). Deliveries leave from a background task on the server's loop, a few tenths of a second
after a job's end (jobs end lazily, so the task reads them). Controls, under ``/_emulator/webhooks``:
``POST .../faults`` (``lost``, ``duplicated``, ``bad_signature``: counts of coming deliveries; ``delay_seconds``;
``out_of_order``: hold each delivery until the next one; ``GET`` reads them), ``POST .../jwks:rotate``,
``GET .../deliveries`` (what was sent, and how the receiver answered), ``GET .../requested`` (each job's
``webhookConfig`` as its create sent it). A reset of the emulator forgets all of it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from starlette.responses import Response

from airflow_provider_genai_batch.emulator.common import new_id, rfc3339
from airflow_provider_genai_batch.emulator.errors import invalid_argument, not_found
from airflow_provider_genai_batch.emulator.jobs import refresh
from airflow_provider_genai_batch.emulator.routing import RequestContext, Route, json_response
from airflow_provider_genai_batch.emulator.state import Job, Store

__all__ = ["hub", "register_dynamic", "webhook_routes"]

log = logging.getLogger(__name__)
_EVENTS = {
    "SUCCEEDED": "batch.succeeded",
    "FAILED": "batch.failed",
    "EXPIRED": "batch.expired",
    "CANCELLED": "batch.cancelled",
}
_TICK = 0.1


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class _Static:
    id: str
    uri: str
    subscribed_events: list[str]
    name: str | None
    secrets: list[str]
    create_time: float
    state: str = "enabled"

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "uri": self.uri,
            "subscribed_events": self.subscribed_events,
            "state": self.state,
            "create_time": rfc3339(self.create_time),
            "update_time": rfc3339(self.create_time),
            "signing_secrets": [{"truncated_secret": s[:10] + "..."} for s in self.secrets],
        }


@dataclass
class Faults:
    lost: int = 0
    duplicated: int = 0
    bad_signature: int = 0
    delay_seconds: float = 0.0
    out_of_order: bool = False


@dataclass
class WebhookHub:
    """The webhook state of one emulator."""

    statics: dict[str, _Static] = field(default_factory=dict)
    dynamic: dict[str, dict[str, Any]] = field(default_factory=dict)
    watched: dict[str, Job] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    keys: list[tuple[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    #: Each Gemini job's ``batch.webhookConfig`` exactly as its create sent it (tests read it back).
    requested: dict[str, Any] = field(default_factory=dict)
    held: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def signing_key(self) -> tuple[str, Any]:
        if not self.keys:
            self.rotate_key()
        return self.keys[-1]

    def rotate_key(self) -> str:
        from cryptography.hazmat.primitives.asymmetric import rsa

        kid = f"emulator-{new_id(8)}"
        self.keys = [*self.keys[-1:], (kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))]
        return kid

    def ensure_running(self, store: Store) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(_dispatch(store, self))


def hub(store: Store) -> WebhookHub:
    """The store's webhook state (made on first use)."""
    with store.lock:
        found = store.__dict__.get("_webhook_hub")
        if found is None:
            found = store.__dict__["_webhook_hub"] = WebhookHub()
        return found


def register_dynamic(store: Store, job: Job, webhook_config: Any) -> None:
    """Watch a new Gemini job: delivered to its ``webhookConfig.uris``, else to the static webhooks."""
    state = hub(store)
    with store.lock:
        if webhook_config is not None:
            state.requested[job.name] = webhook_config
        if isinstance(webhook_config, dict) and webhook_config.get("uris"):
            uris = webhook_config["uris"]
            if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
                raise invalid_argument("batch.webhookConfig.uris: must be a list of URLs")
            state.dynamic[job.name] = webhook_config
        state.watched[job.name] = job
    state.ensure_running(store)


def _body(job: Job, event: str, webhook_config: dict[str, Any] | None) -> bytes:
    data: dict[str, Any] = {"id": job.name, "name": job.name}
    if webhook_config and webhook_config.get("user_metadata", webhook_config.get("userMetadata")):
        data["user_metadata"] = webhook_config.get("user_metadata", webhook_config.get("userMetadata"))
    return json.dumps({"type": event, "version": "v1", "timestamp": rfc3339(time.time()), "data": data}).encode()


def _deliveries(store: Store, state: WebhookHub, job: Job, event: str) -> list[tuple[str, dict[str, str], bytes]]:
    from airflow_provider_genai_batch.webhooks.jws import sign_jwt
    from airflow_provider_genai_batch.webhooks.signing import sign

    now = int(time.time())
    config = state.dynamic.get(job.name)
    out = []
    if config is not None:
        kid, key = state.signing_key()
        body = _body(job, event, config)
        for uri in config["uris"]:
            token = sign_jwt({"iss": "genai-batch-emulator", "aud": uri, "iat": now, "exp": now + 300}, key, kid=kid)
            headers = {"webhook-id": f"msg_{new_id(24)}", "webhook-timestamp": str(now), "webhook-signature": token}
            out.append((uri, headers, body))
        return out
    for static in state.statics.values():
        if static.state == "enabled" and event in static.subscribed_events:
            body = _body(job, event, None)
            out.append((static.uri, sign(f"msg_{new_id(24)}", now, body, static.secrets), body))
    return out


def _faulted(state: WebhookHub, deliveries: list[tuple[str, dict[str, str], bytes]]) -> list[Any]:
    out: list[Any] = []
    for uri, headers, body in deliveries:
        faults = state.faults
        if faults.lost > 0:
            faults.lost -= 1
            state.sent.append({"uri": uri, "id": headers["webhook-id"], "fault": "lost"})
            continue
        if faults.bad_signature > 0:
            faults.bad_signature -= 1
            headers = {**headers, "webhook-signature": "v1," + base64.b64encode(os.urandom(32)).decode()}
        copies = 1
        if faults.duplicated > 0:
            faults.duplicated -= 1
            copies = 2
        for _ in range(copies):
            if faults.out_of_order:
                state.held.append((uri, headers, body))
                if len(state.held) >= 2:
                    out.extend(reversed(state.held))
                    state.held.clear()
            else:
                out.append((uri, headers, body))
    return out


async def _send(state: WebhookHub, client: httpx.AsyncClient, delay: float, item: Any) -> None:
    uri, headers, body = item
    if delay:
        await asyncio.sleep(delay)
    try:
        response = await client.post(uri, headers={**headers, "content-type": "application/json"}, content=body)
        status: int | str = response.status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    state.sent.append({"uri": uri, "id": headers["webhook-id"], "status": status})


async def _dispatch(store: Store, state: WebhookHub) -> None:
    async with httpx.AsyncClient(timeout=10.0) as client:
        while store.__dict__.get("_webhook_hub") is state:  # a reset replaces the hub: this task then ends
            ready: list[Any] = []
            with store.lock:
                for name, job in list(state.watched.items()):
                    status = refresh(store, job)
                    if status.terminal:
                        del state.watched[name]
                        event = _EVENTS.get(status.state)
                        if event is not None:
                            ready.extend(_faulted(state, _deliveries(store, state, job, event)))
                delay = state.faults.delay_seconds
            for item in ready:
                asyncio.get_running_loop().create_task(_send(state, client, delay, item))
            await asyncio.sleep(_TICK)


class _Handlers:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _get(self, ctx: RequestContext) -> _Static:
        found = hub(self.store).statics.get(ctx.params["id"])
        if found is None:
            raise not_found(f"Webhook {ctx.params['id']} was not found.")
        return found

    async def create(self, ctx: RequestContext) -> Response:
        body = await ctx.json_body()
        uri, events = body.get("uri"), body.get("subscribed_events")
        if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
            raise invalid_argument("uri: required, an http(s) URL")
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            raise invalid_argument("subscribed_events: required, a list of event names")
        secret = _secret()
        static = _Static(new_id(16), uri, events, body.get("name"), [secret], time.time())
        state = hub(self.store)
        with self.store.lock:
            state.statics[static.id] = static
            for job in self.store.gemini_jobs.values():
                if not job.settled:
                    state.watched.setdefault(job.name, job)
        state.ensure_running(self.store)
        return json_response({**static.wire(), "new_signing_secret": secret})

    async def list(self, ctx: RequestContext) -> Response:
        return json_response({"webhooks": [s.wire() for s in hub(self.store).statics.values()]})

    async def get(self, ctx: RequestContext) -> Response:
        return json_response(self._get(ctx).wire())

    async def update(self, ctx: RequestContext) -> Response:
        static, body = self._get(ctx), await ctx.json_body()
        for name in ("uri", "subscribed_events", "name", "state"):
            if name in body:
                setattr(static, name, body[name])
        return json_response(static.wire())

    async def delete(self, ctx: RequestContext) -> Response:
        static = self._get(ctx)
        del hub(self.store).statics[static.id]
        return json_response({})

    async def rotate(self, ctx: RequestContext) -> Response:
        static, body = self._get(ctx), await ctx.json_body()
        secret = _secret()
        keep_old = body.get("revocation_behavior") != "revoke_previous_secrets_immediately"
        static.secrets = [*static.secrets[-1:], secret] if keep_old else [secret]
        return json_response({"secret": secret})

    async def ping(self, ctx: RequestContext) -> Response:
        from airflow_provider_genai_batch.webhooks.signing import sign

        static = self._get(ctx)
        body = json.dumps({"type": "webhook.ping", "version": "v1", "data": {"id": static.id}}).encode()
        item = (static.uri, sign(f"msg_{new_id(24)}", int(time.time()), body, static.secrets), body)
        async with httpx.AsyncClient(timeout=10.0) as client:
            await _send(hub(self.store), client, 0.0, item)
        return json_response({})

    async def jwks(self, ctx: RequestContext) -> Response:
        from airflow_provider_genai_batch.webhooks.jws import jwk_of

        state = hub(self.store)
        state.signing_key()
        return json_response({"keys": [jwk_of(key.public_key(), kid) for kid, key in state.keys]})

    async def get_faults(self, ctx: RequestContext) -> Response:
        return json_response(asdict(hub(self.store).faults))

    async def requested(self, ctx: RequestContext) -> Response:
        return json_response({"requested": dict(hub(self.store).requested)})

    async def faults(self, ctx: RequestContext) -> Response:
        body = await ctx.json_body()
        try:
            hub(self.store).faults = Faults(**body)
        except TypeError as exc:
            raise invalid_argument(f"webhook faults: {exc}") from None
        return json_response(body)

    async def rotate_jwks(self, ctx: RequestContext) -> Response:
        return json_response({"kid": hub(self.store).rotate_key()})

    async def deliveries(self, ctx: RequestContext) -> Response:
        return json_response({"deliveries": list(hub(self.store).sent)})


def webhook_routes(store: Store) -> list[Route]:
    """The WebhookService routes (API key), the JWKS (public) and the webhook controls (admin)."""
    h = _Handlers(store)
    base = r"/(?:v1|v1beta|v1alpha)/webhooks"
    one = base + r"/(?P<id>[A-Za-z0-9_-]+)"
    return [
        Route("POST", base, "gemini.webhooks.create", h.create, auth="api_key"),
        Route("GET", base, "gemini.webhooks.list", h.list, auth="api_key"),
        Route("GET", one, "gemini.webhooks.get", h.get, auth="api_key"),
        Route("PATCH", one, "gemini.webhooks.update", h.update, auth="api_key"),
        Route("DELETE", one, "gemini.webhooks.delete", h.delete, auth="api_key"),
        Route("POST", one + ":rotateSigningSecret", "gemini.webhooks.rotate", h.rotate, auth="api_key"),
        Route("POST", one + ":ping", "gemini.webhooks.ping", h.ping, auth="api_key"),
        Route("GET", r"/\.well-known/jwks\.json", "gemini.jwks", h.jwks),
        Route("POST", r"/_emulator/webhooks/faults", "admin.webhooks.faults", h.faults),
        Route("GET", r"/_emulator/webhooks/faults", "admin.webhooks.faults_get", h.get_faults),
        Route("GET", r"/_emulator/webhooks/requested", "admin.webhooks.requested", h.requested),
        Route("POST", r"/_emulator/webhooks/jwks:rotate", "admin.webhooks.jwks_rotate", h.rotate_jwks),
        Route("GET", r"/_emulator/webhooks/deliveries", "admin.webhooks.deliveries", h.deliveries),
    ]
