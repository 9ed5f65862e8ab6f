"""The command line of ``scripts/local_airflow.py``: ``up``, ``status``, ``restart`` and ``run-dag``.

``up`` blocks until Ctrl-C or SIGTERM and then stops every process it started. A component that dies meanwhile
(killed from outside, crashed) does not stop it: ``up`` reports the death, ends what is left of that component's
process group, and runs on without it, as a real deployment does; ``status`` shows it dead; ``restart NAME``
starts it again (``up --restart-dead`` does so by itself). ``status``, ``restart`` and ``run-dag`` talk to a running
deployment found by its home (``up`` writes ``local-airflow.json`` there once it is ready, and again whenever a
component dies or restarts).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from scripts.deployment.backoff import RestartBackoff
from scripts.deployment.core import STATE_FILE, LocalAirflow
from scripts.deployment.inspect import Inspection
from scripts.deployment.processes import AirflowError, EmulatorSpec
from scripts.deployment.rest import FINISHED_STATES, RestApi

#: ``restart`` drops one JSON file per request here (in the home); ``up`` carries the requests out.
REQUESTS_DIR = "local-airflow-requests"
#: ``status`` exits with this when the deployment runs with a dead component.
DEGRADED = 3


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
                    # Inline requests (the multimodal example) are staged as a GCS object on the emulator.
                    "gcs_staging_prefix": "gs://demo-bucket/staging",
                },
            },
            # common-ai's batch adapters (the common_ai example) on the same emulator.
            "pydanticai_default": {"conn_type": "pydanticai", "host": emulator_url, "password": api_key},
        }

    return connections


class RunningDeployment(Inspection, RestApi):
    """A deployment started elsewhere (by ``up``), reached through its REST API; read from its state file."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._env = {}
        self._db = None
        path = home / STATE_FILE
        if not path.exists():
            raise AirflowError(f"no running deployment in {home} ({STATE_FILE} is missing: is `up` running?)")
        self.state: dict[str, Any] = json.loads(path.read_text())
        self._http = httpx.Client(base_url=self.state["base_url"], timeout=30.0)

    def check_alive(self) -> None:
        """The controller (``up``) must still run."""
        if not _pid_alive(int(self.state["controller_pid"])):
            raise AirflowError(f"the deployment in {self.home} is not running any more")

    def close(self) -> None:
        """Close the HTTP client."""
        assert self._http is not None
        self._http.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="local_airflow.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a local deployment and wait for Ctrl-C or SIGTERM")
    up.add_argument("--dags", type=Path, required=True, help="the DAGs folder")
    up.add_argument("--home", type=Path, default=None, help="AIRFLOW_HOME (default: a new temporary directory)")
    up.add_argument("--port", type=int, default=0, help="API server / UI port (default: a free one)")
    up.add_argument("--executor", choices=("local", "celery"), default="local")
    up.add_argument("--database", choices=("sqlite", "postgres"), default=None, help="default: postgres for celery")
    up.add_argument("--triggerers", type=int, default=1, help="triggerer processes (default 1)")
    up.add_argument("--workers", type=int, default=2, help="Celery workers (default 2; celery only)")
    up.add_argument("--no-emulator", action="store_true", help="do not start the Gen AI batch emulator")
    up.add_argument("--emulator-api-key", default="local-emulator-key", help="the emulator's API key")
    up.add_argument(
        "--restart-dead",
        action="store_true",
        help="restart an Airflow component when it dies: at once after a run of a minute or more; after 5 s, "
        "doubling up to 2 min, while it dies within a minute of each start (default: report it and run on)",
    )
    status = sub.add_parser(
        "status",
        help="the running deployment's components, as JSON (exit 0: all alive, 1: not running, 3: a component is dead)",
    )
    status.add_argument("--home", type=Path, required=True)
    restart = sub.add_parser(
        "restart", help="restart one Airflow component of the running deployment (e.g. a killed triggerer)"
    )
    restart.add_argument("component", help="its name as `status` shows it: triggerer, triggerer-2, worker-1, ...")
    restart.add_argument("--home", type=Path, required=True)
    restart.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the new process")
    run = sub.add_parser("run-dag", help="trigger a DAG run, wait for it, print its tasks' states")
    run.add_argument("dag_id")
    run.add_argument("--home", type=Path, required=True)
    run.add_argument("--conf", type=json.loads, default=None, help="the run's conf, as JSON")
    run.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the run's end")
    return parser.parse_args(argv)


