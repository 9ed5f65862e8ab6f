"""Write result lines in request order whatever order they arrive in, in bounded memory.

Lines are written to a spool file as they arrive while ``(index, offset, length)`` is recorded per line in three
compact arrays (24 bytes a line: 24 MB for a million results). :meth:`IndexedSpool.copy_in_order` then copies
them out sorted by index, reading runs of adjacent lines in one go, or the spool as it is when the lines
arrived in order already (the usual case, and a local destination then needs no copy at all).

Example::

    with open("spool", "w+b") as handle:
        spool = IndexedSpool(handle)
        spool.add(1, b'{"index":1}\\n')
        spool.add(0, b'{"index":0}\\n')
        with open("out.jsonl", "wb") as out:
            spool.copy_in_order(out)   # line 0, then line 1
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterable, Iterator
from typing import IO

__all__ = ["COPY_CHUNK_BYTES", "IndexedSpool"]

COPY_CHUNK_BYTES = 1024 * 1024
# A dense slot table (8 bytes per possible index) is used while the largest index is at most this many times
# the number of lines (plus a little): indices 0..n-1, shuffled, are the expected case.
_DENSE_FACTOR = 4
_DENSE_SLACK = 1024


class IndexedSpool:
    """A binary spool file (opened ``w+b``) plus where each result line sits in it.

    ``in_order`` stays true while every index is greater than the one before: nothing needs reordering.
    Equal indices (which a well-behaved API never returns) keep their arrival order.
    """

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._indices = array("q")
        self._offsets = array("q")
        self._lengths = array("q")
        self._size = 0
        self.in_order = True

    def __len__(self) -> int:
        return len(self._indices)

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def add(self, index: int, line: bytes) -> None:
        """Append one line (with its newline) of result ``index``."""
        if self._indices and index <= self._indices[-1]:
            self.in_order = False
        self._handle.write(line)
        self._indices.append(index)
        self._offsets.append(self._size)
        self._lengths.append(len(line))
        self._size += len(line)

    def copy_in_order(self, out: IO[bytes]) -> None:
        """Write every line to ``out`` in index order."""
        self._handle.flush()
        descriptor = self._handle.fileno()
        if self.in_order:
            self._copy_range(descriptor, 0, self._size, out)
            return
        start = end = 0
        for line in self._order():
            offset, length = self._offsets[line], self._lengths[line]
            if offset == end and end - start < COPY_CHUNK_BYTES:
                end += length  # the next line in the spool too: read them together
                continue
            self._copy_range(descriptor, start, end - start, out)
            start, end = offset, offset + length
        self._copy_range(descriptor, start, end - start, out)

    @staticmethod
    def _copy_range(descriptor: int, offset: int, length: int, out: IO[bytes]) -> None:
        while length > 0:
            chunk = os.pread(descriptor, min(length, COPY_CHUNK_BYTES), offset)
            if not chunk:
                raise OSError(f"the results spool ended {length} bytes early (was it truncated?)")
            out.write(chunk)
            offset += len(chunk)
            length -= len(chunk)

    def _order(self) -> Iterable[int]:
        """Line numbers sorted by index, stable."""
        count = len(self._indices)
        if count == 0:
            return ()
        lowest, highest = min(self._indices), max(self._indices)
        if lowest >= 0 and highest < _DENSE_FACTOR * count + _DENSE_SLACK:
            slots = array("q", [-1]) * (highest + 1)
            for line, index in enumerate(self._indices):
                if slots[index] != -1:
                    break  # a repeated index: fall back to a stable sort
                slots[index] = line
            else:
                return _filled(slots)
        return sorted(range(count), key=self._indices.__getitem__)


def _filled(slots: array[int]) -> Iterator[int]:
    return (line for line in slots if line >= 0)
