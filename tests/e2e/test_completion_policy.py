"""A completion policy on a real scheduler and triggerer (deferrable): the first Vertex AI job ends
PARTIALLY_SUCCEEDED with two rows failed retryably (429, 500); the worker resubmits just those two as a follow-up
job after the trigger's event, defers again, and the run ends with every row answered once, by two jobs.

The DAG is ``example_dags/completion_policy.py`` itself (``tests/e2e/dags/e2e_completion_policy.py`` imports it).
Its connection ``genai_batch_completion`` is Vertex AI on an emulator of its own (``conftest.py``, which also sets
the partial outcome), so this test counts only its jobs; the run is triggered with the other scenarios.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import LocalAirflow
from tests.e2e.conftest import ScenarioRuns
from tests.e2e.support import jobs_created

pytestmark = pytest.mark.e2e

DAG_ID = "genai_batch_completion_policy"
ROWS = 5  # the example's products


def test_a_partially_succeeded_job_is_finished_by_one_follow_up(
    airflow: LocalAirflow, scenario_runs: ScenarioRuns, emulators: dict[str, EmulatorClient]
) -> None:
    run_id = scenario_runs[DAG_ID]
    state = airflow.wait_for_dag_run(DAG_ID, run_id, timeout=300)
    assert state == "success", airflow.task_log(DAG_ID, run_id, "describe_products")[-4000:]

    manifest = airflow.read_xcom(DAG_ID, run_id, "describe_products")
    completion = manifest["completion"]
    assert [(a["attempt"], a["state"], a["rows"]) for a in completion["attempts"]] == [
        (1, "JOB_STATE_PARTIALLY_SUCCEEDED", ROWS),
        (2, "JOB_STATE_SUCCEEDED", 2),
    ]
    assert completion["rows"] == {"total": ROWS, "answered": ROWS, "failed": 0, "given_up": 0}
    assert manifest["request_counts"] == {"total": ROWS, "succeeded": ROWS, "failed": 0, "pending": 0}
    stats = emulators["completion"].stats()
    assert jobs_created(stats) == 2
    assert sorted(job["name"] for job in stats["jobs"]) == sorted(a["job_name"] for a in completion["attempts"])

    written = airflow.read_xcom(DAG_ID, run_id, "save_results")
    lines = [json.loads(line) for line in Path(written["destination"]).read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(ROWS))  # every row once, in input order
    assert [line["attempt"] for line in lines] == [1, 2, 1, 2, 1]
    assert all("error" not in line and line["response"] for line in lines)
    report = airflow.read_xcom(DAG_ID, run_id, "report")
    assert report["answered_by_attempt"] == {f"product-{n}": 2 if n in (1, 3) else 1 for n in range(ROWS)}
    # The worker resubmitted between two deferrals: the task deferred twice (one trigger per attempt).
    log = airflow.task_log(DAG_ID, run_id, "describe_products")
    assert "Attempt 2: 2 rows to resubmit" in log
