"""The console link of a task that never got a job: no second, misleading "XCom not found" error next to the real
one (issue 23), while a task with a job still gets its link, in both modes."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.links.genai_batch import JOB_URL_XCOM_KEY
from tests.timings import FAST

MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]


def _create(**kwargs: Any) -> dict[str, Any]:
    return {"class": "GenAIBatchCreateJobOperator", "task_id": "create", "model": "gemini-2.5-flash", **FAST, **kwargs}


@pytest.mark.parametrize("deferrable", MODES)
def test_a_task_failing_before_any_job_logs_no_link_error(
    run_dag: Any, emulator: EmulatorHandle, deferrable: bool
) -> None:
    spec = {"dag_id": f"link_no_job_{deferrable}", "tasks": [_create(src=[], deferrable=deferrable)]}

    result = run_dag(spec)

    assert result.task_states["create"] == "failed"
    assert "src" in result.output and "is empty" in result.output  # the real error is there
    assert "XCom not found" not in result.output
    assert JOB_URL_XCOM_KEY not in result.output
    assert result.value("create", "_link_GenAIBatchJobLink") == ""
    assert emulator.stats()["jobs_created"] == 0


def test_a_task_failing_on_the_api_logs_no_link_error(run_dag: Any, emulator: EmulatorHandle) -> None:
    """A refused create (404 for an unknown model) fails before any job exists: one error, the API's."""
    spec = {"dag_id": "link_api_error", "tasks": [_create(model="gemini-0-unknown", src=["hi"])]}

    result = run_dag(spec)

    assert result.task_states["create"] == "failed"
    assert "NOT_FOUND" in result.output
    assert "XCom not found" not in result.output


@pytest.mark.parametrize("deferrable", MODES)
def test_a_task_with_a_job_still_gets_its_link(run_dag: Any, emulator: EmulatorHandle, deferrable: bool) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    spec = {"dag_id": f"link_job_{deferrable}", "tasks": [_create(src=["hi"], deferrable=deferrable)]}

    result = run_dag(spec)

    assert result.state == "success", result.output[-3000:]
    assert result.value("create", "_link_GenAIBatchJobLink") == "https://aistudio.google.com/batches"
    assert "XCom not found" not in result.output


@pytest.mark.parametrize("deferrable", MODES)
def test_a_failed_job_keeps_its_link_and_logs_no_link_error(
    run_dag: Any, emulator: EmulatorHandle, deferrable: bool
) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    emulator.add_outcome(final_state="FAILED", error_message="quota")
    spec = {"dag_id": f"link_failed_job_{deferrable}", "tasks": [_create(src=["hi"], deferrable=deferrable)]}

    result = run_dag(spec)

    assert result.task_states["create"] == "failed"
    assert "quota" in result.output
    assert result.value("create", "_link_GenAIBatchJobLink") == "https://aistudio.google.com/batches"
    assert "XCom not found" not in result.output


def test_the_sensor_on_a_missing_job_logs_no_link_error(run_dag: Any, emulator: EmulatorHandle) -> None:
    spec = {
        "dag_id": "link_sensor_missing",
        "tasks": [{"class": "GenAIBatchJobSensor", "task_id": "wait", "name": "batches/missing", **FAST}],
    }

    result = run_dag(spec)

    assert result.task_states["wait"] == "failed"
    assert "XCom not found" not in result.output