def _up(args: argparse.Namespace) -> int:
    repo_root = Path(__file__).resolve().parents[2]
    pythonpath = os.pathsep.join(p for p in (str(repo_root), os.environ.get("PYTHONPATH", "")) if p)
    emulators = {}
    if not args.no_emulator:
        spec = EmulatorSpec(api_key=args.emulator_api_key, extra_args=("--accept-token", "local-demo-token"))
        emulators["default"] = spec
    # Connections from our own environment, as Airflow users give them (they win over the emulator's).
    user_connections = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")}
    database = args.database or ("postgres" if args.executor == "celery" else "sqlite")
    deployment = LocalAirflow(
        dags_folder=args.dags.resolve(),
        home=args.home.resolve() if args.home else None,
        connections=_demo_connections(args.emulator_api_key),
        emulators=emulators,
        extra_env={"PYTHONPATH": pythonpath, **user_connections},
        parse_interval=5,
        api_port=args.port,
        executor=args.executor,
        database=database,
        triggerers=args.triggerers,
        workers=args.workers,
        keep_home=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    print(f"Starting Airflow ({args.executor} executor, {database}, {', '.join(deployment.component_names)})...")
    with deployment:
        print(f"Airflow UI:   {deployment.base_url}  (no login: all users are admins; local use only)")
        print(f"AIRFLOW_HOME: {deployment.home}  (component logs in {deployment.log_dir})")
        if url := deployment.emulator_urls.get("default"):
            print(f"Emulator:     {url}  (connections genai_batch_default, genai_batch_vertex)")
        phases = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in deployment.timings.items())
        print(f"Ready in {deployment.startup_seconds:.1f}s ({phases}). Press Ctrl-C to stop.", flush=True)
        try:
            backoff = RestartBackoff() if args.restart_dead else None
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    _supervise(deployment, backoff=backoff)
                    time.sleep(1)
        finally:
            assert deployment.home is not None
            (deployment.home / STATE_FILE).unlink(missing_ok=True)
    print("Stopped.", flush=True)
    return 0


def _supervise(deployment: LocalAirflow, *, backoff: RestartBackoff | None) -> None:
    """One round of ``up``'s watch: report dead components (with ``backoff``, ``--restart-dead``: schedule their
    restarts and carry out those that are due); carry out the restart requests that ``restart`` left in the home."""
    now = time.monotonic()
    for name in deployment.reap_dead():
        proc = deployment.processes[name]
        code = proc.process.poll() if proc.process is not None else None
        print(f"{name} (pid {proc.pid}) died with exit code {code}; log: {proc.log_path}", flush=True)
        if backoff is not None and name in deployment.restartable:
            wait = backoff.on_death(name, ran_for=now - proc.started_at, now=now) - now
            if wait > 0:
                print(
                    f"  it died {backoff.quick_deaths[name]} time(s) in a row within "
                    f"{backoff.stable_after:.0f} s of its start: restarting it in {wait:.0f} s",
                    flush=True,
                )
        elif name in deployment.restartable:
            print(f"  the deployment runs on without it; `local_airflow.py restart {name}` starts it", flush=True)
    for name in backoff.due(now=now) if backoff is not None else []:
        print(f"{name} restarted (pid {deployment.restart_component(name).pid})", flush=True)
    assert deployment.home is not None
    requests = deployment.home / REQUESTS_DIR
    for request in sorted(requests.glob("*.json")) if requests.is_dir() else []:
        name = str(json.loads(request.read_text())["component"])
        request.unlink()
        if backoff is not None:
            backoff.forget(name)
        try:
            print(f"{name} restarted on request (pid {deployment.restart_component(name).pid})", flush=True)
        except ValueError as exc:
            print(f"restart refused: {exc}", flush=True)


