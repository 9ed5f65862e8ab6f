"""Cutting requests into shards within one job's limits: the pure part of the split, shared by a local split
(``sharding.split_jsonl``) and a ``gs://`` split (``_gcs_shards.split_gcs_object``). No I/O of its own: shards are
written through a :class:`ShardSink` the caller gives.

Example::

    limits = ShardLimits.of("gemini", max_requests=2)
    split_requests(["a", "b", "c"], limits)          # [["a", "b"], ["c"]]
    cut_lines(open("requests.jsonl", "rb"), limits, sink)   # the shard count; each line stamped in its shard
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from airflow_provider_genai_batch.operators._inputs import OperatorInputError

__all__ = ["LIMITS", "ShardFile", "ShardLimits", "ShardSink", "cut_lines", "split_requests"]

#: Per-job limits by backend: (requests, bytes of a list of requests, bytes of a JSONL file). None: no limit.
#: Decimal units, at or under Google's figures: Gemini API 20 MB inline, 2 GB input file; Vertex AI 1 GB input
#: (documented for embedding batch jobs). Vertex's 200,000 requests is a conservative choice: no Google page text
#: with a per-job request count for Gemini generate-content jobs was found (``docs/BIG_JOBS.md``, Per-job limits).
LIMITS: dict[str, tuple[int | None, int, int]] = {
    "gemini": (None, 20_000_000, 2_000_000_000),
    "vertex": (200_000, 1_000_000_000, 1_000_000_000),
}


class ShardLimits:
    """The requests and bytes one shard may hold.

    Example::

        ShardLimits.of("gemini", max_requests=4).requests    # 4
    """

    def __init__(self, requests: int | None, list_bytes: int, file_bytes: int, name: str) -> None:
        self.requests = requests
        self.list_bytes = list_bytes
        self.file_bytes = file_bytes
        self.name = name

    @classmethod
    def of(cls, limits: Any, max_requests: Any = None, max_bytes: Any = None) -> ShardLimits:
        """The limits of ``limits`` ("gemini" or "vertex"), lowered by the two settings when given."""
        if limits not in LIMITS:
            raise OperatorInputError("limits", f"is {limits!r}", "use 'gemini' or 'vertex' (the backend's limits)")
        requests, list_bytes, file_bytes = LIMITS[limits]
        for field, value in (("max_shard_requests", max_requests), ("max_shard_bytes", max_bytes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise OperatorInputError(field, f"must be a whole number >= 1, got {value!r:.80}", "e.g. 1000")
        if max_requests is not None:
            requests = max_requests if requests is None else min(requests, max_requests)
        if max_bytes is not None:
            list_bytes, file_bytes = min(list_bytes, max_bytes), min(file_bytes, max_bytes)
        return cls(requests, list_bytes, file_bytes, str(limits))


def _size(request: Any, index: int) -> int:
    try:
        return len(json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise OperatorInputError(f"src[{index}]", f"is not JSON-serialisable ({exc})", "pass JSON values") from None


def _too_big(field: str, size: int, limit: int, limits: ShardLimits) -> OperatorInputError:
    return OperatorInputError(
        field,
        f"is {size} bytes, more than one {limits.name} job takes ({limit} bytes per shard)",
        "make the request smaller (upload large media and refer to it by URI), or raise max_shard_bytes if the "
        "backend allows it",
    )


def split_requests(requests: Sequence[Any], limits: ShardLimits) -> list[list[Any]]:
    """Consecutive shards of a list of requests, each within ``limits`` (a too big request is an error)."""
    shards: list[list[Any]] = []
    current: list[Any] = []
    current_bytes = 0
    for index, request in enumerate(requests):
        size = _size(request, index)
        if size > limits.list_bytes:
            raise _too_big(f"src[{index}]", size, limits.list_bytes, limits)
        full = limits.requests is not None and len(current) >= limits.requests
        if current and (full or current_bytes + size > limits.list_bytes):
            shards.append(current)
            current, current_bytes = [], 0
        current.append(request)
        current_bytes += size
    if current:
        shards.append(current)
    return shards


def _stamped_line(raw: bytes, number: int, index: int) -> bytes:
    """A JSONL input line with ``metadata.genai_batch_index`` = its index in its shard, so each shard's results
    are attributed by stamp whatever order the service returns them in (``client/wire/stamp.py``); a Vertex row
    that does not echo it is matched by its echoed ``request`` against the shard (no per-request label)."""
    from airflow_provider_genai_batch.client.wire.stamp import stamp_metadata

    field = f"src line {number + 1}"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OperatorInputError(field, f"is not JSON ({exc})", "write one JSON object per line") from None
    if not isinstance(data, dict):
        raise OperatorInputError(field, f"is a {type(data).__name__}", "write one JSON object per line")
    data["metadata"] = stamp_metadata(data.get("metadata"), index, field)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class ShardFile:
    """A shard being written: its temporary file and the hash of the bytes written so far."""

    def __init__(self, path: Path, handle: BinaryIO, digest: Any) -> None:
        self.path, self.handle, self.digest = path, handle, digest

    def write(self, data: bytes) -> int:
        """Write ``data`` and add it to the hash."""
        self.digest.update(data)
        return self.handle.write(data)


class ShardSink(Protocol):
    """Where :func:`cut_lines` writes shards: ``open`` a shard's file, ``close`` it once it is full."""

    def open(self, number: int) -> ShardFile:
        """A new file for shard ``number``."""

    def close(self, number: int, out: ShardFile, lines: int) -> None:
        """Shard ``number`` is complete: ``lines`` lines were written to ``out``."""


def cut_lines(lines: Iterable[bytes], limits: ShardLimits, sink: ShardSink) -> int:
    """Write JSONL ``lines`` into consecutive shards within ``limits``, stamping each line with its index in its
    shard; blank lines are skipped (but counted, so errors name the line's number). Returns the shard count.

    The bytes depend only on the input and the limits, so a second run writes the same shards.
    """
    out: ShardFile | None = None
    shards = count = size = 0
    for number, raw in enumerate(lines):
        if not raw.strip():
            continue
        line = _stamped_line(raw, number, count if out is not None else 0)
        if len(line) > limits.file_bytes:
            raise _too_big(f"src line {number + 1}", len(line), limits.file_bytes, limits)
        full = limits.requests is not None and count >= limits.requests
        if out is not None and (full or size + len(line) > limits.file_bytes):
            sink.close(shards, out, count)
            shards, out = shards + 1, None
            line = _stamped_line(raw, number, 0)  # the first line of the next shard
        if out is None:
            out, count, size = sink.open(shards), 0, 0
        out.write(line)
        count += 1
        size += len(line)
    if out is not None:
        sink.close(shards, out, count)
        shards += 1
    return shards
