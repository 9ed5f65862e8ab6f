"""The harness itself: a real scheduler, worker and triggerer run a deferrable sensor from the standard provider.
Its command line (``up``, ``status``, ``run-dag``, ``restart``, SIGTERM) is proved on the production shape by
``test_cli_survives_a_killed_triggerer.py``."""

from __future__ import annotations

import pytest

from scripts.local_airflow import LocalAirflow, TriggerRecorder
from tests.e2e.conftest import ScenarioRuns

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_harness_smoke"


def test_deployment_reports_every_component_healthy(airflow: LocalAirflow) -> None:
    health = airflow.health()
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health


def test_deferrable_sensor_runs_on_the_real_triggerer(
    airflow: LocalAirflow, scenario_runs: ScenarioRuns, trigger_recorder: TriggerRecorder
) -> None:
    run_id = scenario_runs[DAG_ID]  # triggered with the scenarios, at the package's start
    airflow.wait_for_task_state(DAG_ID, run_id, "answer", {"success"}, timeout=120)

    assert airflow.task_state(DAG_ID, run_id, "wait") == "success"
    assert airflow.read_xcom(DAG_ID, run_id, "answer") == {"answer": 42}
    trigger_recorder.sample()
    # Only this DAG's sensor defers to a DateTimeTrigger.
    assert any(row.classpath.endswith("DateTimeTrigger") for row in trigger_recorder.rows)
    names = [path.name for path in airflow.task_log_files(DAG_ID, run_id, "wait")]
    assert any(".trigger." in name for name in names), names  # the triggerer wrote the trigger's own log
