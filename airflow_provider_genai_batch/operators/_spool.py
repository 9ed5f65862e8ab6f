"""A streamed ``src`` (a generator or any one-pass iterable of requests) spooled before its key is computed.

A generator can be read once, and the idempotency key must know what it yields before the look-up by key:
otherwise a cleared run whose generator now yields other requests would reattach to the old job and return
stale answers. :func:`spool_stream` reads the stream once, before anything else, into a temporary file (in
memory up to 16 MiB, then an unnamed file on disk: no path another process could open), hashing a canonical
form of each request as it goes (``policy.idempotency.canonical_bytes``); the replay it returns is what the
client then reads, as many times as a create is sent. The requests are stored with ``pickle`` (they may be
google-genai or pydantic objects holding bytes) and only ever read back by the process that wrote them.

Example::

    with spool_stream(src) as spooled:
        if spooled is not None:
            src, identity = spooled.replay, spooled.identity   # identity = {"stream": {"sha256": ..., "count": n}}
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from airflow_provider_genai_batch.policy.idempotency import canonical_bytes

__all__ = ["SpooledStream", "is_stream", "spool_stream"]

SPOOL_MEMORY_BYTES = 16 * 1024 * 1024


def is_stream(src: Any) -> bool:
    """Whether the client would stream ``src`` (``client.sources.resolve_source``'s last case): an iterable that
    is not a string, bytes, path, mapping, model, list or tuple."""
    if isinstance(src, str | bytes | bytearray | os.PathLike | Mapping | list | tuple):
        return False
    if callable(getattr(src, "model_dump", None)):
        return False
    return isinstance(src, Iterable)


class _Replay:
    """The spooled requests, read back in order; iterable again for every create sent."""

    def __init__(self, buffer: IO[bytes], count: int) -> None:
        self._buffer = buffer
        self._count = count

    def __iter__(self) -> Iterator[Any]:
        self._buffer.seek(0)
        for _ in range(self._count):
            yield pickle.load(self._buffer)  # noqa: S301 - written by this process, to an unnamed file


@dataclass(frozen=True)
class SpooledStream:
    """A stream read once: what the client reads (``replay``) and what the key covers (``identity``)."""

    replay: Iterable[Any]
    identity: dict[str, Any]


@contextmanager
def spool_stream(src: Any, field: str = "src") -> Iterator[SpooledStream | None]:
    """Spool ``src`` when it is a stream (``None`` otherwise), hashing its requests; the file goes at exit."""
    if not is_stream(src):
        yield None
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as buffer:
        digest = hashlib.sha256()
        count = 0
        for item in src:
            digest.update(canonical_bytes(item) + b"\n")
            pickle.dump(item, buffer, protocol=pickle.HIGHEST_PROTOCOL)
            count += 1
        if count == 0:
            from airflow_provider_genai_batch.client.errors import InvalidInputError

            raise InvalidInputError(field, "yielded no requests", "give at least one request")
        yield SpooledStream(
            _Replay(buffer, count),
            {"stream": {"sha256": digest.hexdigest(), "count": count}},
        )
