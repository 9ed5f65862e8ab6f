"""execute_complete: the event is validated (an unknown status never succeeds) and the job re-read once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator
from airflow_provider_genai_batch.operators.exceptions import (
    GenAIBatchJobFailedError,
    GenAIBatchJobTimeoutError,
    GenAIBatchPollingError,
)
from airflow_provider_genai_batch.sensors import GenAIBatchJobSensor


def context(reattached: bool | None = None) -> dict[str, Any]:
    return {"ti": SimpleNamespace(xcom_pull=lambda **_: reattached)}


def operator(**kwargs: Any) -> GenAIBatchCreateJobOperator:
    return GenAIBatchCreateJobOperator(task_id="create", model="gemini-2.5-flash", src=["x"], **kwargs)


@pytest.mark.parametrize(
    "event",
    [None, {}, {"status": "SUCCESS", "job_name": "batches/a"}, {"status": "done", "job_name": "batches/a"}, "success"],
)
def test_unknown_events_never_succeed(emulator: EmulatorHandle, event: Any) -> None:
    with pytest.raises(GenAIBatchPollingError, match="cannot resume"):
        operator().execute_complete(context(), event=event)
    assert emulator.stats()["requests"] == {}


def test_success_is_rechecked_with_a_fresh_read(emulator: EmulatorHandle) -> None:
    job = GenAIBatchHook().create_job(model="gemini-2.5-flash", src=["x", "y"])
    emulator.finish_job(job.name)
    event = {"status": "success", "job_name": job.name, "state": "JOB_STATE_SUCCEEDED", "reason": ""}
    manifest = operator().execute_complete(context(reattached=True), event=event)
    assert manifest["job_name"] == job.name
    assert manifest["reattached"] is True
    assert manifest["request_counts"]["succeeded"] == 2
    assert emulator.stats()["requests"]["gemini.batches.get"] == 1


def test_a_success_event_for_a_job_that_did_not_succeed_fails(emulator: EmulatorHandle) -> None:
    job = GenAIBatchHook().create_job(model="gemini-2.5-flash", src=["x"])
    emulator.finish_job(job.name, "FAILED", error_message="boom")
    event = {"status": "success", "job_name": job.name}
    with pytest.raises(GenAIBatchJobFailedError, match="boom"):
        operator().execute_complete(context(), event=event)


def test_error_event_fails_with_the_reason(emulator: EmulatorHandle) -> None:
    event = {
        "status": "error",
        "job_name": "batches/a",
        "state": "JOB_STATE_FAILED",
        "reason": "job ended in FAILED: x",
    }
    with pytest.raises(GenAIBatchJobFailedError, match="job ended in FAILED: x"):
        operator().execute_complete(context(), event=event)
    assert emulator.stats()["cancels"]["gemini"] == 0


def test_polling_error_event_says_a_retry_reattaches(emulator: EmulatorHandle) -> None:
    event = {"status": "error", "job_name": "batches/a", "state": None, "reason": "polling failed"}
    with pytest.raises(GenAIBatchPollingError, match="a retry reattaches"):
        operator().execute_complete(context(), event=event)


@pytest.mark.parametrize(("cancel", "cancels"), [(True, 1), (False, 0)])
def test_timeout_event_cancels_when_asked(emulator: EmulatorHandle, cancel: bool, cancels: int) -> None:
    emulator.add_outcome("STUCK_PENDING")
    job = GenAIBatchHook().create_job(model="gemini-2.5-flash", src=["x"])
    event = {"status": "timeout", "job_name": job.name, "state": "JOB_STATE_PENDING", "reason": "timeout: ..."}
    with pytest.raises(GenAIBatchJobTimeoutError):
        operator(cancel_on_timeout=cancel).execute_complete(context(), event=event)
    assert emulator.stats()["cancels"]["gemini"] == cancels


def test_sensor_resume_shares_the_validation(emulator: EmulatorHandle) -> None:
    sensor = GenAIBatchJobSensor(task_id="wait", name="batches/a")
    with pytest.raises(GenAIBatchPollingError):
        sensor.execute_complete(context(), event={"status": "weird", "job_name": "batches/a"})
