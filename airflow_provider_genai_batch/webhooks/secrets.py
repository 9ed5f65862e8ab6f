"""Where static webhooks' signing secrets are kept for the receiver: a JSON Airflow Variable, by webhook id.

Why a Variable and not the receiver's connection: a task cannot write a connection in Airflow 3 (workers have no
metadata-DB access and the Execution API has no connection writes), and a signing secret is shown once, by the
API call the maintenance operator makes in a task; a Variable is what a task can write (``Variable.set`` through
the Execution API). Its key contains ``secret``, so Airflow masks its value in the UI and in logs, and Variables are
Fernet-encrypted at rest like connections. The receiver accepts a delivery signed with any secret of the Variable
or of its connection's password (secrets put there by hand).

Value: ``{"v": 1, "webhooks": {"<id>": ["whsec_new", "whsec_previous"]}}``.

Example::

    store = updated_secrets(current, "abc", "whsec_...", keep_previous=True)
"""

from __future__ import annotations

import json

__all__ = ["VARIABLE_KEY", "all_secrets", "removed_webhook", "updated_secrets"]

#: Contains "secret", so Airflow's secrets masker hides its value.
VARIABLE_KEY = "genai_batch_webhook_signing_secrets"


def _webhooks(value: str | None) -> dict[str, list[str]]:
    try:
        document = json.loads(value) if value else {}
    except ValueError:
        return {}
    raw = document.get("webhooks") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        return {}
    return {str(k): [s for s in v if isinstance(s, str)] for k, v in raw.items() if isinstance(v, list)}


def _dump(webhooks: dict[str, list[str]]) -> str:
    return json.dumps({"v": 1, "webhooks": webhooks}, separators=(",", ":"), sort_keys=True)


def all_secrets(value: str | None) -> tuple[str, ...]:
    """Every secret of every webhook (what the receiver verifies with)."""
    return tuple(s for secrets in _webhooks(value).values() for s in secrets)


def updated_secrets(value: str | None, webhook_id: str, secret: str, *, keep_previous: bool) -> str:
    """The value with ``secret`` as the webhook's newest; its latest previous one kept when ``keep_previous``
    (a rotation that revokes after 24 h: deliveries signed with either still verify)."""
    webhooks = _webhooks(value)
    previous = webhooks.get(webhook_id, [])[:1] if keep_previous else []
    webhooks[webhook_id] = [secret, *previous]
    return _dump(webhooks)


def removed_webhook(value: str | None, webhook_id: str) -> str:
    """The value without the webhook's secrets (after it was deleted)."""
    webhooks = _webhooks(value)
    webhooks.pop(webhook_id, None)
    return _dump(webhooks)
