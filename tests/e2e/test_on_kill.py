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

    stats = wait_until(cancelled, 30, "the job's cancellation")
    assert cancels(stats) == 1
    assert jobs_created(stats) == 1
    assert stats["jobs"][0]["state"] == "JOB_STATE_CANCELLED"
    assert airflow.task_state(DAG_ID, run_id, "job") == "failed"
    trigger_log = "\n".join(
        p.read_text(errors="replace") for p in airflow.task_log_files(DAG_ID, run_id, "job") if ".trigger." in p.name
    )
    assert "on_kill: cancelled " + stats["jobs"][0]["name"] in trigger_log
