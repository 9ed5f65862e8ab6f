"""JSONL input files: validation with line numbers, stamping a user's file while it is read, and spooling
requests to a bounded-memory buffer.

Example::

    with spool_requests(requests) as spooled:       # SpooledFile(file, size, count, sha256)
        upload(spooled.file, spooled.size)
    check = validate_jsonl_file(path)               # JsonlFileCheck(count, size, sha256, stamped_size)
    upload(StampedJsonlFile(path, check.stamped_size), check.stamped_size)
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.wire.common import JsonDict, compact_json
from airflow_provider_genai_batch.client.wire.stamp import stamp_line, stamp_metadata

SPOOL_MEMORY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SpooledFile:
    """A readable, seekable file of JSONL, with its size in bytes, its number of lines and its SHA-256 (hex)."""

    file: IO[bytes]
    size: int
    count: int
    sha256: str


def request_line(request: JsonDict, index: int) -> bytes:
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
      text-bison JSONL line was dropped.

    So the stamp sits in ``metadata`` (one rule for inline and file results alike); a Vertex row without it is
    matched by the digest of its echoed ``request`` against the input (``wire/stamp.request_digest``). Nothing is
    written into the request itself: no per-request label (Google advises against a unique label value per call).
    """
    user_metadata = request.get("metadata")
    key = (user_metadata or {}).get("key", str(index))
    metadata = stamp_metadata(user_metadata, index, f"src[{index}]")
    return compact_json({"key": key, "request": request["request"], "metadata": metadata}) + b"\n"


@contextmanager
def spool_requests(requests: Iterable[JsonDict]) -> Iterator[SpooledFile]:
    """Write wire-form requests as JSONL lines stamped with their index (``request_line``) to a temporary file
    (in memory up to 16 MiB, then on disk), hashing them as they are written."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as buffer:
        size = count = 0
        digest = hashlib.sha256()
        for index, request in enumerate(requests):
            line = request_line(request, index)
            digest.update(line)
            size += buffer.write(line)
            count += 1
        if count == 0:
            raise InvalidInputError("src", "holds no requests", "give at least one request")
        buffer.seek(0)
        yield SpooledFile(buffer, size, count, digest.hexdigest())


@dataclass(frozen=True)
class JsonlFileCheck:
    """What validating a JSONL file found: its request lines, its size and the SHA-256 of its bytes, and the size
    of the file once every request line is stamped (``stamped_lines``)."""

    count: int
    size: int
    sha256: str
    stamped_size: int = 0


def _parsed_lines(handle: IO[bytes], path: Path, field: str) -> Iterator[tuple[bytes, str | None, Any]]:
    """``(raw bytes, text, parsed line)`` of every line, checked; text and line are None for a blank line."""
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            yield raw, None, None
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{field} line {number}",
                f"is not UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line)",
                f"save {path.name} as UTF-8 (JSONL files are UTF-8)",
            ) from None
        try:
            line = json.loads(text.lstrip("\ufeff") if number == 1 else text)
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
            raise InvalidInputError(f"{field} line {number}.key", f"is a {type(key).__name__}", "keys must be strings")
        yield raw, text, line


def stamped_lines(handle: IO[bytes], path: Path, field: str = "src") -> Iterator[tuple[bytes, bytes | None]]:
    """``(raw line, stamped line)`` for every line of a JSONL file (None for a blank line, which is dropped when
    stamped): each request line gets its index among the request lines (``wire/stamp.stamp_line``)."""
    index = 0
    for number, (raw, text, line) in enumerate(_parsed_lines(handle, path, field), start=1):
        if text is None:
            yield raw, None
            continue
        yield raw, stamp_line(text, line, index, f"{field} line {number}")
        index += 1


def validate_jsonl_file(path: Path, field: str = "src") -> JsonlFileCheck:
    """Check every line of a JSONL input is UTF-8 and holds a JSON object with a ``request``; count, size and hash
    it, and size its stamped form.

    Reads the file once, line by line (bounded memory); the SHA-256 of the content is computed in that same
    pass, so a rewritten file gets a new idempotency key at no extra read. Blank lines are allowed.
    """
    count = size = stamped = 0
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for raw, line in stamped_lines(handle, path, field):
            digest.update(raw)
            size += len(raw)
            if line is not None:
                stamped += len(line)
                count += 1
    if count == 0:
        raise InvalidInputError(field, f"{path} holds no requests", "give a JSONL file with one request per line")
    return JsonlFileCheck(count, size, digest.hexdigest(), stamped)


class StampedJsonlFile(io.RawIOBase):
    """A user's JSONL file as its stamped lines (``stamped_lines``), read like a file of ``size`` bytes: what an
    upload streams, without a copy on disk. The file is opened on the first read; ``seek`` forward skips, and
    ``seek`` back (an upload resuming from what the server stored, rare) reads again from the start.

    ``size`` is ``validate_jsonl_file(path).stamped_size``; a file that no longer gives that many bytes (it was
    changed since it was validated) raises InvalidInputError instead of sending something else.
    """

    def __init__(self, path: Path, size: int, field: str = "src") -> None:
        super().__init__()
        self._path, self._size, self._field = path, size, field
        self._handle: IO[bytes] | None = None
        self._lines: Iterator[tuple[bytes, bytes | None]] | None = None
        self._pending = b""
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._position + offset, io.SEEK_END: self._size + offset}[whence]
        if target < self._position:
            self._restart()
        while self._position < target:
            if not self.read(min(target - self._position, 1024 * 1024)):
                break
        return self._position

    def _restart(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle = self._lines = None
        self._pending, self._position = b"", 0

    def _changed(self) -> InvalidInputError:
        return InvalidInputError(
            self._field, f"{self._path} changed while it was being uploaded", "do not rewrite an input file in use"
        )

    def read(self, size: int = -1) -> bytes:
        if self._lines is None:
            self._handle = self._path.open("rb")
            self._lines = stamped_lines(self._handle, self._path, self._field)
        wanted = self._size - self._position if size is None or size < 0 else size
        parts, have = [self._pending], len(self._pending)
        while have < wanted:
            stamped = next((line for _, line in self._lines if line is not None), None)
            if stamped is None:
                break
            parts.append(stamped)
            have += len(stamped)
        data = b"".join(parts)
        chunk, self._pending = data[:wanted], data[wanted:]
        self._position += len(chunk)
        if self._position > self._size or (len(chunk) < wanted and self._position < self._size):
            raise self._changed()
        if self._position == self._size and chunk and (self._pending or self._more_lines()):
            raise self._changed()  # it grew: what was validated is not what would be sent
        return chunk

    def _more_lines(self) -> bool:
        return self._lines is not None and any(line is not None for _, line in self._lines)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        super().close()
