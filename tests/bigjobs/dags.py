"""DAGs of the big-jobs tests, built from JSON parameters so the DAG file ``dag.test()`` parses is two lines."""

from __future__ import annotations

import datetime as dt
import json

from airflow.sdk import DAG, Asset

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchWriteResultsOperator

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
FAST = {"poll_interval": 0.1, "min_poll_interval": 0.05}


def create_then_save(dag_id: str, params_json: str) -> DAG:
    """create (waits) >> save, with ``prices`` and optional asset ``outlets`` on both."""
    params = json.loads(params_json)
    outlets = [Asset(params["asset"])] if params.get("asset") else []
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, render_template_as_native_obj=True) as dag:
        create = GenAIBatchCreateJobOperator(
            task_id="create",
            model=params["model"],
            src=params["src"],
            config=params.get("config"),
            max_failure_ratio=params.get("max_failure_ratio", 0.0),
            genai_batch_conn_id=params["conn_id"],
            deferrable=False,
            **FAST,
        )
        save = GenAIBatchWriteResultsOperator(
            task_id="save",
            name="{{ ti.xcom_pull(task_ids='create') }}",
            destination=params["destination"],
            genai_batch_conn_id=params["conn_id"],
            prices=params.get("prices"),
            outlets=outlets,
        )
        create >> save
    return dag
