"""Crashes and restarts of a local deployment's triggerers (HA tests): kill one, start one, find their jobs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.deployment.processes import AirflowError, ManagedProcess

#: Written into the home once the deployment is up: what ``local_airflow.py status`` and ``run-dag`` read.
STATE_FILE = "local-airflow.json"


class TriggererControl:
    """Mixed into ``LocalAirflow`` (which provides the processes, ``query``, ``_poll`` and the state file)."""

    query: Callable[..., list[dict[str, Any]]]
    _poll: Callable[..., None]
    _start_component: Callable[[str], ManagedProcess]
    _write_state: Callable[[], None]

    home: Path | None
    processes: dict[str, ManagedProcess]
    _restarts: int

    # ``query`` (``Inspection``), ``_poll`` (``RestApi``), ``_start_component`` and ``_write_state``
    # (``LocalAirflow``) come from the classes this is mixed with.

    def kill_triggerer(self, name: str = "triggerer") -> None:
        """SIGKILL a triggerer and its trigger-runner child at once, as a crash would: no clean-up runs."""
        proc = self.processes.get(name)
        if proc is not None and not proc.kill():
            raise AirflowError(f"a process of the killed {name} (its trigger runner?) is still alive")
        if self.home is not None and (self.home / STATE_FILE).exists():
            self._write_state()

    def start_triggerer(self, timeout: float = 60.0, name: str = "triggerer") -> None:
        """Start a new triggerer ``name`` (logging to ``<name>.<n>.log``) and wait until its job heartbeats."""
        before = self.triggerer_job_id()
        self._restarts += 1
        self._start_component(name)

        def running() -> bool:
            latest = self.triggerer_job_id()
            return latest is not None and (before is None or latest > before)

        self._poll(running, timeout, lambda: "no new triggerer job in the database")

    def triggerer_job_id(self) -> int | None:
        """The id of the newest running triggerer job (a SIGKILLed one stays "running" in the table)."""
        rows = self.query("SELECT max(id) AS id FROM job WHERE job_type = 'TriggererJob' AND state = 'running'")
        value = rows[0]["id"] if rows else None
        return int(value) if value is not None else None

    def triggerer_jobs(self) -> dict[str, int]:
        """``{process name: job id}`` of the running triggerer jobs (each triggerer's job hostname ends with
        ``--<process name>``, see ``hostname.py``; a restarted ``triggerer`` maps to its newest job)."""
        rows = self.query(
            "SELECT id, hostname FROM job WHERE job_type = 'TriggererJob' AND state = 'running' ORDER BY id"
        )
        return {str(row["hostname"]).rpartition("--")[2]: int(row["id"]) for row in rows if "--" in row["hostname"]}
