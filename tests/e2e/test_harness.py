"""The harness itself: a real scheduler, worker and triggerer run a deferrable sensor from the standard provider;
its command line starts, reports and stops a deployment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.local_airflow import LocalAirflow
from tests.e2e.support import DAGS_FOLDER, REPO_ROOT, wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_harness_smoke"


def test_deployment_reports_every_component_healthy(airflow: LocalAirflow) -> None:
    health = airflow.health()
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health


def test_deferrable_sensor_runs_on_the_real_triggerer(airflow: LocalAirflow) -> None:
    run_id = airflow.trigger_dag(DAG_ID)

    airflow.wait_for_task_state(DAG_ID, run_id, "wait", {"deferred"}, timeout=60)
    row = airflow.trigger_row_for(DAG_ID, run_id, "wait")
    assert row is not None and row.classpath.endswith("DateTimeTrigger")
    airflow.wait_for_task_state(DAG_ID, run_id, "answer", {"success"}, timeout=60)

    assert airflow.task_state(DAG_ID, run_id, "wait") == "success"
    assert airflow.read_xcom(DAG_ID, run_id, "answer") == {"answer": 42}
    names = [path.name for path in airflow.task_log_files(DAG_ID, run_id, "wait")]
    assert any(".trigger." in name for name in names), names  # the triggerer wrote the trigger's own log


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_cli_up_status_and_sigterm_leave_no_process(tmp_path: Path) -> None:
    """``local_airflow.py up`` (the fast shape), ``status`` while it runs, then SIGTERM: every process ends."""
    home = tmp_path / "home"
    output = tmp_path / "up.log"
    script = REPO_ROOT / "scripts" / "local_airflow.py"
    with output.open("wb") as out:
        up = subprocess.Popen(  # the CLI as a person runs it
            [sys.executable, str(script), "up", "--dags", str(DAGS_FOLDER), "--home", str(home), "--no-emulator"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: "Ready in" in output.read_text() or up.poll() is not None, 240, "`up` ready")
        assert up.poll() is None, output.read_text()
        assert f"AIRFLOW_HOME: {home}" in output.read_text()
        status = subprocess.run(
            [sys.executable, str(script), "status", "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["executor"] == "local" and shown["database_url"].startswith("sqlite:///")
        roles = sorted(component["role"] for component in shown["components"])
        assert roles == ["api-server", "dag-processor", "scheduler", "triggerer"], roles
        pids = [int(component["pid"]) for component in shown["components"]]

        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0, output.read_text()[-3000:]
        wait_until(lambda: not any(_pid_alive(pid) for pid in pids), 15, "every component gone")
        assert not (home / "local-airflow.json").exists()  # `status` now says nothing runs there
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)
