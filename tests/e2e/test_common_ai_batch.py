"""A real Airflow (scheduler, dag-processor, triggerer) runs one common-ai ``@task.llm_batch`` DAG on Gemini to
success through our adapter: the task defers to common-ai's ``LLMBatchTrigger``, whose row carries the connection
id only, and the worker lands the results. It runs on the package's deployment (``conftest.py``: its own emulator
and connection ``pydanticai_e2e``), beside the other scenarios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import LocalAirflow, TriggerRecorder
from tests.e2e.conftest import COMMON_AI_API_KEY, ScenarioRuns

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_common_ai_batch"  # triggered with the other scenarios (conftest.py)
TRIGGER_CLASSPATH = "airflow.providers.common.ai.triggers.llm_batch.LLMBatchTrigger"


def test_common_ai_batch_dag_runs_to_success_through_the_triggerer(
    airflow: LocalAirflow, scenario_runs: ScenarioRuns, trigger_recorder: TriggerRecorder
) -> None:
    run_id = scenario_runs[DAG_ID]
    assert airflow.wait_for_dag_run(DAG_ID, run_id, timeout=240) == "success", airflow.task_log(
        DAG_ID, run_id, "batch"
    )[-6000:]
    trigger_recorder.sample()
    rows = [row for row in trigger_recorder.rows if row.classpath == TRIGGER_CLASSPATH]
    assert rows, "the task never deferred to common-ai's trigger"
    for row in rows:
        kwargs: Any = row.kwargs
        assert "pydanticai_e2e" in row.kwargs_text
        assert '"adapter"' in row.kwargs_text and '"google"' in row.kwargs_text
        assert COMMON_AI_API_KEY not in row.raw_kwargs and COMMON_AI_API_KEY not in row.kwargs_text, kwargs
    manifest: dict[str, Any] = airflow.read_xcom(DAG_ID, run_id, "batch")
    assert manifest["adapter"] == "google"
    assert manifest["counts"]["succeeded"] == 2 and manifest["counts"]["errored"] == 1
    landed = [
        json.loads(line) for line in Path(manifest["result_uri"].removeprefix("file://")).read_text().splitlines()
    ]
    assert sorted(row["status"] for row in landed) == ["error", "success", "success"]
    assert COMMON_AI_API_KEY not in airflow.task_log(DAG_ID, run_id, "batch")
    with EmulatorClient(airflow.emulator_urls["common_ai"]) as emulator:
        assert emulator.stats()["jobs_created"] == 1
