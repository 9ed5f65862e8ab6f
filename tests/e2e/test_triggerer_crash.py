"""The triggerer is SIGKILLed while a job runs and restarted: the trigger re-runs, the job finishes once."""

from __future__ import annotations

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import LocalAirflow
from tests.e2e.conftest import ScenarioRuns
from tests.e2e.support import cancels, jobs_created, wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_crash"


def _polls(emulator: EmulatorClient) -> int:
    return int(emulator.stats()["requests"].get("gemini.batches.get", 0))


def test_triggerer_killed_mid_wait_and_restarted(
    airflow: LocalAirflow, scenario_runs: ScenarioRuns, emulators: dict[str, EmulatorClient]
) -> None:
    run_id, emulator = scenario_runs[DAG_ID], emulators["crash"]  # its job stays PENDING until finished below
    airflow.wait_for_task_state(DAG_ID, run_id, "job", {"deferred"}, timeout=90)
    wait_until(lambda: _polls(emulator) >= 1, 60, "the trigger's first poll")
    old_triggerer = airflow.triggerer_job_id()

    airflow.kill_triggerer()
    polls_at_kill = _polls(emulator)
    airflow.start_triggerer()
    new_triggerer = airflow.triggerer_job_id()
    assert new_triggerer is not None and new_triggerer != old_triggerer

    # Once the dead triggerer's heartbeat is stale, its trigger moves to the new one and polls again.
    def reassigned() -> bool:
        row = airflow.trigger_row_for(DAG_ID, run_id, "job")
        return row is not None and row.triggerer_id == new_triggerer

    wait_until(reassigned, 60, "the trigger's move to the new triggerer")
    wait_until(lambda: _polls(emulator) > polls_at_kill, 60, "a poll from the new triggerer")
    assert airflow.task_state(DAG_ID, run_id, "job") == "deferred"
    job_name = emulator.stats()["jobs"][0]["name"]
    emulator.finish_job(job_name, "SUCCEEDED")

    airflow.wait_for_task_state(DAG_ID, run_id, "job", {"success"}, timeout=60)
    stats = emulator.stats()
    assert jobs_created(stats) == 1, stats["jobs"]
    assert cancels(stats) == 0
    assert [job["state"] for job in stats["jobs"]] == ["JOB_STATE_SUCCEEDED"]
    manifest = airflow.read_xcom(DAG_ID, run_id, "job")
    assert manifest["job_name"] == job_name and manifest["state"] == "JOB_STATE_SUCCEEDED"
