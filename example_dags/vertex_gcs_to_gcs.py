"""Vertex AI: a Gemini batch prediction job reading JSONL from GCS and writing predictions to GCS.

Connection ``genai_batch_vertex``: ``{"conn_type": "genai_batch", "extra": {"backend": "vertex", "project": "my-proj",
"location": "us-central1"}}`` (Application Default Credentials), or with ``service_account_key`` /
``impersonation_chain``; an existing ``google_cloud_platform`` connection works too. The input must be in a
bucket in the job's region; each line is ``{"request": {...}}`` (a ``key`` field is carried through).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchWriteResultsOperator

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))
RESULTS_DIR = os.environ.get("GENAI_BATCH_RESULTS_DIR", "/tmp/genai-batch-results")


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["genai-batch", "vertex"],
    params={
        "input_uri": Param("gs://my-genai-bucket/batch/input.jsonl", type="string"),
        "output_prefix": Param("gs://my-genai-bucket/batch/output", type="string"),
    },
)
def genai_batch_vertex_gcs_to_gcs() -> None:
    """Submit the GCS input, wait deferred, stream every predictions shard to a local JSONL file."""
    predict = GenAIBatchCreateJobOperator(
        task_id="predict",
        genai_batch_conn_id="genai_batch_vertex",
        model="gemini-2.5-flash",
        src="{{ params.input_uri }}",
        config={"dest": "{{ params.output_prefix }}", "labels": {"team": "analytics"}},
        deferrable=True,
        min_poll_interval=FIRST_POLL_SECONDS,
    )
    GenAIBatchWriteResultsOperator(
        task_id="save_results",
        genai_batch_conn_id="genai_batch_vertex",
        name=predict.output,
        destination=RESULTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}.jsonl",
    )


genai_batch_vertex_gcs_to_gcs()
