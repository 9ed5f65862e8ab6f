"""Housekeeping: list recent jobs, cancel one that is no longer wanted, delete it."""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_genai_batch.operators import (
    GenAIBatchCancelJobOperator,
    GenAIBatchDeleteJobOperator,
    GenAIBatchGetJobOperator,
    GenAIBatchListJobsOperator,
)


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["genai-batch", "housekeeping"],
    params={"job_name": Param("batches/replace-me", type="string")},
)
def genai_batch_housekeeping() -> None:
    """List the newest jobs (small manifests only), then cancel and delete the one named in the params."""
    listed = GenAIBatchListJobsOperator(task_id="list_recent", max_jobs=20)
    status = GenAIBatchGetJobOperator(task_id="status", name="{{ params.job_name }}")
    cancel = GenAIBatchCancelJobOperator(task_id="cancel", name="{{ params.job_name }}")
    delete = GenAIBatchDeleteJobOperator(task_id="delete", name="{{ params.job_name }}")
    listed >> status >> cancel >> delete


genai_batch_housekeeping()
