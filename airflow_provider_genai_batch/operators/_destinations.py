"""Where the results writer writes: a local path or an object-storage URL, replaced whole or not at all.

What each store guarantees:

- A local path (or a ``file://`` URL): lines go to a temporary file beside the destination, which is flushed,
  fsynced and renamed over it (``os.replace``, atomic on one file system). Until then the previous file stays
  as it was. The temporary file is created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``) under a name with
  a random part (``_local_files``): a link planted in the folder is never opened. The rename replaces a
  symbolic link found at the destination's name (the link, never its target), and such a link is never taken
  for the directory it may point to.
- Object stores (``s3://``, ``gs://``...): lines are spooled to a local temporary file (in ``TMPDIR``) while
  they download, so a failed download never touches the store. The spool is then written to a temporary object
  beside the destination and moved into place: S3 and GCS copy server side (the destination object appears
  whole or not at all) and delete the temporary object. A failure removes the temporary object. A worker
  killed at the wrong moment can leave one behind: the next try of the same task instance removes it. Whether
  the worker can open the store's file system (an installed Airflow provider registers it for
  ``ObjectStoragePath``) is checked when the destination is resolved, as the task starts: a missing package is
  named, with the command that installs it, before the job or any result is read.

Temporary names start ``.<name>.gbw-<task instance hash>-t<try>``: local ones end ``-<16 random hex>.<part|
sorted>``, object ones ``.<part|sorted>``. A retry removes the temporary files of the earlier tries of its own
task instance, and never anything else (another task's temporary file, a user's ``.<name>.bak``).

Destinations: ``~`` is expanded in local paths; a missing parent directory is created (local paths and
``file://``; object stores have no directories); a path ending in ``/`` or naming an existing directory means
``results.jsonl`` inside that directory; a parent that is a file, or a destination that is a directory
where a file is needed, is an ``OperatorInputError`` before any download. A write that fails (the folder
removed meanwhile, no permission, no space) raises ``DestinationWriteError`` naming the destination, the cause
and the fix.

Example::

    destination = resolve_destination("~/out/", conn_id=None)   # ~/out/results.jsonl
    destination.prepare(TempNaming.for_context(context))
    with destination.write() as spool:
        spool.add(0, b"{}\\n")
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.operators._local_files import RANDOM_HEX, create_exclusive, move_into_place
from airflow_provider_genai_batch.operators._ordering import IndexedSpool

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = [
    "DEFAULT_FILE_NAME",
    "DestinationWriteError",
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
_SUFFIXES = ("part", "sorted")
#: What to install for an object store's scheme: the Airflow provider that registers it for ObjectStoragePath
#: (and brings, or offers as an extra, the fsspec package behind it).
_FILE_SYSTEM_PACKAGES = {
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
    "s3": "apache-airflow-providers-amazon[s3fs]",
    "s3a": "apache-airflow-providers-amazon[s3fs]",
    "abfs": "apache-airflow-providers-microsoft-azure",
    "abfss": "apache-airflow-providers-microsoft-azure",
    "az": "apache-airflow-providers-microsoft-azure",
    "adl": "apache-airflow-providers-microsoft-azure",
}


class DestinationWriteError(OSError):
    """Writing the results failed: names the destination as the user gave it, the cause and the fix (the
    original error is chained, and its ``errno`` kept)."""

    def __init__(self, destination: str, folder: str, exc: OSError) -> None:
        code = exc.errno
        if code == errno.ENOENT:
            cause = f"its folder {folder} no longer exists (it was there when the task started)"
            fix = "create the folder again, or choose one nothing removes while the task runs; then clear the task"
        elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
            cause = f"the worker may not write in {folder} ({exc.strerror})"
            fix = "give the worker's user write access to the folder, or choose another; then clear the task"
        elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            cause = f"no space left for it in {folder} ({exc.strerror})"
            fix = "free space (or raise the quota), or choose another disk; then clear the task"
        else:
            cause = f"{type(exc).__name__}: {exc.strerror or exc}"
            fix = f"check {folder} on the worker; then clear the task"
        super().__init__(f"cannot write the results to {destination}: {cause}. {fix}")
        self.errno = code
        self.destination, self.cause, self.fix = destination, cause, fix


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
        """The temporary object names earlier tries of this task instance may have left."""
        for number in range(max(1, self.try_number - _EARLIER_TRIES), self.try_number):
            for suffix in _SUFFIXES:
                yield self.name(base, suffix, number)

    def local_prefix(self, base: str) -> str:
        """The start of this try's local temporary names (a random part and ``.<suffix>`` follow)."""
        return f".{base[:_MAX_BASE]}.{TEMP_MARKER}-{self.owner}-t{self.try_number}-"

    def is_earlier_local(self, entry: str, base: str) -> bool:
        """Whether ``entry`` is a local temporary name of an earlier try of this task instance."""
        pattern = rf"\.{re.escape(base[:_MAX_BASE])}\.{TEMP_MARKER}-{self.owner}-t(\d+)-[0-9a-f]{{{RANDOM_HEX}}}"
        found = re.fullmatch(pattern + r"\.(?:part|sorted)", entry)
        return found is not None and int(found.group(1)) < self.try_number


def _bad(problem: str, fix: str) -> OperatorInputError:
    return OperatorInputError("destination", problem, fix)


