"""Files a worker writes in a folder others may write too: created exclusively under an unpredictable name,
moved into place without following a link.

Whoever can write in a results or shard folder (another task, another user of the worker) can plant a symbolic
link under a name they expect us to open. So a temporary file is created with ``O_CREAT | O_EXCL |
O_NOFOLLOW`` under a name with a random part (``secrets.token_hex``), in the destination's own directory (so the
final rename stays on one file system and atomic), and put in place with ``os.replace``: a rename replaces a
link found at the final name (the link, never its target).

Example::

    temporary, handle = create_exclusive(folder, ".results.jsonl.gbw-ab12-t1-", ".part")
    with handle:
        handle.write(b"{}\\n")
    move_into_place(temporary, folder / "results.jsonl")
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO

__all__ = ["RANDOM_HEX", "create_exclusive", "move_into_place"]

#: Hex digits of the random part of a temporary name (64 bits).
RANDOM_HEX = 16
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_ATTEMPTS = 5


def create_exclusive(directory: Path, prefix: str, suffix: str) -> tuple[Path, BinaryIO]:
    """A new, empty file ``<prefix><random hex><suffix>`` in ``directory``, opened for reading and writing.

    It did not exist before (``O_EXCL``: an existing file or link under that name is an error, never opened),
    and the random part makes its name impossible to plant in advance. Mode 0666 less the umask, as
    ``open(..., "wb")`` would create it.
    """
    for _ in range(_ATTEMPTS):
        path = directory / f"{prefix}{secrets.token_hex(RANDOM_HEX // 2)}{suffix}"
        try:
            fd = os.open(path, _FLAGS, 0o666)
        except FileExistsError:  # 64 random bits taken: someone planted it, or an astronomically rare clash
            continue
        return path, os.fdopen(fd, "w+b")
    raise FileExistsError(f"could not create a new temporary file in {directory} after {_ATTEMPTS} attempts")


def move_into_place(temporary: Path, final: Path) -> None:
    """Rename ``temporary`` to ``final`` atomically; a symbolic link at ``final`` is replaced, not followed."""
    os.replace(temporary, final)
