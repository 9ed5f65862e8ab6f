"""Vertex AI: a batch prediction job from a BigQuery table (a ``request`` JSON column) to a BigQuery dataset.

Results stay in BigQuery: the manifest (XCom) names the output table for the next task's SQL.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["genai-batch", "vertex"],
    params={
        "source_table": Param("bq://my-proj.genai.requests", type="string"),
        "dest_dataset": Param("bq://my-proj.genai_out", type="string"),
    },
)
def genai_batch_vertex_bigquery() -> None:
    """Submit the table, wait in the worker, hand the output table's name to the next task."""
    predict = GenAIBatchCreateJobOperator(
        task_id="predict",
        genai_batch_conn_id="genai_batch_vertex",
        model="gemini-2.5-flash",
        src="{{ params.source_table }}",
        config={"dest": "{{ params.dest_dataset }}"},
        min_poll_interval=FIRST_POLL_SECONDS,
    )

    @task
    def next_step(manifest: dict[str, object]) -> str:
        """Your SQL would read the predictions table here."""
        table = str((manifest.get("results") or {}).get("bigquery_table"))  # type: ignore[union-attr]
        print(f"the predictions are in {table}")
        return table

    next_step(predict.output)


genai_batch_vertex_bigquery()