def resolve_destination(value: Any, conn_id: str | None) -> LocalDestination | ObjectDestination:
    """The destination a ``destination`` argument names. No file system access, but an object store's file
    system must be one this worker can open (``ObjectDestination.check_available``)."""
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"must be a path or URL, got {value!r}", "pass e.g. '/data/out.jsonl' or 's3://bucket/out.jsonl'")
    text = value.strip()
    if "\x00" in text:
        raise _bad("contains a NUL character", "remove it")
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme.lower() in ("file", "local") and rest.startswith("/"):
            return LocalDestination(rest, url_scheme=f"{scheme.lower()}://")
        destination = ObjectDestination(text, conn_id)
        destination.check_available()
        return destination
    return LocalDestination(text)


def _real_dir(path: Path) -> bool:
    """A directory, and not a symbolic link to one (a link at the destination's name is replaced, not used)."""
    return path.is_dir() and not path.is_symlink()


class LocalDestination:
    """A local file, replaced atomically (see the module docstring)."""

    def __init__(self, text: str, url_scheme: str = "") -> None:
        path = Path(os.path.expanduser(text))
        self._directory_given = text.endswith(("/", os.sep))
        self._url_scheme = url_scheme
        self.path = path / DEFAULT_FILE_NAME if self._directory_given else path
        self._naming: TempNaming | None = None

    @property
    def display(self) -> str:
        """The final path (as a URL when given as one), as returned in XCom."""
        return f"{self._url_scheme}{self.path}"

    def prepare(self, naming: TempNaming) -> None:
        """Resolve a directory to ``results.jsonl`` in it, create missing parents, remove earlier tries' leftovers."""
        if not self._directory_given and _real_dir(self.path):
            self.path = self.path / DEFAULT_FILE_NAME
        if _real_dir(self.path):
            raise _bad(f"{self.path} is a directory", "name a file, or remove the directory")
        parent = _make_parent(self.path)
        for stale in naming.earlier(self.path.name):  # the fixed names of versions before random ones
            (parent / stale).unlink(missing_ok=True)
        with os.scandir(parent) as entries:
            stale_names = [entry.name for entry in entries if naming.is_earlier_local(entry.name, self.path.name)]
        for name in stale_names:
            (parent / name).unlink(missing_ok=True)  # a link is removed itself, never followed
        self._naming = naming

    @contextmanager
    def write(self) -> Iterator[IndexedSpool]:
        """Yield a spool on a new temporary file beside the path; put the lines in place, in index order, on
        success. A failing file operation raises ``DestinationWriteError``."""
        naming = self._naming or TempNaming.for_context({})
        folder, prefix = self.path.parent, naming.local_prefix(self.path.name)
        created: list[Path] = []
        try:
            part, handle = create_exclusive(folder, prefix, ".part")
            created.append(part)
            with handle:
                spool = IndexedSpool(handle)
                yield spool
                final = part
                if not spool.in_order:
                    ordered, out = create_exclusive(folder, prefix, ".sorted")
                    created.append(ordered)
                    with out:
                        spool.copy_in_order(out)
                        _sync(out)
                    final = ordered
                else:
                    _sync(handle)
            move_into_place(final, self.path)
        except DestinationWriteError:
            raise
        except OSError as exc:
            raise DestinationWriteError(self.display, str(folder), exc) from exc
        finally:
            for path in created:
                path.unlink(missing_ok=True)


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

    def check_available(self) -> None:
        """Fail unless this worker can open the URL's file system: an installed Airflow provider registers the
        scheme for ``ObjectStoragePath``, and the fsspec package behind it imports. No network access."""
        scheme = self.url.split("://", 1)[0].lower()
        package = _FILE_SYSTEM_PACKAGES.get(scheme)
        install = f"pip install '{package}' on every worker" if package else None
        try:
            from airflow.sdk.io.fs import has_fs
        except ImportError:  # pragma: no cover - an Airflow without the helper: the write itself will tell
            return
        if not has_fs(scheme):
            raise _bad(
                f"{self.url}: no file system for {scheme}:// is installed on this worker (Airflow's "
                "ObjectStoragePath opens it through an installed provider)",
                install or f"install the Airflow provider that serves {scheme}://, or write to a local path",
            )
        import fsspec  # type: ignore[import-untyped]

        try:
            fsspec.get_filesystem_class(scheme)
        except ImportError as exc:
            problem = f"{self.url}: {scheme}:// needs a package that is not installed ({exc})"
            raise _bad(problem, install or str(exc)) from None
        except ValueError:
            return  # fsspec does not know the scheme: the provider's own file system serves it

    def prepare(self, naming: TempNaming) -> None:
        """Resolve a directory to ``results.jsonl`` in it, remove earlier tries' leftovers."""
        try:
            if not self._directory_given and self.target.is_dir():
                self._target = self.target / DEFAULT_FILE_NAME
            if self.target.is_dir():
                raise _bad(f"{self.target} is a directory", "name a file, or remove the directory")
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
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    temporary.unlink(missing_ok=True)
                if isinstance(exc, OSError) and not isinstance(exc, DestinationWriteError):
                    raise DestinationWriteError(self.display, str(target.parent), exc) from exc
                raise
