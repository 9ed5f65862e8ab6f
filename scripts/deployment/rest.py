"""The REST side of a local deployment: Airflow's API v2 (health, DAGs, runs, task instances, XComs) and waits."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from scripts.deployment.processes import AirflowError, StateWatcher

#: Task states after which a task instance does not change by itself any more.
FINISHED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


class RestApi:
    """REST calls and polling waits; mixed into ``LocalAirflow`` (which provides the client and the logs)."""

    _http: httpx.Client | None

    def check_alive(self) -> None:
        """Raise if a component died (``LocalAirflow`` implements it)."""
        raise NotImplementedError

    # ``task_log`` and ``log_dir`` come from ``Inspection``.

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

    def read_xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """An XCom value as the REST API returns it (deserialized); ``map_index`` for a mapped task's."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        params = {"deserialize": "true", "stringify": "false", "map_index": str(map_index)}
        return self._api_json("GET", path, params=params)["value"]
