"""Where the results writer writes: a local path or an object-storage URL, replaced whole or not at all.

What each store guarantees:

- A local path: lines go to a temporary file beside the destination, which is flushed, fsynced and renamed
  over it (``os.replace``, atomic on one file system). Until then the previous file stays as it was.
- ``file://`` and other object stores (``s3://``, ``gs://``...): lines are spooled to a local temporary file
  (in ``TMPDIR``) while they download, so a failed download never touches the store. The spool is then written
  to a temporary object beside the destination and moved into place: ``file://`` renames (atomic); S3 and GCS
  copy server side (the destination object appears whole or not at all) and delete the temporary object.
  A failure removes the temporary object. A worker killed at the wrong moment can leave one behind: the next
  try of the same task instance removes it.

Temporary names are ``.<name>.gbw-<task instance hash>-t<try>.<part|sorted>``: a retry removes the temporary
files of the earlier tries of its own task instance, by exact name, and never anything else (another task's
temporary file, a user's ``.<name>.bak``).

Destinations: ``~`` is expanded in local paths; a missing parent directory is created (local paths and
``file://``; object stores have no directories); a path ending in ``/`` or naming an existing directory means
``results.jsonl`` inside that directory; a parent that is a file, or a destination that is a directory
where a file is needed, is an ``OperatorInputError`` before any download.

Example::

    destination = resolve_destination("~/out/", conn_id=None)   # ~/out/results.jsonl
    destination.prepare(TempNaming.for_context(context))
    with destination.write() as spool:
        spool.add(0, b"{}\\n")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.operators._ordering import IndexedSpool

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = [
    "DEFAULT_FILE_NAME",
    "LocalDestination",
    "ObjectDestination",
    "TempNaming",
    "resolve_destination",
]

DEFAULT_FILE_NAME = "results.jsonl"
TEMP_MARKER = "gbw"
# A retry removes the temporary files of this many earlier tries at most (each is one delete on a store).
_EARLIER_TRIES = 10
_MAX_BASE = 180  # of the destination's name inside a temporary name (file names stop at 255 bytes)


@dataclass(frozen=True)
class TempNaming:
    """Temporary names owned by one try of one task instance: ``.<name>.gbw-<ti hash>-t<try>.<suffix>``."""

    owner: str
    try_number: int

    @classmethod
    def for_context(cls, context: Any) -> TempNaming:
        """The naming of the running task instance (a random owner outside a task instance)."""
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is None:
            return cls(owner=os.urandom(6).hex(), try_number=1)
        identity = json.dumps([ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1)], default=str)
        try_number = getattr(ti, "try_number", 1)
        return cls(
            owner=hashlib.sha256(identity.encode()).hexdigest()[:12],
            try_number=try_number if isinstance(try_number, int) and try_number > 0 else 1,
        )

    def name(self, base: str, suffix: str, try_number: int | None = None) -> str:
        """The temporary name for ``base`` (this try's unless ``try_number`` is given)."""
        number = self.try_number if try_number is None else try_number
        return f".{base[:_MAX_BASE]}.{TEMP_MARKER}-{self.owner}-t{number}.{suffix}"

    def earlier(self, base: str) -> Iterator[str]:
        """The temporary names earlier tries of this task instance may have left."""
        for number in range(max(1, self.try_number - _EARLIER_TRIES), self.try_number):
            for suffix in ("part", "sorted"):
                yield self.name(base, suffix, number)


def _bad(problem: str, fix: str) -> OperatorInputError:
    return OperatorInputError("destination", problem, fix)


def resolve_destination(value: Any, conn_id: str | None) -> LocalDestination | ObjectDestination:
    """The destination a ``destination`` argument names (syntax only: no file system access)."""
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"must be a path or URL, got {value!r}", "pass e.g. '/data/out.jsonl' or 's3://bucket/out.jsonl'")
    text = value.strip()
    if "\x00" in text:
        raise _bad("contains a NUL character", "remove it")
    if "://" in text:
        return ObjectDestination(text, conn_id)
    return LocalDestination(text)


