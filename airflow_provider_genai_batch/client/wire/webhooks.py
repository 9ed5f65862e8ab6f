"""The Gemini API's WebhookService (static webhooks): requests and answers. Pure: no I/O.

Paths, verbs and snake_case fields as google-genai 3.3.0's ``_gaos/webhooks.py`` and ``_gaos/types/webhooks``:
``POST/GET {v}/webhooks``, ``GET/PATCH/DELETE {v}/webhooks/{id}`` (PATCH with the ``update_mask`` query),
``POST {v}/webhooks/{id}:rotateSigningSecret`` (body ``revocation_behavior``) and ``POST {v}/webhooks/{id}:ping``.
A create answers the webhook with its signing secret once (``new_signing_secret``); a rotation answers
``{"secret": ...}``. Vertex AI has no webhooks.

Example::

    request = build_create(settings, uri="https://airflow.example.com/genai-batch-webhooks/deliveries",
                           subscribed_events=["batch.succeeded"], name="nightly")
    registered = parse_registered(response.json())   # registered.secret is a SecretStr
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import SecretStr

from airflow_provider_genai_batch.client.errors import InvalidInputError, InvalidResponseError
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.wire.common import ApiRequest, JsonDict, join_url, page_params

__all__ = [
    "BATCH_EVENTS",
    "REVOCATION_BEHAVIORS",
    "RegisteredWebhook",
    "RevocationBehavior",
    "Webhook",
    "build_create",
    "build_delete",
    "build_get",
    "build_list",
    "build_ping",
    "build_rotate",
    "build_update",
    "check_events",
    "check_uri",
    "parse_list",
    "parse_registered",
    "parse_rotated",
    "parse_webhook",
    "webhook_id",
]

#: What a batch pipeline subscribes to (``WebhookSubscribedEvent`` of google-genai 3.3.0).
BATCH_EVENTS = ("batch.succeeded", "batch.failed", "batch.expired")
RevocationBehavior = Literal["revoke_previous_secrets_after_h24", "revoke_previous_secrets_immediately"]
REVOCATION_BEHAVIORS: tuple[str, ...] = ("revoke_previous_secrets_after_h24", "revoke_previous_secrets_immediately")
#: The states a webhook can be set to (``WebhookUpdateState`` of google-genai 3.3.0, less the API's own
#: ``disabled_due_to_failed_deliveries``).
WEBHOOK_STATES: tuple[str, ...] = ("enabled", "disabled")
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_EVENT = re.compile(r"[a-z_]{1,40}\.[a-z_]{1,40}")


@dataclass(frozen=True)
class Webhook:
    """A static webhook as the API describes it (never a secret: only the truncated ones it shows)."""

    id: str
    uri: str
    subscribed_events: tuple[str, ...]
    name: str | None = None
    state: str | None = None
    create_time: str | None = None
    update_time: str | None = None
    truncated_secrets: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (what the maintenance operator returns)."""
        return {
            "id": self.id,
            "name": self.name,
            "uri": self.uri,
            "subscribed_events": list(self.subscribed_events),
            "state": self.state,
            "create_time": self.create_time,
            "update_time": self.update_time,
            "truncated_secrets": list(self.truncated_secrets),
        }


@dataclass(frozen=True)
class RegisteredWebhook:
    """A webhook just created, with the signing secret the API shows this once (hidden in ``repr``)."""

    webhook: Webhook
    secret: SecretStr = field(repr=False)


def _gemini_only(settings: ClientSettings) -> None:
    if settings.backend != "gemini":
        raise InvalidInputError(
            "backend", "Vertex AI has no batch webhooks", "use a Gemini API connection for webhooks"
        )


def _api(settings: ClientSettings, path: str) -> str:
    _gemini_only(settings)
    return join_url(settings.effective_base_url, settings.effective_api_version, path)


def webhook_id(value: Any, field_name: str = "webhook_id") -> str:
    """A webhook's id (``abc`` or ``webhooks/abc``), checked before it goes into a URL."""
    text = value.removeprefix("webhooks/") if isinstance(value, str) else value
    if not isinstance(text, str) or not _ID.fullmatch(text):
        raise InvalidInputError(field_name, f"{value!r} is not a webhook id", "pass the id that register/list gave")
    return text


def check_uri(uri: Any) -> str:
    """The delivery URL: ``https://`` (``http://`` only to a loopback host, for the emulator and tests)."""
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")) or len(uri) > 2048:
        raise InvalidInputError("uri", f"{uri!r} is not an http(s) URL", "pass the receiver's public https URL")
    host = uri.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    if uri.startswith("http://") and host not in ("127.0.0.1", "localhost", "[::1]"):
        raise InvalidInputError("uri", "Google delivers only to https URLs", "use https://<api-server>/...")
    return uri


def check_events(events: Any) -> list[str]:
    """A non-empty list of event names such as ``batch.succeeded``."""
    if isinstance(events, str) or not isinstance(events, Sequence) or not events:
        problem = f"{events!r} is not a list of events"
        raise InvalidInputError("subscribed_events", problem, f"pass {list(BATCH_EVENTS)}")
    for event in events:
        if not isinstance(event, str) or not _EVENT.fullmatch(event):
            raise InvalidInputError("subscribed_events", f"{event!r} is not an event name", "e.g. 'batch.succeeded'")
    return list(dict.fromkeys(events))


