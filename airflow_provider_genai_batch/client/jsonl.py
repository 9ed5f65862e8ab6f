"""JSONL input files: validation with line numbers, and spooling requests to a bounded-memory buffer.

Example::

    with spool_requests(requests) as spooled:       # SpooledFile(file, size, count, sha256)
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
from airflow_provider_genai_batch.client.wire.stamp import stamp_metadata, stamp_request_labels

SPOOL_MEMORY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SpooledFile:
    """A readable, seekable file of JSONL, with its size in bytes, its number of lines and its SHA-256 (hex)."""

    file: IO[bytes]
    size: int
    count: int
    sha256: str


def request_line(request: JsonDict, index: int, *, label_stamp: bool = False) -> bytes:
    """One input line ``{"key": ..., "request": {...}, "metadata": {...the user's..., "genai_batch_index": "3"}}``:
    the user's key (``metadata.key``, else the position), the request, and the user's whole metadata with the
    index stamp (``wire/stamp.py``). The user's ``request`` dict is not changed.

    Which fields come back next to each result (searched December 2026):

    - Gemini responses file: ``key`` is echoed (Gemini batch docs, "key is echoed into the output"); other
      top-level fields of a line are echoed too (googleapis/go-genai#513 shows them in the output file, with
      arrays emptied by a bug: our ``metadata`` holds only strings).
    - Vertex AI batch prediction: each output row repeats ``request`` and adds ``status``, ``processed_time`` and
      ``response`` (Vertex "batch prediction from Cloud Storage" docs); a BigQuery output keeps the input columns.
      That extra top-level fields of a JSONL line are echoed is NOT confirmed by Google: BerriAI/litellm#14044
      reports only request/response pairs (no custom id), googleapis/python-aiplatform#2621 that an id in a
      text-bison JSONL line was dropped, and litellm (PR #25627) and bifrost (PR #4152) carry their id in the
      request's ``labels`` instead (Google advises against a unique label value per call).

    So the stamp sits in ``metadata`` (one rule for inline and file results alike) and, on lines staged for
    Vertex AI (``label_stamp``), also in the request's own ``labels`` (a field of Vertex's published
    GenerateContentRequest), because every output row repeats ``request``: results stay attributed even if
    Vertex drops the extra top-level fields (then the user's metadata is what is lost, and only it). Reading
    fails with ``InvalidResponseError`` when neither stamp is there, instead of attributing by position.
    """
    user_metadata = request.get("metadata")
    key = (user_metadata or {}).get("key", str(index))
    metadata = stamp_metadata(user_metadata, index, f"src[{index}]")
    body = stamp_request_labels(request["request"], index, f"src[{index}]") if label_stamp else request["request"]
    return compact_json({"key": key, "request": body, "metadata": metadata}) + b"\n"


@contextmanager
def spool_requests(requests: Iterable[JsonDict], *, label_stamp: bool = False) -> Iterator[SpooledFile]:
    """Write wire-form requests as JSONL lines stamped with their index (``request_line``) to a temporary file
    (in memory up to 16 MiB, then on disk), hashing them as they are written."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as buffer:
        size = count = 0
        digest = hashlib.sha256()
        for index, request in enumerate(requests):
            line = request_line(request, index, label_stamp=label_stamp)
            digest.update(line)
            size += buffer.write(line)
            count += 1
        if count == 0:
            raise InvalidInputError("src", "holds no requests", "give at least one request")
        buffer.seek(0)
        yield SpooledFile(buffer, size, count, digest.hexdigest())


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
