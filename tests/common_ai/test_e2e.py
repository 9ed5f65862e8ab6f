"""A real Airflow (scheduler, dag-processor, triggerer) runs one common-ai ``@task.llm_batch`` DAG on Gemini to
success through our adapter: the task defers to common-ai's ``LLMBatchTrigger``, whose row carries the connection
id only, and the worker lands the results."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import EmulatorSpec, LocalAirflow

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "e2e_common_ai_batch"
API_KEY = "e2e-common-ai-key-0123456789"
TRIGGER_CLASSPATH = "airflow.providers.common.ai.triggers.llm_batch.LLMBatchTrigger"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalAirflow, Path]]:
    results = tmp_path_factory.mktemp("e2e-common-ai-results")
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    airflow = LocalAirflow(
        dags_folder=Path(__file__).parent / "e2e_dags",
        connections=lambda urls: {
            "pydanticai_e2e": {"conn_type": "pydanticai", "host": urls["gemini"], "password": API_KEY}
        },
        # Jobs last ~8 s so the trigger does not fire before the scheduler has seen the task defer.
        emulators={"gemini": EmulatorSpec(api_key=API_KEY, job_seconds=8.0, pending_seconds=1.0)},
        extra_env={"PYTHONPATH": pythonpath, "E2E_COMMON_AI_RESULTS": f"file://{results}"},
        parse_interval=120,
    )
    with airflow:
        airflow.wait_for_dags([DAG_ID], timeout=120)
        yield airflow, results


def test_common_ai_batch_dag_runs_to_success_through_the_triggerer(deployment: tuple[LocalAirflow, Path]) -> None:
    airflow, _ = deployment
    recorder = airflow.record_triggers(interval=0.3)
    try:
        run_id = airflow.trigger_dag(DAG_ID)
        airflow.wait_for_task_state(DAG_ID, run_id, "batch", {"deferred"}, timeout=120)
        assert airflow.wait_for_dag_run(DAG_ID, run_id, timeout=240) == "success", airflow.task_log(
            DAG_ID, run_id, "batch"
        )[-6000:]
        recorder.sample()
        rows = [row for row in recorder.rows if row.classpath == TRIGGER_CLASSPATH]
    finally:
        recorder.stop()
    assert rows, "the task never deferred to common-ai's trigger"
    for row in rows:
        kwargs: Any = row.kwargs
        assert "pydanticai_e2e" in row.kwargs_text
        assert '"adapter"' in row.kwargs_text and '"google"' in row.kwargs_text
        assert API_KEY not in row.raw_kwargs and API_KEY not in row.kwargs_text, kwargs
    manifest: dict[str, Any] = airflow.read_xcom(DAG_ID, run_id, "batch")
    assert manifest["adapter"] == "google"
    assert manifest["counts"]["succeeded"] == 2 and manifest["counts"]["errored"] == 1
    landed = [
        json.loads(line) for line in Path(manifest["result_uri"].removeprefix("file://")).read_text().splitlines()
    ]
    assert sorted(row["status"] for row in landed) == ["error", "success", "success"]
    assert API_KEY not in airflow.task_log(DAG_ID, run_id, "batch")
    with EmulatorClient(airflow.emulator_urls["gemini"]) as emulator:
        assert emulator.stats()["jobs_created"] == 1
