"""A user marks the deferred task failed: the trigger's ``on_kill`` (Airflow 3.3+) cancels the remote job."""

from __future__ import annotations

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient, EmulatorStats
from scripts.local_airflow import LocalAirflow
from tests.e2e.conftest import ScenarioRuns
from tests.e2e.support import AIRFLOW_3_3_PLUS, AIRFLOW_VERSION, cancels, jobs_created, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not AIRFLOW_3_3_PLUS, reason=f"triggers get on_kill() from Airflow 3.3; this is {AIRFLOW_VERSION}"
    ),
]

DAG_ID = "e2e_on_kill"


def test_marking_a_deferred_task_failed_cancels_the_job(
    airflow: LocalAirflow, scenario_runs: ScenarioRuns, emulators: dict[str, EmulatorClient]
) -> None:
    run_id, emulator = scenario_runs[DAG_ID], emulators["on_kill"]
    airflow.wait_for_task_state(DAG_ID, run_id, "job", {"deferred"}, timeout=90)
    # The trigger is polling the job (the triggerer has it) before the user acts.
    wait_until(lambda: emulator.stats()["requests"].get("gemini.batches.get", 0) >= 1, 60, "the trigger's poll")

    airflow.mark_task_failed(DAG_ID, run_id, "job")

    def cancelled() -> EmulatorStats | None:
        stats = emulator.stats()
        return stats if cancels(stats) >= 1 else None

    # The triggerer cancels on its next loop; on a loaded machine, with every scenario running at once, that took
    # up to 25 s (a wait, not a claim about speed).
    stats = wait_until(cancelled, 90, "the job's cancellation")
    assert cancels(stats) == 1
    assert jobs_created(stats) == 1
    assert stats["jobs"][0]["state"] == "JOB_STATE_CANCELLED"
    assert airflow.task_state(DAG_ID, run_id, "job") == "failed"
    job_name = stats["jobs"][0]["name"]

    def trigger_log() -> str:
        files = airflow.task_log_files(DAG_ID, run_id, "job")
        return "\n".join(p.read_text(errors="replace") for p in files if ".trigger." in p.name)

    # The triggerer writes the line after the cancel call returns: the emulator can count it first.
    wait_until(lambda: f"on_kill: cancelled {job_name}" in trigger_log(), 30, "on_kill's line in the trigger log")
