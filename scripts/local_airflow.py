"""A real Airflow 3 deployment on one machine, for end-to-end tests and a local demo UI.

It runs the same components as production, each as its own process: ``airflow api-server`` (on a free port of
127.0.0.1), ``airflow scheduler`` (LocalExecutor), ``airflow dag-processor`` and ``airflow triggerer``, all
sharing one ``AIRFLOW_HOME`` with a SQLite database, plus, optionally, the Gen AI batch emulator
(``genai-batch-emulator``) as a separate process. Intervals are shortened so that a deferrable task runs end to
end in seconds. Connections come from ``AIRFLOW_CONN_*`` environment variables (JSON).

LOCAL USE ONLY: the API runs with ``[core] simple_auth_manager_all_admins = True``, so anyone who can reach
127.0.0.1 is an admin without logging in.

Library use::

    with LocalAirflow(dags_folder=Path("tests/e2e/dags"), emulators={"default": EmulatorSpec(api_key="k")}) as airflow:
        airflow.wait_for_dags(["my_dag"])
        run_id = airflow.trigger_dag("my_dag", conf={"x": 1})
        airflow.wait_for_task_state("my_dag", run_id, "my_task", {"success"}, timeout=60)

Command line (``make demo-ui``)::

    python scripts/local_airflow.py up --dags example_dags

Start-up, measured on a shared 2-core machine: 18 to 35 s from nothing to a healthy deployment (``db migrate``
10 to 18 s, while the emulators start; then the four components, started together, 15 to 28 s until the health
endpoint reports all of them). ``timings`` holds the phases of each start.

Clean-up: every process is started in its own session (process group) and, on Linux, asks the kernel to send it
SIGTERM when its parent dies. ``stop()`` (also run at interpreter exit) terminates each group, then kills any
process still carrying this deployment's marker in its environment, so no orphan survives a failing test.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

__all__ = [
    "AirflowError",
    "EmulatorSpec",
    "LocalAirflow",
    "ManagedProcess",
    "StateWatcher",
    "TriggerRecorder",
    "TriggerRow",
    "airflow_env",
    "free_port",
    "main",
]

#: Environment variable carried by every process of a deployment (and their children): finds orphans.
MARKER_ENV = "LOCAL_AIRFLOW_DEPLOYMENT"
#: Task states after which a task instance does not change by itself any more.
FINISHED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
_PR_SET_PDEATHSIG = 1


class AirflowError(RuntimeError):
    """The deployment failed to start, a component died, or a wait timed out (the message says which)."""


# --- small pure helpers ---------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def airflow_env(
    *,
    home: Path,
    dags_folder: Path,
    api_port: int,
    connections: Mapping[str, Mapping[str, Any]] = {},
    parse_interval: int = 30,
) -> dict[str, str]:
    """The ``AIRFLOW__*`` settings of a fast local deployment (option names as in Airflow 3.3's config.yml)."""
    api_url = f"http://127.0.0.1:{api_port}"
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        # Local only: every request is an admin, no login (see the module docstring).
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(parse_interval),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        # Triggers of a dead triggerer move to a live one once its heartbeat is this old.
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        "AIRFLOW__TRIGGERER__ON_KILL_TIMEOUT": "15",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    }
    for conn_id, spec in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(dict(spec))
    return env


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM this child when the process that started it dies (best effort)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait until no process is left in group ``pgid`` (right after killing it); return whether it is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        time.sleep(0.05)
    return False


