"""Reading batch inputs: JSONL request files, GCS URIs (with wildcards) and BigQuery table rows.

Problems found here are *input errors*: the job is still created and FAILS when it would start running, with
an error naming the source and line (or row), as the real services fail a batch whose input they cannot read.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

from airflow_provider_genai_batch.emulator.state import GcsObject, RequestItem, Store

_TABLE_PART = re.compile(r"[\w:-]+")

__all__ = [
    "InputError",
    "parse_gcs_uri",
    "parse_request_lines",
    "parse_table_uri",
    "read_gcs_sources",
    "read_table_rows",
]


class InputError(Exception):
    """The batch input cannot be read; ``str(exc)`` names the source and the line or row."""


def parse_request_lines(data: bytes, source: str) -> list[RequestItem]:
    """Parse JSONL lines ``{"request": {...}, ...}``; other top-level fields (``key``...) go to ``extra``.

    Blank lines are skipped; line numbers in errors count from 1, blank lines included.
    """
    items: list[RequestItem] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source} line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        except UnicodeDecodeError:
            raise InputError(f"{source} line {number}: not valid UTF-8") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("request"), dict):
            raise InputError(f'{source} line {number}: expected a JSON object with a "request" object')
        items.append(RequestItem(request=obj["request"], extra={k: v for k, v in obj.items() if k != "request"}))
    return items


def parse_gcs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/path/name`` -> ``("bucket", "path/name")``; raises ``ValueError`` on anything else."""
    if not uri.startswith("gs://"):
        raise ValueError(f"{uri!r} is not a gs:// URI")
    bucket, _, name = uri[len("gs://") :].partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} has no bucket")
    return bucket, name


def read_gcs_sources(store: Store, uris: list[str]) -> list[RequestItem]:
    """The requests of every object named by ``uris`` (``*`` and ``?`` wildcards allowed), in order."""
    items: list[RequestItem] = []
    for uri in uris:
        bucket, pattern = parse_gcs_uri(uri)
        with store.lock:
            if any(c in pattern for c in "*?["):
                objects: list[GcsObject] = sorted(
                    (o for (b, n), o in store.objects.items() if b == bucket and fnmatch.fnmatchcase(n, pattern)),
                    key=lambda o: o.name,
                )
            else:
                obj = store.objects.get((bucket, pattern))
                objects = [obj] if obj else []
        if not objects:
            raise InputError(f"Input {uri} does not exist (no such GCS object).")
        for obj in objects:
            items.extend(parse_request_lines(obj.data, f"gs://{obj.bucket}/{obj.name}"))
    return items


def parse_table_uri(uri: str, *, min_parts: int = 3) -> list[str]:
    """``bq://project.dataset.table`` (or without ``bq://``) -> its dot-separated parts.

    Raises ``ValueError`` unless there are between ``min_parts`` and 3 parts of letters, digits, ``_``, ``-``
    (and ``:`` for domain-scoped projects).
    """
    parts = uri.removeprefix("bq://").split(".")
    if not min_parts <= len(parts) <= 3 or not all(_TABLE_PART.fullmatch(part) for part in parts):
        expected = "bq://project.dataset.table" if min_parts == 3 else "bq://project[.dataset[.table]]"
        raise ValueError(f"{uri!r} is not a BigQuery URI like {expected}")
    return parts


def _request_column(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def read_table_rows(store: Store, uri: str) -> list[RequestItem]:
    """The requests of a BigQuery table: its ``request`` column (an object or JSON text); other columns are
    carried through to the output rows."""
    key = ".".join(parse_table_uri(uri))
    with store.lock:
        rows = store.tables.get(key)
    if rows is None:
        raise InputError(f"BigQuery table bq://{key} was not found.")
    items: list[RequestItem] = []
    for number, row in enumerate(rows, start=1):
        request = _request_column(row.get("request"))
        if request is None:
            raise InputError(f'bq://{key} row {number}: the "request" column must hold a JSON object')
        items.append(RequestItem(request=request, extra={k: v for k, v in row.items() if k != "request"}))
    return items