class LocalDestination:
    """A local file, replaced atomically (see the module docstring)."""

    def __init__(self, text: str) -> None:
        path = Path(os.path.expanduser(text))
        self._directory_given = text.endswith(("/", os.sep))
        self.path = path / DEFAULT_FILE_NAME if self._directory_given else path
        self._naming: TempNaming | None = None

    @property
    def display(self) -> str:
        """The final path, as returned in XCom."""
        return str(self.path)

    def prepare(self, naming: TempNaming) -> None:
        """Resolve a directory to ``results.jsonl`` in it, create missing parents, remove earlier tries' leftovers."""
        if not self._directory_given and self.path.is_dir():
            self.path = self.path / DEFAULT_FILE_NAME
        if self.path.is_dir():
            raise _bad(f"{self.path} is a directory", "name a file, or remove the directory")
        parent = _make_parent(self.path)
        for stale in naming.earlier(self.path.name):
            (parent / stale).unlink(missing_ok=True)
        self._naming = naming

    @contextmanager
    def write(self) -> Iterator[IndexedSpool]:
        """Yield a spool on a temporary file beside the path; put the lines in place, in index order, on success."""
        naming = self._naming or TempNaming.for_context({})
        part = self.path.parent / naming.name(self.path.name, "part")
        ordered = self.path.parent / naming.name(self.path.name, "sorted")
        try:
            with open(part, "w+b") as handle:
                spool = IndexedSpool(handle)
                yield spool
                final = part
                if not spool.in_order:
                    with open(ordered, "wb") as out:
                        spool.copy_in_order(out)
                        _sync(out)
                    final = ordered
                else:
                    _sync(handle)
            os.replace(final, self.path)
        finally:
            part.unlink(missing_ok=True)
            ordered.unlink(missing_ok=True)


def _make_parent(path: Path) -> Path:
    """Create ``path``'s missing parent directories; a parent that is a file or unwritable is a clear error."""
    parent = path.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise _bad(f"{blocker}, a parent of {path}, is a file", "choose a path whose parents are directories")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = f"cannot create {parent}: {exc.strerror or exc}"
        raise _bad(problem, "choose a directory the worker can write to") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _bad(f"the worker cannot write to {parent}", "choose a directory the worker can write to")
    return parent


def _sync(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())


class ObjectDestination:
    """An ``airflow.sdk.ObjectStoragePath`` URL, replaced by a move of a complete temporary object."""

    def __init__(self, url: str, conn_id: str | None) -> None:
        self.url = url
        self.conn_id = conn_id
        self._directory_given = url.endswith("/")
        self._target: ObjectStoragePath | None = None
        self._naming: TempNaming | None = None

    @property
    def target(self) -> ObjectStoragePath:
        """The final object."""
        if self._target is None:
            from airflow.sdk import ObjectStoragePath

            path = ObjectStoragePath(self.url, conn_id=self.conn_id) if self.conn_id else ObjectStoragePath(self.url)
            self._target = path / DEFAULT_FILE_NAME if self._directory_given else path
        return self._target

    @property
    def display(self) -> str:
        """The final URL, as returned in XCom."""
        return str(self.target)

    def _is_local(self) -> bool:
        protocol = self.target.fs.protocol
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        return "file" in protocols or "local" in protocols

    def prepare(self, naming: TempNaming) -> None:
        """Resolve a directory to ``results.jsonl`` in it, create missing local parents, remove leftovers."""
        try:
            if not self._directory_given and self.target.is_dir():
                self._target = self.target / DEFAULT_FILE_NAME
            if self.target.is_dir():
                raise _bad(f"{self.target} is a directory", "name a file, or remove the directory")
            if self._is_local():
                _make_parent(Path(self.target.path))
        except OperatorInputError:
            raise
        except OSError as exc:
            problem = f"cannot use {self.url}: {type(exc).__name__}: {exc}"
            raise _bad(problem, "check the URL and the connection") from None
        for stale in naming.earlier(self.target.name):
            with contextlib.suppress(Exception):  # best effort: a leftover is harmless, only untidy
                (self.target.parent / stale).unlink(missing_ok=True)
        self._naming = naming

    @contextmanager
    def write(self) -> Iterator[IndexedSpool]:
        """Yield a spool on a local temporary file; on success, write it in index order to a temporary object
        beside the target and move that into place."""
        naming = self._naming or TempNaming.for_context({})
        target = self.target
        with tempfile.TemporaryFile(prefix="genai-batch-results-") as handle:
            spool = IndexedSpool(handle)
            yield spool
            temporary = target.parent / naming.name(target.name, "part")
            try:
                with temporary.open("wb") as out:  # type: ignore[no-untyped-call]
                    spool.copy_in_order(out)
                temporary.move(target)
            except BaseException:
                with contextlib.suppress(Exception):
                    temporary.unlink(missing_ok=True)
                raise