def build_create(
    settings: ClientSettings, *, uri: str, subscribed_events: Sequence[str], name: str | None = None
) -> ApiRequest:
    """POST ``webhooks``. Never blindly re-sent: a second create registers a second webhook."""
    body: JsonDict = {"uri": check_uri(uri), "subscribed_events": check_events(subscribed_events)}
    if name:
        body["name"] = name
    return ApiRequest("POST", _api(settings, "webhooks"), json=body, idempotent=False)


def build_list(settings: ClientSettings, page_size: int | None = None, page_token: str | None = None) -> ApiRequest:
    """GET ``webhooks?page_size=&page_token=``."""
    return ApiRequest("GET", _api(settings, "webhooks"), params=page_params(page_size, page_token, snake_case=True))


def build_get(settings: ClientSettings, id_: str) -> ApiRequest:
    """GET ``webhooks/{id}``."""
    return ApiRequest("GET", _api(settings, f"webhooks/{webhook_id(id_)}"))


def build_delete(settings: ClientSettings, id_: str) -> ApiRequest:
    """DELETE ``webhooks/{id}``."""
    return ApiRequest("DELETE", _api(settings, f"webhooks/{webhook_id(id_)}"))


def build_update(
    settings: ClientSettings,
    id_: str,
    *,
    uri: str | None = None,
    subscribed_events: Sequence[str] | None = None,
    name: str | None = None,
    state: str | None = None,
) -> ApiRequest:
    """PATCH ``webhooks/{id}?update_mask=...``: only the fields given, named in the mask (at least one)."""
    body: JsonDict = {}
    if uri is not None:
        body["uri"] = check_uri(uri)
    if subscribed_events is not None:
        body["subscribed_events"] = check_events(subscribed_events)
    if name is not None:
        body["name"] = name
    if state is not None:
        if state not in WEBHOOK_STATES:
            raise InvalidInputError(
                "state", f"{state!r} is not a state you can set", f"use one of {list(WEBHOOK_STATES)}"
            )
        body["state"] = state
    if not body:
        raise InvalidInputError(
            "update", "no field to change", "pass at least one of uri, subscribed_events, name, state"
        )
    url = _api(settings, f"webhooks/{webhook_id(id_)}")
    return ApiRequest("PATCH", url, json=body, params={"update_mask": ",".join(body)})


def build_rotate(settings: ClientSettings, id_: str, revocation_behavior: str | None = None) -> ApiRequest:
    """POST ``webhooks/{id}:rotateSigningSecret``. Not re-sent: each call makes a new secret."""
    if revocation_behavior is not None and revocation_behavior not in REVOCATION_BEHAVIORS:
        raise InvalidInputError(
            "revocation_behavior", f"{revocation_behavior!r} is not known", f"use one of {list(REVOCATION_BEHAVIORS)}"
        )
    body: JsonDict = {"revocation_behavior": revocation_behavior} if revocation_behavior else {}
    url = _api(settings, f"webhooks/{webhook_id(id_)}:rotateSigningSecret")
    return ApiRequest("POST", url, json=body, idempotent=False)


def build_ping(settings: ClientSettings, id_: str) -> ApiRequest:
    """POST ``webhooks/{id}:ping``: Google sends a signed test delivery to the webhook's URL."""
    return ApiRequest("POST", _api(settings, f"webhooks/{webhook_id(id_)}:ping"), json={})


def _str(body: JsonDict, name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None


def parse_webhook(body: JsonDict) -> Webhook:
    """A ``Webhook`` from the API's answer (``new_signing_secret`` is ignored here: see ``parse_registered``)."""
    id_, uri, events = body.get("id"), body.get("uri"), body.get("subscribed_events")
    if not isinstance(id_, str) or not isinstance(uri, str) or not isinstance(events, list):
        raise InvalidResponseError("a webhook without id, uri or subscribed_events")
    secrets = body.get("signing_secrets")
    truncated = tuple(
        str(s["truncated_secret"])
        for s in (secrets if isinstance(secrets, list) else [])
        if isinstance(s, dict) and isinstance(s.get("truncated_secret"), str)
    )
    return Webhook(
        id=id_,
        uri=uri,
        subscribed_events=tuple(str(e) for e in events),
        name=_str(body, "name"),
        state=_str(body, "state"),
        create_time=_str(body, "create_time"),
        update_time=_str(body, "update_time"),
        truncated_secrets=truncated,
    )


def parse_registered(body: JsonDict) -> RegisteredWebhook:
    """The created webhook and its signing secret (required: it is shown only now)."""
    secret = body.get("new_signing_secret")
    if not isinstance(secret, str) or not secret:
        raise InvalidResponseError("the webhook create answered no new_signing_secret")
    return RegisteredWebhook(parse_webhook(body), SecretStr(secret))


def parse_rotated(body: JsonDict) -> SecretStr:
    """The new signing secret of a rotation."""
    secret = body.get("secret")
    if not isinstance(secret, str) or not secret:
        raise InvalidResponseError("the signing secret rotation answered no secret")
    return SecretStr(secret)


def parse_list(body: JsonDict) -> tuple[list[Webhook], str | None]:
    """One page of webhooks and the next page's token."""
    raw = body.get("webhooks")
    webhooks = [parse_webhook(w) for w in (raw if isinstance(raw, list) else []) if isinstance(w, dict)]
    token = _str(body, "next_page_token")
    return webhooks, token or None