def _pids_with_marker(marker: str) -> list[int]:
    """PIDs (other than ours) whose environment carries ``MARKER_ENV=marker``; only readable ones."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found: list[int] = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(pid)
    return found


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --- processes ------------------------------------------------------------------------------------------------


@dataclass
class ManagedProcess:
    """One component: a command, its log file, and the process (a session leader, so a group of its own)."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> None:
        """Start the command with stdout and stderr appended to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own argv
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        """The leader's PID (also the group's id), or ``None`` before ``start``."""
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        """Whether the leader is still running."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> bool:
        """SIGKILL the whole group at once (a crash: no clean-up runs) and reap the leader.

        Returns whether the group is gone (always true for a process that had already exited).
        """
        gone = True
        if self.process is None:
            return gone
        # Only while the leader is unreaped: its PID (the group id) cannot have been reused by then. Members
        # that outlive their leader are found by the deployment's marker instead.
        if self.process.poll() is None:
            pgid = self.process.pid
            _signal_group(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            gone = _wait_group_gone(pgid, timeout=5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        return gone

    def terminate(self) -> None:
        """SIGTERM the whole group (a clean shutdown request)."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the leader to exit; return whether it did."""
        if self.process is None:
            return True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def describe_failure(self) -> str:
        """The exit code and the end of the log, for error messages."""
        code = self.process.poll() if self.process is not None else None
        return f"{self.name} exited with {code}; end of {self.log_path}:\n{_tail(self.log_path)}"


# --- emulator -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmulatorSpec:
    """How to run one Gen AI batch emulator as its own process (its CLI prints its base URL first)."""

    api_key: str = "emulator-api-key"
    job_seconds: float = 5.0
    pending_seconds: float = 0.5
    extra_args: tuple[str, ...] = ()
    startup_timeout: float = 30.0

    def argv(self) -> list[str]:
        """The command line (``genai-batch-emulator`` through the running interpreter), on 127.0.0.1."""
        return [
            sys.executable,
            "-m",
            "airflow_provider_genai_batch.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            self.api_key,
            "--job-seconds",
            str(self.job_seconds),
            "--pending-seconds",
            str(self.pending_seconds),
            *self.extra_args,
        ]


def _wait_for_url_line(proc: ManagedProcess, timeout: float) -> str:
    """The first ``http://`` token the process writes to its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in _tail(proc.log_path, 200).splitlines():
            for token in line.split():
                if token.startswith(("http://", "https://")):
                    return token.rstrip("/")
        if not proc.alive():
            raise AirflowError(proc.describe_failure())
        time.sleep(0.1)
    raise AirflowError(f"{proc.name} printed no URL within {timeout:.0f}s:\n{_tail(proc.log_path)}")


# --- the deployment -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerRow:
    """One row of the ``trigger`` table; ``kwargs_text`` is the stored text (decrypted when it was encrypted)."""

    id: int
    classpath: str
    raw_kwargs: str
    kwargs_text: str
    triggerer_id: int | None

    @property
    def kwargs(self) -> Any:
        """The kwargs as JSON (Airflow's serialized form), or the text when it is not JSON."""
        try:
            return json.loads(self.kwargs_text)
        except ValueError:
            return self.kwargs_text


class StateWatcher(threading.Thread):
    """A daemon thread running one wait-then-act function; ``result()`` joins it and re-raises its error."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        """Run the function, keeping its exception."""
        try:
            self._target_fn()
        except BaseException as exc:
            self.error = exc

    def result(self, timeout: float | None = None) -> None:
        """Wait for the function; raise its exception, or ``AirflowError`` if it is still running."""
        self.join(timeout)
        if self.is_alive():
            raise AirflowError(f"{self.name} still waiting after {timeout}s")
        if self.error is not None:
            raise self.error


class TriggerRecorder(threading.Thread):
    """A daemon thread that samples the ``trigger`` table and keeps every distinct row it saw."""

    def __init__(self, deployment: LocalAirflow, interval: float) -> None:
        super().__init__(name="trigger-recorder", daemon=True)
        self._deployment = deployment
        self._interval = interval
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._seen: dict[tuple[int, str], TriggerRow] = {}

    def run(self) -> None:
        """Sample until ``stop``; a failed read (database busy, deployment stopping) is skipped."""
        while not self._stop_event.wait(self._interval):
            self.sample()

    def sample(self) -> None:
        """Read the table once."""
        try:
            rows = self._deployment.trigger_rows()
        except (sqlite3.Error, OSError):
            return
        with self._lock:
            for row in rows:
                self._seen.setdefault((row.id, row.raw_kwargs), row)

    def stop(self) -> None:
        """Stop sampling."""
        self._stop_event.set()

    @property
    def rows(self) -> list[TriggerRow]:
        """Every distinct row seen so far (by id and stored kwargs)."""
        with self._lock:
            return list(self._seen.values())


ConnectionSpecs = Mapping[str, Mapping[str, Any]]
#: Connections, or a function of the emulators' base URLs (by emulator name) returning them.
ConnectionsArg = ConnectionSpecs | Callable[[Mapping[str, str]], ConnectionSpecs]

_LIVE: set[LocalAirflow] = set()


@atexit.register
def _stop_all() -> None:
    for deployment in list(_LIVE):
        deployment.stop()


@dataclass(eq=False)
class LocalAirflow:
    """A real Airflow deployment (api-server, scheduler, dag-processor, triggerer) plus an optional emulator.

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
    emulator_urls: dict[str, str] = field(default_factory=dict)
    startup_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    _env: dict[str, str] = field(default_factory=dict)
    _http: httpx.Client | None = None
    _restarts: int = 0
    _temporary_home: bool = False

    # --- life cycle -----------------------------------------------------------------------------------------

    def __enter__(self) -> LocalAirflow:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The API server (and UI) URL."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_dir(self) -> Path:
        """Where the components' own stdout/stderr go (task and trigger logs are under ``home/logs``)."""
        assert self.home is not None
        return self.home / "process-logs"

    def start(self, timeout: float = 180.0) -> None:
        """Migrate the database and start every component; return once the API reports all of them healthy.

        The emulators start while the database migrates; ``timings`` records how long each phase took.
        """
        began = time.monotonic()
        _LIVE.add(self)
        try:
            self._prepare_home()
            launched = {name: self._launch_emulator(name, spec) for name, spec in self.emulators.items()}
            self._env = self._build_env(with_connections=False)
            self._timed("db migrate", self._migrate)
            for name, proc in launched.items():
                self.emulator_urls[name] = _wait_for_url_line(proc, self.emulators[name].startup_timeout)
            self._env = self._build_env(with_connections=True)
            for name in _COMPONENTS:
                self._start_component(name)
            self._http = httpx.Client(base_url=self.base_url, timeout=30.0)
            remaining = max(10.0, timeout - (time.monotonic() - began))
            self._timed("components healthy", lambda: self.wait_healthy(timeout=remaining))
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _timed(self, phase: str, step: Callable[[], object]) -> None:
        began = time.monotonic()
        step()
        self.timings[phase] = time.monotonic() - began

    def stop(self, grace: float = 10.0) -> None:
        """Stop every process of the deployment; safe to call twice and from ``atexit``.

        Every group gets SIGTERM at once; what is still alive after ``grace`` seconds gets SIGKILL, and so does
        any process left that carries this deployment's marker.
        """
        running = [proc for proc in self.processes.values() if proc.alive()]
        for proc in running:
            proc.terminate()
        deadline = time.monotonic() + grace
        for proc in running:
            proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in self.processes.values():
            proc.kill()
        for pid in _pids_with_marker(self.marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._temporary_home and not self.keep_home and self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
        _LIVE.discard(self)

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

    def _migrate(self) -> None:
        log = self.log_dir / "db-migrate.log"
        with log.open("ab") as out:
            done = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env,
                timeout=300,
                check=False,
            )
        if done.returncode != 0:
            raise AirflowError(f"airflow db migrate failed ({done.returncode}):\n{_tail(log)}")

    def _component_argv(self, name: str) -> list[str]:
        argv = [sys.executable, "-m", "airflow", name]
        if name == "api-server":
            argv += ["--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"]
        if name in ("scheduler", "triggerer"):
            argv.append("--skip-serve-logs")  # the log servers would listen on every interface
        return argv

    def _start_component(self, name: str) -> ManagedProcess:
        suffix = f".{self._restarts}" if name == "triggerer" and self._restarts else ""
        proc = ManagedProcess(name, self._component_argv(name), self.log_dir / f"{name}{suffix}.log", self._env)
        self.processes[name] = proc
        proc.start()
        return proc

    def check_alive(self) -> None:
        """Raise ``AirflowError`` with the log tail if a component has exited."""
        for proc in self.processes.values():
            if proc.process is not None and not proc.alive():
                raise AirflowError(proc.describe_failure())

    # --- REST -----------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the API server (``path`` relative to the base URL, e.g. ``/api/v2/dags``)."""
        if self._http is None:
            raise AirflowError("the deployment is not running")
        return self._http.request(method, path, **kwargs)

    def _api_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api(method, path, **kwargs)
        if response.status_code >= 400:
            raise AirflowError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json()

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health``."""
        result: dict[str, Any] = self._api_json("GET", "/api/v2/monitor/health")
        return result

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Until the database, scheduler, triggerer and dag-processor are all reported healthy."""
        last: object = None

        def healthy() -> bool:
            nonlocal last
            try:
                last = self.health()
            except (httpx.HTTPError, AirflowError) as exc:
                last = exc
                return False
            assert isinstance(last, dict)
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all((last.get(part) or {}).get("status") == "healthy" for part in parts)

        self._poll(healthy, timeout, lambda: f"deployment not healthy; last health: {last}")

    def _poll(self, ready: Callable[[], bool], timeout: float, what: Callable[[], str], interval: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            if ready():
                return
            if time.monotonic() > deadline:
                raise AirflowError(f"timed out after {timeout:.0f}s: {what()}")
            time.sleep(interval)

    def import_errors(self) -> list[dict[str, Any]]:
        """The DAG import errors the dag-processor recorded."""
        errors: list[dict[str, Any]] = self._api_json("GET", "/api/v2/importErrors")["import_errors"]
        return errors

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 90.0) -> None:
        """Until every DAG is parsed and serialized; fails fast on an import error."""
        missing = set(dag_ids)

        def parsed() -> bool:
            for dag_id in sorted(missing):
                if self.api("GET", f"/api/v2/dags/{dag_id}").status_code == 200:
                    missing.discard(dag_id)
            if missing and (errors := self.import_errors()):
                raise AirflowError(f"DAG import errors: {json.dumps(errors, indent=1)[:4000]}")
            return not missing

        self._poll(parsed, timeout, lambda: f"DAGs not parsed: {sorted(missing)}")

    def trigger_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Unpause ``dag_id`` and create a manual run (REST API v2); return its run id."""
        self._api_json("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        run_id = run_id or f"manual__e2e__{uuid.uuid4().hex[:12]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf or {})}
        created = self._api_json("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        return str(created["dag_run_id"])

    def dag_run_state(self, dag_id: str, run_id: str) -> str:
        """``queued``, ``running``, ``success`` or ``failed``."""
        return str(self._api_json("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """The task instance as the REST API shows it (state, try_number, ...)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        result: dict[str, Any] = self._api_json("GET", path)
        return result

    def task_state(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str | None:
        """The task instance's state (``None`` while it has none)."""
        state = self.task_instance(dag_id, run_id, task_id, map_index).get("state")
        return str(state) if state is not None else None

    def wait_for_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str],
        timeout: float = 60.0,
        map_index: int = -1,
    ) -> str:
        """Poll until the task is in one of ``states``; fail fast (with its log) if it finishes in another."""
        wanted = set(states)
        seen: list[str | None] = [None]

        def reached() -> bool:
            seen[0] = self.task_state(dag_id, run_id, task_id, map_index)
            if seen[0] in wanted:
                return True
            if seen[0] in FINISHED_STATES:
                raise AirflowError(
                    f"{dag_id}.{task_id} ({run_id}) ended {seen[0]}, expected {sorted(wanted)}.\n"
                    f"Scheduler errors about it:\n{self.scheduler_complaints(run_id, task_id)}\n"
                    f"End of its logs:\n{self.task_log(dag_id, run_id, task_id)[-6000:]}"
                )
            return False

        self._poll(reached, timeout, lambda: f"{dag_id}.{task_id} ({run_id}) is {seen[0]}, not {sorted(wanted)}")
        return str(seen[0])

    def scheduler_complaints(self, run_id: str, task_id: str) -> str:
        """Scheduler log lines at warning or error level that name this task instance.

        Shows e.g. Airflow's "executor reported ... success, but the task instance's state attribute is queued"
        race (apache/airflow#67287, #72716), which fails a deferred task whose trigger fires before the scheduler
        has processed the deferring process's exit.
        """
        names = (f".{task_id} ", f"task_id={task_id}", f"task_id='{task_id}'")
        lines = [
            line[:1000]
            for path in sorted(self.log_dir.glob("scheduler*.log"))
            for line in path.read_text(errors="replace").splitlines()
            if run_id in line and any(name in line for name in names) and ("[error" in line or "[warning" in line)
        ]
        return "\n".join(lines[-10:]) or "(none)"

    def when_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str],
        action: Callable[[str], object],
        timeout: float = 120.0,
    ) -> StateWatcher:
        """Call ``action(state)`` from a background thread as soon as the task is in one of ``states``.

        For choreography that must not wait for a test's turn (e.g. clear an emulator fault between two tries);
        ``StateWatcher.result()`` re-raises what went wrong (a timeout, the task ending in another state).
        """
        wanted = frozenset(states)

        def watch() -> None:
            action(self.wait_for_task_state(dag_id, run_id, task_id, wanted, timeout=timeout))

        watcher = StateWatcher(watch, name=f"watch-{dag_id}.{task_id}")
        watcher.start()
        return watcher

    def wait_for_dag_run(self, dag_id: str, run_id: str, timeout: float = 60.0) -> str:
        """Poll until the run is ``success`` or ``failed``; return which."""
        seen: list[str] = [""]

        def finished() -> bool:
            seen[0] = self.dag_run_state(dag_id, run_id)
            return seen[0] in ("success", "failed")

        self._poll(finished, timeout, lambda: f"run {dag_id} {run_id} is {seen[0]}")
        return seen[0]

    def mark_task_failed(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Set the task instance to ``failed`` through the REST API, as a user does from the UI."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        self._api_json("PATCH", path, json={"new_state": "failed"})

    def read_xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """An XCom value as the REST API returns it (deserialized)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self._api_json("GET", path, params={"deserialize": "true", "stringify": "false"})["value"]

    # --- triggerer crash ------------------------------------------------------------------------------------

    def kill_triggerer(self) -> None:
        """SIGKILL the triggerer and its trigger-runner child at once, as a crash would: no clean-up runs."""
        proc = self.processes.get("triggerer")
        if proc is not None and not proc.kill():
            raise AirflowError("a process of the killed triggerer (its trigger runner?) is still alive")

    def start_triggerer(self, timeout: float = 60.0) -> None:
        """Start a new triggerer (logging to ``triggerer.<n>.log``) and wait until its job heartbeats."""
        before = self.triggerer_job_id()
        self._restarts += 1
        self._start_component("triggerer")

        def running() -> bool:
            latest = self.triggerer_job_id()
            return latest is not None and (before is None or latest > before)

        self._poll(running, timeout, lambda: "no new triggerer job in the database")

    def triggerer_job_id(self) -> int | None:
        """The id of the newest running triggerer job (a SIGKILLed one stays "running" in the table)."""
        rows = self.query("SELECT max(id) AS id FROM job WHERE job_type = 'TriggererJob' AND state = 'running'")
        value = rows[0]["id"] if rows else None
        return int(value) if value is not None else None

    # --- database and logs ----------------------------------------------------------------------------------

    @property
    def database_path(self) -> Path:
        """The SQLite metadata database."""
        assert self.home is not None
        return self.home / "airflow.db"

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run a read-only query on the metadata database; rows as dicts."""
        uri = f"file:{self.database_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, tuple(params))]

    def tables(self) -> list[str]:
        """Names of the metadata database's tables."""
        return [row["name"] for row in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def trigger_rows(self) -> list[TriggerRow]:
        """The ``trigger`` table now (triggers are deleted once no task waits on them)."""
        rows = self.query("SELECT id, classpath, kwargs, triggerer_id FROM trigger ORDER BY id")
        return [
            TriggerRow(
                id=row["id"],
                classpath=row["classpath"],
                raw_kwargs=row["kwargs"],
                kwargs_text=self._decrypt(row["kwargs"]),
                triggerer_id=row["triggerer_id"],
            )
            for row in rows
        ]

    def trigger_row_for(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> TriggerRow | None:
        """The trigger a deferred task instance waits on, or ``None``."""
        rows = self.query(
            "SELECT trigger_id FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?",
            (dag_id, run_id, task_id, map_index),
        )
        trigger_id = rows[0]["trigger_id"] if rows else None
        return next((row for row in self.trigger_rows() if row.id == trigger_id), None)

    def record_triggers(self, interval: float = 0.5) -> TriggerRecorder:
        """Start keeping every ``trigger`` row seen from now on (rows are deleted when their task resumes)."""
        recorder = TriggerRecorder(self, interval)
        recorder.start()
        return recorder

    def fernet_key(self) -> str | None:
        """The fernet key Airflow generated into ``airflow.cfg`` (or was given)."""
        if key := self._env.get("AIRFLOW__CORE__FERNET_KEY"):
            return key
        assert self.home is not None
        cfg = self.home / "airflow.cfg"
        if not cfg.exists():
            return None
        for line in cfg.read_text().splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "fernet_key" and value.strip():
                return value.strip()
        return None

    def _decrypt(self, text: str) -> str:
        """Airflow's encrypted columns in clear; plain text is returned as it is."""
        if not text or text.lstrip().startswith(("{", "[")):
            return text
        key = self.fernet_key()
        if not key:
            return text
        from cryptography.fernet import Fernet, InvalidToken, MultiFernet

        try:
            fernet = MultiFernet([Fernet(k.strip().encode()) for k in key.split(",")])
            return fernet.decrypt(text.encode()).decode()
        except (InvalidToken, ValueError):
            return text

    def log_files(self, *, include_emulators: bool = True) -> list[Path]:
        """Every component, task and trigger log file (the emulators' own logs unless told otherwise)."""
        assert self.home is not None
        found = [p for p in self.log_dir.rglob("*") if p.is_file()]
        if not include_emulators:
            found = [p for p in found if not p.name.startswith("emulator-")]
        found += [p for p in (self.home / "logs").rglob("*") if p.is_file()]
        return sorted(found)

    def logs_text(self, *, include_emulators: bool = True) -> str:
        """All logs concatenated, each file introduced by a ``==> path <==`` line."""
        files = self.log_files(include_emulators=include_emulators)
        return "\n".join(f"==> {p} <==\n{p.read_text(errors='replace')}" for p in files)

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """The task's attempt logs and trigger logs (``attempt=N.log``, ``attempt=N.log.trigger.<id>.log``)."""
        assert self.home is not None
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        """The task's logs, attempt and trigger logs together."""
        return "\n".join(
            f"==> {p.name} <==\n{p.read_text(errors='replace')}" for p in self.task_log_files(dag_id, run_id, task_id)
        )


# --- command line ---------------------------------------------------------------------------------------------


def _demo_connections(api_key: str) -> Callable[[Mapping[str, str]], dict[str, dict[str, Any]]]:
    def connections(emulator_urls: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        emulator_url = emulator_urls.get("default")
        if emulator_url is None:
            return {}
        return {
            "genai_batch_default": {
                "conn_type": "genai_batch",
                "host": emulator_url,
                "password": api_key,
                "extra": {"backend": "gemini"},
            },
            "genai_batch_vertex": {
                "conn_type": "genai_batch",
                "host": emulator_url,
                "extra": {
                    "backend": "vertex",
                    "project": "demo-project",
                    "location": "us-central1",
                    "access_token": "local-demo-token",
                    "storage_base_url": emulator_url,
                },
            },
        }

    return connections


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a local deployment and wait for Ctrl-C")
    up.add_argument("--dags", type=Path, required=True, help="the DAGs folder")
    up.add_argument("--home", type=Path, default=None, help="AIRFLOW_HOME (default: a new temporary directory)")
    up.add_argument("--port", type=int, default=0, help="API server / UI port (default: a free one)")
    up.add_argument("--no-emulator", action="store_true", help="do not start the Gen AI batch emulator")
    up.add_argument("--emulator-api-key", default="local-emulator-key", help="the emulator's API key")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``up``: start a deployment, print the UI URL, run until Ctrl-C or SIGTERM."""
    args = _parse_args(argv)
    repo_root = Path(__file__).resolve().parent.parent
    pythonpath = os.pathsep.join(p for p in (str(repo_root), os.environ.get("PYTHONPATH", "")) if p)
    emulators = {} if args.no_emulator else {"default": EmulatorSpec(api_key=args.emulator_api_key)}
    deployment = LocalAirflow(
        dags_folder=args.dags.resolve(),
        home=args.home.resolve() if args.home else None,
        connections=_demo_connections(args.emulator_api_key),
        emulators=emulators,
        extra_env={"PYTHONPATH": pythonpath},
        parse_interval=5,
        api_port=args.port,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    print("Starting Airflow (db migrate, api-server, scheduler, dag-processor, triggerer)...", flush=True)
    with deployment:
        print(f"Airflow UI:   {deployment.base_url}  (no login: all users are admins; local use only)")
        print(f"AIRFLOW_HOME: {deployment.home}  (component logs in {deployment.log_dir})")
        if url := deployment.emulator_urls.get("default"):
            print(f"Emulator:     {url}  (connections genai_batch_default, genai_batch_vertex)")
        print(f"Ready in {deployment.startup_seconds:.1f}s. Press Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                deployment.check_alive()
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
