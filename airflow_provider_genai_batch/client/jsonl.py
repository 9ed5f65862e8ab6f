"""JSONL input files: validation with line numbers, and spooling requests to a bounded-memory buffer.

Example::

    with spool_requests(requests) as spooled:       # SpooledFile(file, size, count)
        upload(spooled.file, spooled.size)
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.wire.common import JsonDict, compact_json

SPOOL_MEMORY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SpooledFile:
    """A readable, seekable file of JSONL, with its size in bytes and its number of lines."""

    file: IO[bytes]
    size: int
    count: int


def request_line(request: JsonDict, index: int) -> bytes:
    """One input line ``{"key": ..., "request": {...}}``; the key defaults to the request's position."""
    metadata = request.get("metadata") or {}
    key = metadata.get("key", str(index))
    return compact_json({"key": key, "request": request["request"]}) + b"\n"


@contextmanager
def spool_requests(requests: Iterable[JsonDict]) -> Iterator[SpooledFile]:
    """Write wire-form requests as JSONL to a temporary file (in memory up to 16 MiB, then on disk)."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as buffer:
        size = count = 0
        for index, request in enumerate(requests):
            size += buffer.write(request_line(request, index))
            count += 1
        if count == 0:
            raise InvalidInputError("src", "holds no requests", "give at least one request")
        buffer.seek(0)
        yield SpooledFile(buffer, size, count)


@dataclass(frozen=True)
class JsonlFileCheck:
    """What validating a JSONL file found: its request lines, its size and the SHA-256 of its bytes."""

    count: int
    size: int
    sha256: str


def validate_jsonl_file(path: Path, field: str = "src") -> JsonlFileCheck:
    """Check every line of a JSONL input holds a JSON object with a ``request``; count, size and hash it.

    Reads the file once, line by line (bounded memory); the SHA-256 of the content is computed in that same
    pass, so a rewritten file gets a new idempotency key at no extra read. Blank lines are allowed.
    """
    count = size = 0
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            digest.update(raw)
            size += len(raw)
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
    return JsonlFileCheck(count, size, digest.hexdigest())
