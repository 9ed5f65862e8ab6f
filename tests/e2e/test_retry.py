"""Create applied, response lost: the try fails, and the retry reattaches to the job instead of creating another."""

from __future__ import annotations

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import LocalAirflow
from tests.e2e.conftest import ScenarioRuns
from tests.e2e.support import jobs_created

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_retry"


def test_retry_after_a_lost_create_response_reattaches(
    airflow: LocalAirflow, scenario_runs: ScenarioRuns, emulators: dict[str, EmulatorClient]
) -> None:
    run_id, emulator = scenario_runs[DAG_ID], emulators["retry"]

    # Try 1: the create is applied, its response dropped, and the look-ups after it refused: the try fails.
    # Then (conftest's choreography) the faults are cleared, and try 2 finds the job by its idempotency key.
    scenario_runs.watchers[DAG_ID].result(timeout=120)
    airflow.wait_for_task_state(DAG_ID, run_id, "job", {"success"}, timeout=120)

    stats = emulator.stats()
    assert stats["faults_fired"].get("apply_then_drop") == 1, stats["faults_fired"]
    assert jobs_created(stats) == 1, stats["jobs"]
    assert airflow.task_instance(DAG_ID, run_id, "job")["try_number"] == 2
    manifest = airflow.read_xcom(DAG_ID, run_id, "job")
    assert manifest["job_name"] == stats["jobs"][0]["name"]
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert manifest["reattached"] is True
    logs = {p.name: p.read_text(errors="replace") for p in airflow.task_log_files(DAG_ID, run_id, "job")}
    assert "may have reached the server" in logs["attempt=1.log"]
    assert "Reattaching to " + manifest["job_name"] in logs["attempt=2.log"]
