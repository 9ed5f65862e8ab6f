"""GenAIBatchJobSensor through dag.test() and the emulator, in both modes (the happy path with the other
operators is in tests/operators/test_job_operators.py)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.conftest import VERTEX_CONN_ID
from tests.timings import FAST

MANIFEST = "{{ ti.xcom_pull(task_ids='create') }}"
PROMPTS = [{"contents": "alpha", "metadata": {"key": "a"}}, {"contents": "beta", "metadata": {"key": "b"}}]


def submit(**kwargs: Any) -> dict[str, Any]:
    return {
        "class": "GenAIBatchCreateJobOperator",
        "task_id": "create",
        "model": "gemini-2.5-flash",
        "src": PROMPTS,
        "wait_for_completion": False,
        **kwargs,
    }


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_sensor_fails_with_the_jobs_error(run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool) -> None:
    fast_emulator.add_outcome("FAILED", error_message="input file is corrupt")
    tasks = [
        submit(),
        {
            "class": "GenAIBatchJobSensor",
            "task_id": "wait",
            "name": MANIFEST,
            "deferrable": deferrable,
            "poke_interval": 0.1,
            **FAST,
        },
    ]
    result = run_dag({"dag_id": f"sensor_fails_{deferrable}", "tasks": tasks})
    assert result.task_states["wait"] == "failed"
    assert "input file is corrupt" in result.output


def test_sensor_on_vertex_with_partial_failures_allowed(run_dag: Any, fast_emulator: EmulatorHandle) -> None:
    fast_emulator.add_outcome("PARTIALLY_SUCCEEDED", failed_requests=[0])
    tasks = [
        submit(genai_batch_conn_id=VERTEX_CONN_ID),
        {
            "class": "GenAIBatchJobSensor",
            "task_id": "wait",
            "name": MANIFEST,
            "deferrable": True,
            "genai_batch_conn_id": VERTEX_CONN_ID,
            "max_failure_ratio": 0.5,
            **FAST,
        },
    ]
    result = run_dag({"dag_id": "sensor_vertex_partial", "tasks": tasks})
    assert result.state == "success", result.output[-3000:]
    assert result.value("wait")["state"] == "JOB_STATE_PARTIALLY_SUCCEEDED"


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
@pytest.mark.parametrize("state", ["FAILED", "CANCELLED", "EXPIRED"])
def test_a_dead_job_fails_the_sensor_without_retries(
    run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool, state: str
) -> None:
    """Retries would only re-read the same dead job: the sensor fails for good (AirflowFailException)."""
    fast_emulator.add_outcome(state, error_message="gone for good")
    tasks = [
        submit(),
        {"class": "GenAIBatchJobSensor", "task_id": "wait", "name": MANIFEST, "deferrable": deferrable, **FAST},
    ]
    result = run_dag({"dag_id": f"sensor_dead_{state}_{deferrable}", "retries": 2, "tasks": tasks})
    assert result.task_states["wait"] == "failed", result.output[-2000:]
    assert result.try_numbers["wait"] == 1
    assert "GenAIBatchJobEndedError" in result.output


def test_poke_and_reschedule_modes_wait_on_the_adaptive_schedule() -> None:
    """The wait between pokes is the trigger's: the watch's last decision, else the schedule; never past timeout."""
    from airflow_provider_genai_batch.policy.polling import PollingSchedule
    from airflow_provider_genai_batch.sensors.genai_batch import GenAIBatchJobSensor

    sensor = GenAIBatchJobSensor(
        task_id="s", name="batches/a", poll_interval=60, min_poll_interval=2, poke_interval=1, timeout=1000
    )
    schedule = PollingSchedule(min_interval=2, max_interval=60)
    for elapsed in (0.0, 100.0, 400.0, 5000.0):
        expected = min(schedule.interval(elapsed), max(1000 - elapsed, 0.0))
        assert sensor._get_next_poke_interval(0.0, lambda e=elapsed: e, 1) == expected
    sensor._next_wait = 8.0  # what the last poke's decision said (e.g. an error back-off)
    assert sensor._get_next_poke_interval(0.0, lambda: 10.0, 2) == 8.0
