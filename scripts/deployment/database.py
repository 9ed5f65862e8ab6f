"""The metadata database of a local deployment: SQLite in ``AIRFLOW_HOME``, or a real PostgreSQL server.

PostgreSQL runs as the ``postgres`` system user when we are root (the server refuses root), on a free port of
127.0.0.1 with its unix socket in its data directory. ``airflow db migrate`` on PostgreSQL is slow, so a migrated
data directory is built once per PostgreSQL major and Airflow version (cached under ``~/.cache/local-airflow``, or
``$LOCAL_AIRFLOW_CACHE``) and each deployment starts from a copy of it (``timings`` in the deployment show the
cost); so is a migrated SQLite file, per SQLite and Airflow version. The server is tuned for tests
(``fsync=off``): never keep data you care about in it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import pwd
import secrets
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scripts.deployment.processes import AirflowError, ManagedProcess, free_port, tail

DB_USER = "airflow"
DB_NAME = "airflow"
_SERVER_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300")


class MetadataDatabase(Protocol):
    """What the inspection helpers need from a metadata database."""

    #: Airflow's ``sql_alchemy_conn``.
    url: str
    #: Errors a read can raise while the deployment is busy or stopping.
    errors: tuple[type[BaseException], ...]

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query (``?`` placeholders) as dicts."""

    def tables(self) -> list[str]:
        """Names of the tables."""


