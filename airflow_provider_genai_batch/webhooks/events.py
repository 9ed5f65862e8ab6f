"""A verified delivery's body, reduced to the one thing we use: "job X may have ended". Pure.

Event payloads (https://ai.google.dev/gemini-api/docs/webhooks; write-ups in docs/WEBHOOKS.md) look like
``{"type": "batch.succeeded", "version": "v1", "timestamp": "...", "data": {"id": "...", ...}}``. We read the
type and the batch's name (``data.name`` or ``data.id``, given with or without ``batches/``), nothing else: the
job's state is always read from the API before any task acts on it.

Example::

    job_from_event(b'{"type": "batch.succeeded", "data": {"id": "batches/abc"}}')   # ('batch.succeeded', 'batches/abc')
"""

from __future__ import annotations

import json
import re

__all__ = ["BATCH_EVENTS", "MAX_BODY", "job_from_event"]

#: The batch events of the Gemini API (``WebhookSubscribedEvent`` in google-genai 3.3.0; ``batch.cancelled`` in
#: the JS SDK's type).
BATCH_EVENTS = frozenset({"batch.succeeded", "batch.failed", "batch.expired", "batch.cancelled"})
#: Larger bodies are refused before they are read in full.
MAX_BODY = 64 * 1024
_BATCH_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,127}")


def job_from_event(body: bytes) -> tuple[str, str | None]:
    """The event type and the batch job's name (``None`` when the event is not about a batch job)."""
    try:
        event = json.loads(body)
    except ValueError:
        return "unparsable", None
    if not isinstance(event, dict):
        return "unparsable", None
    kind = event.get("type")
    kind = kind if isinstance(kind, str) and len(kind) <= 64 else "unknown"
    data = event.get("data")
    if kind not in BATCH_EVENTS or not isinstance(data, dict):
        return kind, None
    for field in ("name", "id", "batch"):
        value = data.get(field)
        if isinstance(value, str):
            bare = value.removeprefix("batches/")
            if _BATCH_ID.fullmatch(bare):
                return kind, f"batches/{bare}"
    return kind, None
