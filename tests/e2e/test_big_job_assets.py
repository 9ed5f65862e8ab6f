"""The big-job example on a real scheduler: the producer's combine updates the results asset, and the consumer DAG
scheduled on that asset gets an asset-triggered run that reads the event's extra (job names, counts, tokens).

The DAGs are ``example_dags/big_job.py`` itself (``tests/e2e/dags/e2e_big_job.py`` imports it). Its connection
``genai_batch_big_job`` is created here, through the REST API, pointing at an emulator of this test's own (the
in-process one), so the counters of the scenario emulators are not disturbed and this test counts only its jobs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from scripts.local_airflow import LocalAirflow
from tests.e2e.support import jobs_created, wait_until

pytestmark = pytest.mark.e2e

PRODUCER = "genai_batch_big_job"
CONSUMER = "genai_batch_big_job_report"
CONN_ID = "genai_batch_big_job"
#: The example's requests: ten prompts, keys r0..r9, four per shard here.
KEYS = [f"r{n}" for n in range(10)]


@pytest.fixture
def big_job_emulator(airflow: LocalAirflow, genai_batch_emulator: EmulatorHandle) -> EmulatorHandle:
    """The in-process emulator with short jobs, behind the connection the example DAG uses."""
    genai_batch_emulator.configure(job_seconds=1.0, pending_seconds=0.2)
    body = {
        "connection_id": CONN_ID,
        "conn_type": "genai_batch",
        "host": genai_batch_emulator.base_url,
        "password": genai_batch_emulator.api_key,
    }
    response = airflow.api("POST", "/api/v2/connections", json=body)
    assert response.status_code in (201, 409), response.text  # 409: created by an earlier run of this test
    if response.status_code == 409:
        airflow.api("PATCH", f"/api/v2/connections/{CONN_ID}", json=body).raise_for_status()
    return genai_batch_emulator


def _asset_triggered_runs(airflow: LocalAirflow) -> list[dict[str, Any]]:
    response = airflow.api("GET", f"/api/v2/dags/{CONSUMER}/dagRuns")
    response.raise_for_status()
    return [run for run in response.json()["dag_runs"] if run["run_type"] == "asset_triggered"]


def test_consumer_runs_on_the_producers_asset_event(airflow: LocalAirflow, big_job_emulator: EmulatorHandle) -> None:
    airflow.wait_for_dags([PRODUCER, CONSUMER], timeout=120)
    assert _asset_triggered_runs(airflow) == []

    run_id = airflow.trigger_dag(PRODUCER)
    state = airflow.wait_for_dag_run(PRODUCER, run_id, timeout=240)
    assert state == "success", airflow.task_log(PRODUCER, run_id, "combine")[-4000:]

    manifest = airflow.read_xcom(PRODUCER, run_id, "combine")
    stats = big_job_emulator.stats()
    assert jobs_created(stats) == 3
    assert sorted(shard["job_name"] for shard in manifest["shards"]) == sorted(job["name"] for job in stats["jobs"])
    assert [shard["requests"] for shard in manifest["shards"]] == [4, 4, 2]
    lines = [json.loads(line) for line in Path(manifest["destination"]).read_text().splitlines()]
    assert [line["key"] for line in lines] == KEYS  # every request once, in input order

    # The scheduler turns the combine's asset event into a run of the consumer.
    [consumer_run] = wait_until(lambda: _asset_triggered_runs(airflow), timeout=60, what="an asset-triggered run")
    consumer_run_id = consumer_run["dag_run_id"]
    assert airflow.wait_for_dag_run(CONSUMER, consumer_run_id, timeout=120) == "success"

    report = airflow.read_xcom(CONSUMER, consumer_run_id, "report")
    assert report["job_names"] == [shard["job_name"] for shard in manifest["shards"]]
    assert report["results"] == 10 and report["failed"] == 0
    assert report["usage"] == manifest["usage"]["total"] and report["usage"]["total_tokens"] > 0
    assert report["estimated_cost"] == manifest["estimated_cost"] and report["estimated_cost"]["total"] > 0
    log = airflow.task_log(CONSUMER, consumer_run_id, "report")
    assert f"3 jobs, 10 results, {manifest['usage']['total']['total_tokens']} tokens" in log
