"""A completion policy on a real scheduler and triggerer (deferrable): the first Vertex AI job ends
PARTIALLY_SUCCEEDED with two rows failed retryably (429, 500); the worker resubmits just those two as a follow-up
job after the trigger's event, defers again, and the run ends with every row answered once, by two jobs.

The DAG is ``example_dags/completion_policy.py`` itself (``tests/e2e/dags/e2e_completion_policy.py`` imports it).
Its connection ``genai_batch_completion`` is created here through the REST API, pointing at this test's own
emulator (the in-process one), so the scenario emulators' counters are not disturbed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from scripts.local_airflow import LocalAirflow
from tests.conftest import vertex_connection
from tests.e2e.support import jobs_created

pytestmark = pytest.mark.e2e

DAG_ID = "genai_batch_completion_policy"
CONN_ID = "genai_batch_completion"
ROWS = 5  # the example's products


@pytest.fixture
def completion_emulator(airflow: LocalAirflow, genai_batch_emulator: EmulatorHandle) -> EmulatorHandle:
    """The in-process emulator behind the example's connection, as Vertex AI. Jobs last ~8 s: a trigger firing
    sooner than the scheduler handles the deferring worker's exit hits an Airflow race (see tests/e2e/conftest)."""
    genai_batch_emulator.configure(job_seconds=8.0, pending_seconds=0.5)
    conn = vertex_connection(genai_batch_emulator)
    body = {
        "connection_id": CONN_ID,
        "conn_type": conn["conn_type"],
        "host": conn["host"],
        "extra": json.dumps(conn["extra"]),
    }
    response = airflow.api("POST", "/api/v2/connections", json=body)
    assert response.status_code in (201, 409), response.text  # 409: created by an earlier run of this test
    if response.status_code == 409:
        airflow.api("PATCH", f"/api/v2/connections/{CONN_ID}", json=body).raise_for_status()
    return genai_batch_emulator


def test_a_partially_succeeded_job_is_finished_by_one_follow_up(
    airflow: LocalAirflow, completion_emulator: EmulatorHandle
) -> None:
    completion_emulator.add_outcome("PARTIALLY_SUCCEEDED", failed_requests={1: 429, 3: 500})
    airflow.wait_for_dags([DAG_ID], timeout=120)
    run_id = airflow.trigger_dag(DAG_ID)
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
    stats = completion_emulator.stats()
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