def redact_url(url: str) -> str:
    """``url`` without its password (``scheme://user:***@host``)."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.partition(':')[0]}:***@{host}"


@dataclass
class SqliteDatabase:
    """``airflow.db`` in the home (opened read-only for queries)."""

    path: Path
    url: str = ""
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __post_init__(self) -> None:
        self.url = self.url or f"sqlite:///{self.path}"

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query."""
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, tuple(params))]

    def tables(self) -> list[str]:
        """Names of the tables."""
        return [row["name"] for row in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")]


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL server binaries (``$LOCAL_AIRFLOW_PG_BIN`` wins)."""
    if env := os.environ.get("LOCAL_AIRFLOW_PG_BIN"):
        return Path(env)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise AirflowError("PostgreSQL is not installed: run `make services` (apt-get install postgresql)")
    return found[-1].parent


def _server_user() -> pwd.struct_passwd | None:
    """The user the server runs as: ``postgres`` when we are root, else ourselves (``None``)."""
    return pwd.getpwnam("postgres") if os.geteuid() == 0 else None


def _reachable_by(path: Path, user: pwd.struct_passwd | None) -> bool:
    """Whether ``user`` can reach (search) ``path`` and every directory above it."""
    if user is None:
        return True
    resolved = path.resolve()
    for parent in [resolved, *resolved.parents]:
        info = parent.stat()
        if info.st_uid != user.pw_uid and not info.st_mode & stat.S_IXOTH:
            return False
    return True


def _chown_tree(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.lchown(name, user.pw_uid, user.pw_gid)


@dataclass(eq=False)
class PostgresServer:
    """One PostgreSQL server for one deployment; ``url`` is Airflow's ``sql_alchemy_conn``.

    :param home: the deployment's home; the data directory is ``home/postgres`` when the server's user can reach
        it, else a new directory under the system temporary directory (removed by ``remove``).
    :param env: the environment of the server process (carries the deployment's marker).
    """

    home: Path
    env: Mapping[str, str]
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    data_dir: Path | None = None
    process: ManagedProcess | None = None
    errors: tuple[type[BaseException], ...] = ()
    _own_dir: Path | None = None

    def __post_init__(self) -> None:
        import psycopg2

        self.errors = (psycopg2.Error, OSError)

    @property
    def url(self) -> str:
        """``postgresql+psycopg2://airflow:<password>@127.0.0.1:<port>/airflow``."""
        return f"postgresql+psycopg2://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"

    def prepare(self, template: Path | None) -> None:
        """Lay out the data directory: a copy of ``template`` (a migrated cluster), or a new empty cluster."""
        user = _server_user()
        if _reachable_by(self.home, user):
            self.data_dir = self.home / "postgres"
        else:
            self._own_dir = Path(tempfile.mkdtemp(prefix="local-airflow-pg-"))
            _chown_tree(self._own_dir, user)
            self.data_dir = self._own_dir / "data"
        if template is not None:
            shutil.copytree(template, self.data_dir, symlinks=True)
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        else:
            self.data_dir.mkdir(parents=True)
            self._initdb(user)
        _chown_tree(self.data_dir, user)
        self.data_dir.chmod(0o700)

    def _initdb(self, user: pwd.struct_passwd | None) -> None:
        assert self.data_dir is not None
        _chown_tree(self.data_dir, user)
        argv = [str(postgres_bin() / "initdb"), "-D", str(self.data_dir), "-U", DB_USER, "-A", "trust", "-E", "UTF8"]
        done = subprocess.run(  # noqa: S603 - our own argv
            argv, capture_output=True, user=user.pw_uid if user else None, check=False, timeout=120
        )
        if done.returncode != 0:
            raise AirflowError(f"initdb failed: {done.stdout.decode()[-2000:]}{done.stderr.decode()[-2000:]}")
        hba = self.data_dir / "pg_hba.conf"
        # Unix socket: trust (the harness itself); TCP from 127.0.0.1: the password (as Airflow connects).
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")

    def start(self, log_path: Path, timeout: float = 60.0) -> ManagedProcess:
        """Start the server on a free port and wait until it accepts connections; set the role's password."""
        assert self.data_dir is not None
        self.port = self.port or free_port()
        argv = [str(postgres_bin() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.data_dir}"]
        for setting in _SERVER_SETTINGS:
            argv += ["-c", setting]
        user = _server_user()
        self.process = ManagedProcess("postgres", argv, log_path, self.env, user=user.pw_uid if user else None)
        self.process.start()
        self._wait_ready(timeout)
        # A new password for every copy (TCP connections, as Airflow's, need it; the unix socket does not).
        self._admin(lambda cur: cur.execute(f"ALTER ROLE {DB_USER} PASSWORD %s", (self.password,)))
        return self.process

    def _connect_socket(self) -> Any:
        import psycopg2

        return psycopg2.connect(host=str(self.data_dir), port=self.port, user=DB_USER, dbname="postgres")

    def _admin(self, action: Callable[[Any], object]) -> None:
        with contextlib.closing(self._connect_socket()) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                action(cur)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            try:
                self._connect_socket().close()
                return
            except psycopg2.OperationalError:
                assert self.process is not None
                if not self.process.alive():
                    raise AirflowError(self.process.describe_failure()) from None
                if time.monotonic() > deadline:
                    log = tail(self.process.log_path)
                    raise AirflowError(f"PostgreSQL not ready in {timeout:.0f}s:\n{log}") from None
                time.sleep(0.1)

    def create_database(self) -> None:
        """Create the ``airflow`` database (a new cluster has only ``postgres``)."""
        self._admin(lambda cur: cur.execute(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}"))

    def stop(self) -> None:
        """A fast shutdown (SIGINT: the server aborts open transactions and exits cleanly)."""
        if self.process is not None and self.process.alive():
            assert self.process.pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, 2)
            if not self.process.wait(30):
                self.process.kill()

    def remove(self) -> None:
        """Remove a data directory that lives outside the home."""
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    # --- reads ----------------------------------------------------------------------------------------------

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query (``?`` placeholders, as for SQLite)."""
        import psycopg2.extras

        text = sql.replace("%", "%%").replace("?", "%s")
        with contextlib.closing(self._connect_socket_db()) as conn:
            conn.set_session(readonly=True, autocommit=True)
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(text, tuple(params))
                return [dict(row) for row in cur.fetchall()]

    def _connect_socket_db(self) -> Any:
        import psycopg2

        return psycopg2.connect(host=str(self.data_dir), port=self.port, user=DB_USER, dbname=DB_NAME)

    def tables(self) -> list[str]:
        """Names of the tables in the public schema."""
        rows = self.query("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
        return [row["name"] for row in rows]


def _cache_root() -> Path:
    if env := os.environ.get("LOCAL_AIRFLOW_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "local-airflow"


def _cached(name: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """``<cache>/<name>``, made by ``build(path)`` if absent (once per machine: under a lock, and renamed into
    place whole, so a build that died midway is never used). Returns the path and whether it was built now."""
    target = _cache_root() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target, False
        work = Path(tempfile.mkdtemp(prefix="local-airflow-template-", dir=target.parent))
        try:
            build(work / "built")
            (work / "built").rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return target, True


def migrated_template(migrate: Callable[[PostgresServer], None], env: Mapping[str, str]) -> tuple[Path, bool]:
    """A migrated PostgreSQL data directory for this Airflow and PostgreSQL (built once, then cached).

    ``migrate(server)`` runs ``airflow db migrate`` against a running server. Returns the directory and whether
    it was built now.
    """

    def build(target: Path) -> None:
        work = Path(tempfile.mkdtemp(prefix="local-airflow-template-"))
        try:
            server = PostgresServer(home=work, env=env)
            server.prepare(template=None)
            server.start(work / "postgres.log")
            try:
                server.create_database()
                migrate(server)
            finally:
                server.stop()
            assert server.data_dir is not None
            shutil.copytree(server.data_dir, target, symlinks=True)
            server.remove()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    version = importlib.metadata.version("apache-airflow")
    return _cached(f"postgres{postgres_bin().parent.name}-airflow{version}", build)


def migrated_sqlite_template(migrate: Callable[[Path], None]) -> tuple[Path, bool]:
    """A migrated SQLite metadata database for this Airflow (built once, then cached); each deployment starts
    from a copy, which saves ``airflow db migrate`` (10 to 18 s on a loaded 2-core machine) per start.

    ``migrate(path)`` runs ``airflow db migrate`` on a new database file at ``path``. Returns the file and whether
    it was built now.
    """
    version = importlib.metadata.version("apache-airflow")
    return _cached(f"sqlite{sqlite3.sqlite_version}-airflow{version}.db", migrate)
