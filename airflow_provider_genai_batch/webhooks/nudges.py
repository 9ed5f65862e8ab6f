"""The shared record of verified deliveries: one Airflow Variable, written by the receiver, read by triggers.

Why a Variable (docs/ARCHITECTURE.md, "Webhooks: from the api-server to the trigger"): triggers run with the
metadata DB blocked (Airflow 3 forks the trigger runner with ``block_orm_access``); a Variable is what both sides
reach, the api-server through the ORM and a trigger through the Execution API (``Variable.get``). One Variable
holds every delivery of the last ``RETAIN_SECONDS`` (at most ``MAX_ENTRIES``), so one read per triggerer process
every ``POLL_SECONDS`` serves all the jobs it waits for. The same entries are the replay store shared by every
api-server worker: a ``webhook-id`` already recorded is a replay. Only job names, event types, delivery ids and
times are kept (no secret, no body).

Example::

    recorded = record_delivery("msg_1", "batches/abc", "batch.succeeded", "static", now=time.time())
    entries = parse_entries(Variable.get(VARIABLE_KEY, default=None))
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "MAX_ENTRIES",
    "RETAIN_SECONDS",
    "VARIABLE_KEY",
    "Entry",
    "merge_entry",
    "parse_entries",
    "record_delivery",
]

VARIABLE_KEY = "genai_batch_webhook_deliveries"
#: Kept at least twice the timestamp tolerance, so a replay within the window is always still recorded.
RETAIN_SECONDS = 900.0
#: A bound on the Variable's size (about 150 bytes an entry).
MAX_ENTRIES = 2000
_DESCRIPTION = (
    "Written by the genai-batch webhook receiver: verified deliveries of the last 15 minutes (job names only). "
    "Triggers read it to wake early; deleting it is harmless."
)


@dataclass(frozen=True)
class Entry:
    """One verified delivery: its id, the job it names (``None``: not a batch event), when we received it."""

    id: str
    job: str | None
    type: str
    via: str
    at: float


def parse_entries(value: str | None) -> list[Entry]:
    """The entries of the Variable's value; anything malformed is skipped (never trusted, never fatal)."""
    if not value:
        return []
    try:
        document = json.loads(value)
    except ValueError:
        return []
    raw = document.get("entries") if isinstance(document, dict) else None
    entries: list[Entry] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            job = item.get("job")
            entries.append(
                Entry(
                    str(item["id"]),
                    job if isinstance(job, str) else None,
                    str(item["type"]),
                    str(item["via"]),
                    float(item["at"]),
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    return entries


def merge_entry(value: str | None, entry: Entry, now: float) -> str | None:
    """The Variable's new value with ``entry`` added, or ``None`` when its id is already there (a replay)."""
    kept = [e for e in parse_entries(value) if e.at >= now - RETAIN_SECONDS]
    if any(e.id == entry.id for e in kept):
        return None
    kept.append(entry)
    return json.dumps({"v": 1, "entries": [asdict(e) for e in kept[-MAX_ENTRIES:]]}, separators=(",", ":"))


def record_delivery(webhook_id: str, job: str | None, event_type: str, via: str, *, now: float) -> bool:
    """Record a verified delivery in the Variable (row-locked read-modify-write); ``False`` for a replay.

    Runs in the api-server (it has the metadata DB); blocking: call it in a thread.
    """
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    entry = Entry(webhook_id, job, event_type, via, now)
    with create_session() as session:
        row: Any = session.scalar(select(Variable).where(Variable.key == VARIABLE_KEY).with_for_update())
        merged = merge_entry(row.val if row is not None else None, entry, now)
        if merged is None:
            return False
        if row is None:
            session.add(Variable(key=VARIABLE_KEY, val=merged, description=_DESCRIPTION))  # type: ignore[no-untyped-call]
        else:
            row.val = merged
    return True
