"""JSONL input files: validation with line numbers, and spooling requests to a bounded-memory buffer.

Example::

    with spool_requests(requests) as spooled:       # SpooledFile(file, size, count)
        upload(spooled.file, spooled.size)
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.wire.common import JsonDict, compact_json
from airflow_provider_genai_batch.client.wire.stamp import stamp_metadata

SPOOL_MEMORY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SpooledFile:
    """A readable, seekable file of JSONL, with its size in bytes and its number of lines."""

    file: IO[bytes]
    size: int
    count: int


def request_line(request: JsonDict, index: int) -> bytes:
    """One input line ``{"key": ..., "request": {...}, "metadata": {...the user's..., "genai_batch_index": "3"}}``.

    The key is the user's ``metadata.key``, else the request's position. Both services echo these fields next to
    each result: the Gemini API echoes ``key`` (documented) and the line's other top-level fields (seen in
    googleapis/go-genai#513: a line's extra fields came back in the responses file); Vertex AI batch prediction
    writes each output row as the input line's fields plus ``status``/``processed_time``/``request``/``response``
    (the "input columns plus response and status" of its BigQuery output; for JSONL, third parties report only
    request/response pairs, googleapis/python-aiplatform#2621 for the old text models and BerriAI/litellm#14044,
    so a Vertex job whose output lines lose ``metadata`` fails loudly on read instead of being attributed by
    position). The stamp lives inside ``metadata``, as for inline requests, so one rule reads every format.
    """
    user_metadata = request.get("metadata")
    key = (user_metadata or {}).get("key", str(index))
    metadata = stamp_metadata(user_metadata, index, f"src[{index}]")
    return compact_json({"key": key, "request": request["request"], "metadata": metadata}) + b"\n"


@contextmanager
def spool_requests(requests: Iterable[JsonDict]) -> Iterator[SpooledFile]:
    """Write wire-form requests as JSONL lines stamped with their index (``request_line``) to a temporary file
    (in memory up to 16 MiB, then on disk)."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as buffer:
        size = count = 0
        for index, request in enumerate(requests):
            size += buffer.write(request_line(request, index))
            count += 1
        if count == 0:
            raise InvalidInputError("src", "holds no requests", "give at least one request")
        buffer.seek(0)
        yield SpooledFile(buffer, size, count)


def validate_jsonl_file(path: Path, field: str = "src") -> tuple[int, int]:
    """Check every line of a JSONL input holds a JSON object with a ``request``; return (lines, bytes).

    Reads the file once, line by line (bounded memory). Blank lines are allowed.
    """
    count = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(
                    f"{field} line {number}", f"is not valid JSON ({exc.msg})", f"fix line {number} of {path}"
                ) from None
            if not isinstance(line, dict) or not isinstance(line.get("request"), dict):
                raise InvalidInputError(
                    f"{field} line {number}",
                    "has no 'request' object",
                    'each line must look like {"key": "id-1", "request": {"contents": [...]}}',
                )
            key = line.get("key")
            if key is not None and not isinstance(key, str):
                raise InvalidInputError(
                    f"{field} line {number}.key", f"is a {type(key).__name__}", "keys must be strings"
                )
            count += 1
    if count == 0:
        raise InvalidInputError(field, f"{path} holds no requests", "give a JSONL file with one request per line")
    return count, path.stat().st_size