def _status(args: argparse.Namespace) -> int:
    deployment = RunningDeployment(args.home.resolve())
    state = dict(deployment.state)
    for component in state["components"]:
        # ``up`` records a death within a second; the PID check covers the moments before that.
        component["alive"] = bool(component.get("alive", True)) and _pid_alive(int(component["pid"]))
        if not component["alive"]:
            component.setdefault("exit_code", None)  # None: dead, and ``up`` has not recorded its exit code yet
    state["running"] = _pid_alive(int(state["controller_pid"]))
    state["dead"] = [c["name"] for c in state["components"] if not c["alive"]]
    with contextlib.suppress(httpx.HTTPError, AirflowError):
        state["health"] = {k: (v or {}).get("status") for k, v in deployment.health().items()}
    deployment.close()
    print(json.dumps(state, indent=1))
    if not state["running"]:
        return 1
    return DEGRADED if state["dead"] else 0


def _restart(args: argparse.Namespace) -> int:
    """Ask ``up`` to restart a component; wait until the state file shows it running under a new PID."""
    home = args.home.resolve()
    deployment = RunningDeployment(home)
    deployment.close()
    deployment.check_alive()
    components = {c["name"]: c for c in deployment.state["components"]}
    restartable = [c["name"] for c in components.values() if c["role"] not in ("postgres", "redis", "emulator")]
    if args.component not in restartable:
        raise AirflowError(f"no restartable component {args.component!r}; restartable: {', '.join(restartable)}")
    before = components[args.component]["pid"]
    requests = home / REQUESTS_DIR
    requests.mkdir(exist_ok=True)
    staged = requests / f".{uuid.uuid4().hex}.tmp"
    staged.write_text(json.dumps({"component": args.component}))
    staged.rename(staged.with_name(staged.name[1:].replace(".tmp", ".json")))  # whole, or not seen at all
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not (home / STATE_FILE).exists():
            raise AirflowError(f"the deployment in {home} stopped before {args.component} restarted")
        state = json.loads((home / STATE_FILE).read_text())
        now = next((c for c in state["components"] if c["name"] == args.component), None)
        if now is not None and now["pid"] != before and now.get("alive") and _pid_alive(int(now["pid"])):
            print(f"{args.component} restarted: pid {now['pid']} (was {before})")
            return 0
        time.sleep(0.3)
    raise AirflowError(f"{args.component} did not restart within {args.timeout:.0f}s (is `up` running?)")


def _run_dag(args: argparse.Namespace) -> int:
    deployment = RunningDeployment(args.home.resolve())
    try:
        deployment.wait_for_dags([args.dag_id], timeout=min(args.timeout, 120.0))
        run_id = deployment.trigger_dag(args.dag_id, conf=args.conf)
        print(f"{args.dag_id}: run {run_id} triggered", flush=True)
        state = deployment.wait_for_dag_run(args.dag_id, run_id, timeout=args.timeout)
        tasks = deployment.api("GET", f"/api/v2/dags/{args.dag_id}/dagRuns/{run_id}/taskInstances").json()
        print(f"{args.dag_id}: run {run_id} {state}")
        for ti in sorted(tasks["task_instances"], key=lambda t: (t["task_id"], t.get("map_index", -1))):
            index = f"[{ti['map_index']}]" if ti.get("map_index", -1) >= 0 else ""
            print(f"  {ti['task_id']}{index}: {ti['state']} (try {ti['try_number']})")
    finally:
        deployment.close()
    return 0 if state == "success" else 1


def main(argv: list[str] | None = None) -> int:
    """``up``, ``status``, ``restart`` or ``run-dag`` (see ``--help``)."""
    args = _parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "up": _up,
        "status": _status,
        "restart": _restart,
        "run-dag": _run_dag,
    }
    try:
        return commands[args.command](args)
    except AirflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


__all__ = ["FINISHED_STATES", "RunningDeployment", "main"]
