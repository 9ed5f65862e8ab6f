"""A deferrable create job completing through the real triggerer, on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import LocalAirflow, TriggerRecorder, TriggerRow
from tests.e2e.conftest import ScenarioRuns
from tests.e2e.support import TRIGGER_CLASSPATH, VERTEX_PROJECT, find_secrets

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_deferrable"


def _rows_for(recorder: TriggerRecorder, job_name: str) -> list[TriggerRow]:
    recorder.sample()
    return [row for row in recorder.rows if row.classpath == TRIGGER_CLASSPATH and job_name in row.kwargs_text]


def _finished_manifest(airflow: LocalAirflow, run_id: str, task_id: str) -> dict[str, Any]:
    airflow.wait_for_task_state(DAG_ID, run_id, task_id, {"success"}, timeout=120)
    manifest: dict[str, Any] = airflow.read_xcom(DAG_ID, run_id, task_id)
    return manifest


def _assert_deferred_through_trigger(
    airflow: LocalAirflow, recorder: TriggerRecorder, run_id: str, task_id: str, job_name: str, conn_id: str
) -> None:
    rows = _rows_for(recorder, job_name)
    assert rows, f"no trigger row for {job_name}: the task never deferred"
    for row in rows:
        assert conn_id in row.kwargs_text
        assert find_secrets(row.raw_kwargs + row.kwargs_text) == []
    trigger_logs = [p for p in airflow.task_log_files(DAG_ID, run_id, task_id) if ".trigger." in p.name]
    assert trigger_logs, "the triggerer wrote no trigger log"
    text = "\n".join(p.read_text(errors="replace") for p in trigger_logs)
    progress = [line for line in text.splitlines() if f"{job_name}: " in line and "elapsed" in line]
    assert progress, f"no progress line for {job_name} in the trigger log:\n{text[-3000:]}"


def test_gemini_job_completes_through_the_triggerer(
    airflow: LocalAirflow,
    scenario_runs: ScenarioRuns,
    trigger_recorder: TriggerRecorder,
    emulators: dict[str, EmulatorClient],
) -> None:
    run_id = scenario_runs[DAG_ID]
    manifest = _finished_manifest(airflow, run_id, "gemini_job")

    assert manifest["backend"] == "gemini"
    assert manifest["job_name"].startswith("batches/")
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert manifest["request_counts"]["succeeded"] == 2 and manifest["request_counts"]["failed"] == 0
    assert manifest["results"]["kind"] == "inline" and manifest["results"]["inline_count"] == 2
    assert manifest["reattached"] is False
    assert len(json.dumps(manifest)) < 2000  # a manifest, never the results
    _assert_deferred_through_trigger(
        airflow, trigger_recorder, run_id, "gemini_job", manifest["job_name"], "genai_batch_default"
    )
    stats = emulators["default"].stats()
    gemini_jobs = [job for job in stats["jobs"] if job["backend"] == "gemini"]
    assert [job["name"] for job in gemini_jobs] == [manifest["job_name"]]


def test_vertex_job_completes_through_the_triggerer(
    airflow: LocalAirflow,
    scenario_runs: ScenarioRuns,
    trigger_recorder: TriggerRecorder,
    emulators: dict[str, EmulatorClient],
) -> None:
    run_id = scenario_runs[DAG_ID]
    manifest = _finished_manifest(airflow, run_id, "vertex_job")

    assert manifest["backend"] == "vertex"
    assert manifest["job_name"].startswith(f"projects/{VERTEX_PROJECT}/locations/us-central1/batchPredictionJobs/")
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert manifest["results"]["kind"] == "gcs" and manifest["results"]["gcs_output_directory"].startswith("gs://")
    _assert_deferred_through_trigger(
        airflow, trigger_recorder, run_id, "vertex_job", manifest["job_name"], "genai_batch_vertex"
    )
    stats = emulators["default"].stats()
    vertex_jobs = [job for job in stats["jobs"] if job["backend"] == "vertex"]
    assert [job["name"] for job in vertex_jobs] == [manifest["job_name"]]
