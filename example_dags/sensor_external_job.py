"""Wait for a batch job submitted elsewhere (another DAG, a notebook, the SDK) by its name, deferred."""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_genai_batch.sensors import GenAIBatchJobSensor

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["genai-batch", "sensor"],
    params={"job_name": Param("batches/replace-me", type="string")},
)
def genai_batch_sensor_external_job() -> None:
    """The sensor succeeds with the job's manifest when it succeeds, and fails when it fails or expires."""
    wait = GenAIBatchJobSensor(
        task_id="wait_for_job",
        name="{{ params.job_name }}",
        deferrable=True,
        min_poll_interval=FIRST_POLL_SECONDS,
        timeout=48 * 3600,
    )

    @task
    def report(manifest: dict[str, object]) -> str:
        print(f"{manifest['job_name']} ended {manifest['state']} with counts {manifest.get('request_counts')}")
        return str(manifest["state"])

    report(wait.output)


genai_batch_sensor_external_job()
