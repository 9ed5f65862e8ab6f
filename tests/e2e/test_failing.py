"""A job that ends FAILED fails the task with the service's reason (and feeds the secret scan a failure path)."""

from __future__ import annotations

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import LocalAirflow
from tests.e2e.conftest import FAILED_JOB_MESSAGE, ScenarioRuns
from tests.e2e.support import jobs_created

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_failing"


def test_failed_job_fails_the_task_and_names_the_cause(
    airflow: LocalAirflow, scenario_runs: ScenarioRuns, emulators: dict[str, EmulatorClient]
) -> None:
    run_id = scenario_runs[DAG_ID]
    assert airflow.wait_for_dag_run(DAG_ID, run_id, timeout=120) == "failed"
    assert airflow.task_state(DAG_ID, run_id, "job") == "failed"
    stats = emulators["failing"].stats()
    assert jobs_created(stats) == 1
    assert stats["jobs"][0]["state"] == "JOB_STATE_FAILED"
    task_log = airflow.task_log(DAG_ID, run_id, "job")
    assert FAILED_JOB_MESSAGE in task_log
    assert stats["jobs"][0]["name"] in task_log
