"""``LocalAirflow``: the life cycle of a real Airflow deployment on one machine.

Two shapes: the fast default (SQLite, LocalExecutor, one triggerer) and the production shape (PostgreSQL, the
CeleryExecutor with a Redis broker and its results on PostgreSQL, N Celery workers, N triggerers). Every part is
its own process group (``ManagedProcess``); ``stop()`` (also run at interpreter exit) ends them all.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from scripts.deployment.broker import RedisServer
from scripts.deployment.database import (
    MetadataDatabase,
    PostgresServer,
    migrated_sqlite_template,
    migrated_template,
    redact_url,
)
from scripts.deployment.env import API_SERVER_ENV, CORE_COMPONENTS, airflow_env
from scripts.deployment.hostname import COMPONENT_ENV, HOSTNAME_CALLABLE
from scripts.deployment.inspect import Inspection
from scripts.deployment.processes import (
    MARKER_ENV,
    AirflowError,
    EmulatorSpec,
    ManagedProcess,
    free_port,
    pids_with_marker,
    tail,
    wait_for_url_line,
)
from scripts.deployment.rest import RestApi
from scripts.deployment.triggerers import STATE_FILE, TriggererControl

ConnectionSpecs = Mapping[str, Mapping[str, Any]]
#: Connections, or a function of the emulators' base URLs (by emulator name) returning them.
ConnectionsArg = ConnectionSpecs | Callable[[Mapping[str, str]], ConnectionSpecs]
_SERVICES = ("postgres", "redis")
REPO_ROOT = Path(__file__).resolve().parents[2]

_LIVE: set[LocalAirflow] = set()


@atexit.register
def _stop_all() -> None:
    for deployment in list(_LIVE):
        deployment.stop()


@dataclass(eq=False)
class LocalAirflow(TriggererControl, Inspection, RestApi):
    """A real Airflow deployment (api-server, scheduler, dag-processor, triggerers, workers) plus emulators.

    :param dags_folder: the DAG files to serve.
    :param home: ``AIRFLOW_HOME``; a fresh temporary directory when ``None`` (removed by ``stop`` only if
        ``keep_home`` is false).
    :param connections: ``{conn_id: {"conn_type": ..., ...}}``, or a function of the emulators' base URLs
        (``{name: url}``) returning it; exported as ``AIRFLOW_CONN_<ID>`` JSON.
    :param emulators: Gen AI batch emulators to start first, by name (their URLs are then in
        ``emulator_urls``). Separate emulators keep the counters of parallel scenarios apart.
    :param extra_env: more environment for every component (e.g. ``PYTHONPATH``, more ``AIRFLOW__*``).
    :param parse_interval: seconds between two parses of an unchanged DAG file.
    :param keep_home: keep a temporary ``home`` after ``stop`` (a given ``home`` is always kept).
    :param executor: ``local`` (LocalExecutor in the scheduler) or ``celery`` (Redis broker, ``workers`` workers).
    :param database: ``sqlite`` (a file in the home) or ``postgres`` (a server of its own, see ``database.py``).
    :param triggerers: how many triggerer processes (``triggerer``, ``triggerer-2``, ...).
    :param api_workers: how many worker processes the api-server runs (``airflow api-server --workers``).
    :param workers: how many Celery workers (``worker-1``, ...); ignored by the LocalExecutor.
    :param component_env: more environment for one component, by name (e.g. a triggerer's
        ``AIRFLOW__TRIGGERER__CAPACITY``).
    :param stop_grace: seconds ``stop`` (and leaving the ``with`` block) gives the components to exit after
        SIGTERM before it SIGKILLs them (tests that throw the deployment away lower it).

    Example::

        with LocalAirflow(dags_folder=Path("dags"), executor="celery", database="postgres", triggerers=2) as af:
            af.wait_for_dags(["my_dag"])
            print(af.wait_for_dag_run("my_dag", af.trigger_dag("my_dag")))
    """

    dags_folder: Path
    home: Path | None = None
    connections: ConnectionsArg = field(default_factory=dict)
    emulators: Mapping[str, EmulatorSpec] = field(default_factory=dict)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    parse_interval: int = 30
    keep_home: bool = False
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    api_port: int = 0
    executor: str = "local"
    database: str = "sqlite"
    triggerers: int = 1
    api_workers: int = 1
    workers: int = 2
    component_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    stop_grace: float = 10.0
    emulator_urls: dict[str, str] = field(default_factory=dict)
    startup_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    _env: dict[str, str] = field(default_factory=dict)
    _http: httpx.Client | None = None
    _restarts: int = 0
    _temporary_home: bool = False
    _db: MetadataDatabase | None = None
    _postgres: PostgresServer | None = None
    _redis: RedisServer | None = None
    _reported_dead: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.executor not in ("local", "celery"):
            raise ValueError(f"executor must be 'local' or 'celery', not {self.executor!r}")
        if self.database not in ("sqlite", "postgres"):
            raise ValueError(f"database must be 'sqlite' or 'postgres', not {self.database!r}")
        if self.executor == "celery" and self.database == "sqlite":
            raise ValueError("the Celery executor needs PostgreSQL (its results are stored there)")
        if self.triggerers < 1 or self.api_workers < 1 or (self.executor == "celery" and self.workers < 1):
            raise ValueError("at least one triggerer (and one worker with Celery)")

    # --- life cycle -----------------------------------------------------------------------------------------

    def __enter__(self) -> LocalAirflow:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Started and not stopped yet."""
        return self in _LIVE

    @property
    def base_url(self) -> str:
        """The API server (and UI) URL."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def component_names(self) -> list[str]:
        """The Airflow components this deployment runs (triggerers and workers numbered from the second/first)."""
        names = list(CORE_COMPONENTS)
        names += ["triggerer", *(f"triggerer-{n}" for n in range(2, self.triggerers + 1))]
        if self.executor == "celery":
            names += [f"worker-{n}" for n in range(1, self.workers + 1)]
        return names

    def start(self, timeout: float = 240.0) -> None:
        """Start the database and broker, migrate, start every component; return once the API reports all healthy.

        The emulators start while the database migrates; ``timings`` records how long each phase took.
        """
        began = time.monotonic()
        _LIVE.add(self)
        try:
            self._prepare_home()
            launched = {name: self._launch_emulator(name, spec) for name, spec in self.emulators.items()}
            if self.database == "postgres":
                self._timed("postgres start", self._start_postgres)
            if self.executor == "celery":
                self._timed("redis start", self._start_redis)
            self._env = self._build_env(with_connections=False)
            self._timed("migrated database copied", self._migrate)
            for name, proc in launched.items():
                self.emulator_urls[name] = wait_for_url_line(proc, self.emulators[name].startup_timeout)
            self._env = self._build_env(with_connections=True)
            for name in self.component_names:
                self._start_component(name)
            self._http = httpx.Client(base_url=self.base_url, timeout=30.0)
            remaining = max(10.0, timeout - (time.monotonic() - began))
            self._timed("components healthy", lambda: self.wait_healthy(timeout=remaining))
            if self.executor == "celery":
                self._timed("workers ready", lambda: self.wait_workers_ready(timeout=remaining))
            self._write_state()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _timed(self, phase: str, step: Callable[[], object]) -> None:
        began = time.monotonic()
        step()
        self.timings[phase] = time.monotonic() - began

    def stop(self, grace: float | None = None) -> None:
        """Stop every process of the deployment; safe to call twice and from ``atexit``.

        Airflow's components and the emulators get SIGTERM at once; what is still alive after ``grace`` seconds
        (default: ``stop_grace``) gets SIGKILL; then the broker and the database stop, and any process left that
        carries this deployment's marker is killed.
        """
        running = [proc for name, proc in self.processes.items() if name not in _SERVICES and proc.alive()]
        for proc in running:
            proc.terminate()
        deadline = time.monotonic() + (self.stop_grace if grace is None else grace)
        for proc in running:
            proc.wait(max(0.1, deadline - time.monotonic()))
        for name, proc in self.processes.items():
            if name not in _SERVICES:
                proc.kill()
        if self._postgres is not None:
            self._postgres.stop()
        for proc in self.processes.values():
            proc.kill()
        for pid in pids_with_marker(self.marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._postgres is not None:
            self._postgres.remove()
        if self.home is not None:
            (self.home / STATE_FILE).unlink(missing_ok=True)
        if self._temporary_home and not self.keep_home and self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
        _LIVE.discard(self)

    def leftover_pids(self) -> list[int]:
        """Processes still carrying this deployment's marker (none after ``stop``)."""
        return pids_with_marker(self.marker)

    def _prepare_home(self) -> None:
        if self.home is None:
            self.home = Path(tempfile.mkdtemp(prefix="local-airflow-"))
            self._temporary_home = True
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if not self.api_port:
            self.api_port = free_port()

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        env.update(self.extra_env)
        env[MARKER_ENV] = self.marker
        env["PYTHONUNBUFFERED"] = "1"
        # The repository on the path: ``hostname.py`` (and DAGs that import from it).
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([*paths, str(REPO_ROOT)] if str(REPO_ROOT) not in paths else paths)
        return env

    def _build_env(self, *, with_connections: bool) -> dict[str, str]:
        assert self.home is not None
        connections: ConnectionSpecs = {}
        if with_connections:
            connections = self.connections(self.emulator_urls) if callable(self.connections) else self.connections
        env = self._base_env()
        env.update(
            airflow_env(
                home=self.home,
                dags_folder=self.dags_folder.resolve(),
                api_port=self.api_port,
                connections=connections,
                parse_interval=self.parse_interval,
                executor=self.executor,
                database_url=self._postgres.url if self._postgres else None,
                broker_url=self._redis.url if self._redis else None,
                result_backend=f"db+{self._postgres.url}" if self._postgres else None,
            )
        )
        env.update({k: v for k, v in self.extra_env.items() if k.startswith("AIRFLOW")})
        return env

    def _launch_emulator(self, name: str, spec: EmulatorSpec) -> ManagedProcess:
        label = f"emulator-{name}"
        proc = ManagedProcess(label, spec.argv(), self.log_dir / f"{label}.log", self._base_env())
        self.processes[label] = proc
        proc.start()
        return proc

    def _start_postgres(self) -> None:
        assert self.home is not None
        began = time.monotonic()
        template, built = migrated_template(lambda server: self._migrate_into(server.url), self._base_env())
        if built:
            self.timings["postgres template built (once per machine)"] = time.monotonic() - began
        server = PostgresServer(home=self.home, env=self._base_env())
        self._postgres = server
        server.prepare(template)
        self.processes["postgres"] = server.start(self.log_dir / "postgres.log")
        self._db = server

    def _migrate_into(self, url: str) -> None:
        """``airflow db migrate`` on the database at ``url`` (building a cached template), in a home of its own."""
        home = Path(tempfile.mkdtemp(prefix="local-airflow-migrate-"))
        try:
            env = self._base_env() | {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            }
            self._run_airflow(["db", "migrate"], env, self.log_dir / "db-migrate-template.log")
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def _start_redis(self) -> None:
        assert self.home is not None
        self._redis = RedisServer(self.home / "redis", self._base_env())
        self.processes["redis"] = self._redis.start(self.log_dir / "redis.log")

    def _migrate(self) -> None:
        """Lay out a migrated metadata database and write what ``db migrate`` would also write: ``airflow.cfg``
        with the secrets every component must share (the components would each generate their own).

        SQLite: a copy of the cached migrated file (a database already in a given home is migrated in place);
        PostgreSQL's migrated copy was laid out when its server started.
        """
        if self._postgres is None:
            if self.database_path.exists():
                self._run_airflow(["db", "migrate"], self._env, self.log_dir / "db-migrate.log")
            else:
                began = time.monotonic()
                template, built = migrated_sqlite_template(lambda path: self._migrate_into(f"sqlite:///{path}"))
                if built:
                    self.timings["sqlite template built (once per machine)"] = time.monotonic() - began
                shutil.copyfile(template, self.database_path)
        self._write_config()

    def _write_config(self) -> None:
        """``airflow.cfg`` with a fresh fernet key, JWT secret and API secret key (defaults for everything else)."""
        from cryptography.fernet import Fernet

        assert self.home is not None
        cfg = self.home / "airflow.cfg"
        if cfg.exists():
            return
        cfg.write_text(
            f"[core]\nfernet_key = {Fernet.generate_key().decode()}\n\n"
            f"[api_auth]\njwt_secret = {secrets.token_urlsafe(32)}\n\n"
            f"[api]\nsecret_key = {secrets.token_urlsafe(32)}\n"
        )
        cfg.chmod(0o600)

    @staticmethod
    def _run_airflow(args: list[str], env: Mapping[str, str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            done = subprocess.run(  # noqa: S603 - our own argv
                [sys.executable, "-m", "airflow", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                timeout=600,
                check=False,
            )
        if done.returncode != 0:
            raise AirflowError(f"airflow {' '.join(args)} failed ({done.returncode}):\n{tail(log)}")

    def _component_argv(self, name: str) -> list[str]:
        role = self.role_of(name)
        argv = [sys.executable, "-m", "airflow"]
        if role == "worker":
            # Several workers on one machine need distinct node names; no log server (it would bind 0.0.0.0).
            argv += ["celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
            return [*argv, "--without-gossip", "--without-mingle"]
        argv.append(role)
        if role == "api-server":
            argv += ["--host", "127.0.0.1", "--port", str(self.api_port), "--workers", str(self.api_workers)]
        if role in ("scheduler", "triggerer"):
            argv.append("--skip-serve-logs")  # the log servers would listen on every interface
        return argv

    @staticmethod
    def role_of(name: str) -> str:
        """``triggerer-2`` -> ``triggerer``, ``worker-1`` -> ``worker``, ``emulator-x`` -> ``emulator``."""
        for role in ("triggerer", "worker", "emulator"):
            if name == role or name.startswith(f"{role}-"):
                return role
        return name

    def start_component(self, name: str) -> ManagedProcess:
        """(Re)start one component by name (e.g. a killed ``worker-1``); returns at once."""
        return self._start_component(name)

    def _start_component(self, name: str) -> ManagedProcess:
        suffix = f".{self._restarts}" if name in self.processes and self._restarts else ""
        env = dict(self._env)
        if name == "api-server":
            env |= API_SERVER_ENV
        if self.role_of(name) == "triggerer":
            # Its job row's hostname names the process (``triggerer_jobs``).
            env |= {COMPONENT_ENV: name, "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE}
        env |= dict(self.component_env.get(name, {}))
        proc = ManagedProcess(name, self._component_argv(name), self.log_dir / f"{name}{suffix}.log", env)
        self.processes[name] = proc
        proc.start()
        if self.home is not None and (self.home / STATE_FILE).exists():
            self._write_state()  # a restart: ``status`` shows the new PID
        return proc

    def check_alive(self) -> None:
        """Raise ``AirflowError`` with the log tail if a component has exited (library use: fail fast)."""
        for proc in self.processes.values():
            if proc.process is not None and not proc.killed and not proc.alive():
                raise AirflowError(proc.describe_failure())

    def reap_dead(self) -> list[str]:
        """Components that exited since the last call, by name (``up`` carries on without them, as a real
        deployment does). What is left of a dead component's process group (a triggerer's trigger runner, a
        Celery worker's pool) is killed, as a container runtime ends a container whose main process died. The
        state file then shows them dead."""
        dead = [
            name
            for name, proc in self.processes.items()
            if proc.process is not None and not proc.alive() and name not in self._reported_dead
        ]
        for name in dead:
            self._reported_dead.add(name)
            self._kill_group_remains(self.processes[name])
        if dead and self.home is not None and (self.home / STATE_FILE).exists():
            self._write_state()
        return dead

    def _kill_group_remains(self, proc: ManagedProcess) -> None:
        """SIGKILL this deployment's processes still in the (reaped) leader's group."""
        if proc.pid is None:
            return
        for pid in pids_with_marker(self.marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == proc.pid:
                    os.kill(pid, signal.SIGKILL)

    def restart_component(self, name: str, grace: float = 10.0) -> ManagedProcess:
        """Stop the Airflow component ``name`` if it still runs (SIGTERM, SIGKILL after ``grace`` s), start it
        again (its log continues in ``<name>.<n>.log``) and return at once; raise ``ValueError`` for a name
        that is not one of ``restartable``."""
        if name not in self.restartable:
            raise ValueError(f"{name!r} cannot be restarted; restartable: {', '.join(self.restartable)}")
        old = self.processes[name]
        if old.alive():
            old.terminate()
            if not old.wait(grace):
                old.kill()
        self._kill_group_remains(old)
        self._restarts += 1
        self._reported_dead.discard(name)
        return self._start_component(name)

    @property
    def restartable(self) -> list[str]:
        """The Airflow components (never the database, the broker or an emulator, whose state or URL would
        change)."""
        return [name for name in self.component_names if name in self.processes]

    def wait_workers_ready(self, timeout: float = 120.0) -> None:
        """Until every Celery worker logged that it is ready (it then consumes the queue)."""

        def ready() -> bool:
            names = [n for n in self.processes if self.role_of(n) == "worker"]
            return all(" ready." in tail(self.processes[n].log_path, 400) for n in names)

        self._poll(ready, timeout, lambda: "Celery workers not ready")

    def _write_state(self) -> None:
        assert self.home is not None
        state = {
            "base_url": self.base_url,
            "home": str(self.home),
            "executor": self.executor,
            "database": self.database,
            "database_url": redact_url(self._env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]),
            "broker_url": self._redis.url if self._redis else None,
            "emulator_urls": self.emulator_urls,
            "controller_pid": os.getpid(),
            "components": self.describe_components(),
        }
        staged = self.home / f".{STATE_FILE}.tmp"
        staged.write_text(json.dumps(state, indent=1))
        staged.replace(self.home / STATE_FILE)  # whole: `status` and `restart` read it while `up` rewrites it

    def describe_components(self) -> list[dict[str, Any]]:
        """Each process: name, role, PID (the group leader's), whether it runs, and its exit code once dead."""
        described = []
        for name, proc in self.processes.items():
            alive = proc.alive()
            code = None if alive or proc.process is None else proc.process.poll()
            described.append(
                {"name": name, "role": self.role_of(name), "pid": proc.pid, "alive": alive}
                | ({} if alive else {"exit_code": code})
            )
        return described
