"""The big-job example on a real scheduler: the producer's combine updates the results asset, and the consumer DAG
scheduled on that asset gets an asset-triggered run that reads the event's extra (job names, counts, tokens).

The DAGs are ``example_dags/big_job.py`` itself (``tests/e2e/dags/e2e_big_job.py`` imports it). Its connection
``genai_batch_big_job`` points at an emulator of its own (``conftest.py``: short jobs), so this test counts only its
jobs; the producer's run is triggered with the other scenarios, at the package's start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import LocalAirflow
from tests.e2e.conftest import ScenarioRuns
from tests.e2e.support import jobs_created, wait_until

pytestmark = pytest.mark.e2e

PRODUCER = "genai_batch_big_job"
CONSUMER = "genai_batch_big_job_report"
#: The example's requests: ten prompts, keys r0..r9, four per shard here.
KEYS = [f"r{n}" for n in range(10)]


def _asset_triggered_runs(airflow: LocalAirflow) -> list[dict[str, Any]]:
    response = airflow.api("GET", f"/api/v2/dags/{CONSUMER}/dagRuns")
    response.raise_for_status()
    return [run for run in response.json()["dag_runs"] if run["run_type"] == "asset_triggered"]


def test_consumer_runs_on_the_producers_asset_event(
    airflow: LocalAirflow, scenario_runs: ScenarioRuns, emulators: dict[str, EmulatorClient]
) -> None:
    run_id = scenario_runs[PRODUCER]
    state = airflow.wait_for_dag_run(PRODUCER, run_id, timeout=240)
    assert state == "success", airflow.task_log(PRODUCER, run_id, "combine")[-4000:]

    manifest = airflow.read_xcom(PRODUCER, run_id, "combine")
    stats = emulators["big_job"].stats()
    assert jobs_created(stats) == 3
    assert sorted(shard["job_name"] for shard in manifest["shards"]) == sorted(job["name"] for job in stats["jobs"])
    assert [shard["requests"] for shard in manifest["shards"]] == [4, 4, 2]
    lines = [json.loads(line) for line in Path(manifest["destination"]).read_text().splitlines()]
    assert [line["key"] for line in lines] == KEYS  # every request once, in input order

    # The scheduler turns the combine's asset event into a run of the consumer.
    [consumer_run] = wait_until(lambda: _asset_triggered_runs(airflow), timeout=60, what="an asset-triggered run")
    # exactly one: the consumer has no other run
    consumer_run_id = consumer_run["dag_run_id"]
    assert airflow.wait_for_dag_run(CONSUMER, consumer_run_id, timeout=120) == "success"

    report = airflow.read_xcom(CONSUMER, consumer_run_id, "report")
    assert report["job_names"] == [shard["job_name"] for shard in manifest["shards"]]
    assert report["results"] == 10 and report["failed"] == 0
    assert report["usage"] == manifest["usage"]["total"] and report["usage"]["total_tokens"] > 0
    assert report["estimated_cost"] == manifest["estimated_cost"] and report["estimated_cost"]["total"] > 0
    log = airflow.task_log(CONSUMER, consumer_run_id, "report")
    assert f"3 jobs, 10 results, {manifest['usage']['total']['total_tokens']} tokens" in log
