"""DAGs of the big-jobs tests, built from JSON parameters so the DAG file ``dag.test()`` parses is two lines."""

from __future__ import annotations

import datetime as dt
import json

from airflow.sdk import DAG, Asset

from airflow_provider_genai_batch.operators import (
    GenAIBatchCombineResultsOperator,
    GenAIBatchCreateJobOperator,
    GenAIBatchSplitOperator,
    GenAIBatchWriteResultsOperator,
)

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
            outlets=[Asset(params["create_asset"])] if params.get("create_asset") else [],
            genai_batch_conn_id=params["conn_id"],
            deferrable=False,
            **FAST,
        )
        if params.get("save") is False:
            return dag
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


def sharded(dag_id: str, params_json: str) -> DAG:
    """split >> create (mapped, at most ``max_active`` at once) >> combine."""
    params = json.loads(params_json)
    outlets = [Asset(params["asset"])] if params.get("asset") else []
    default_args = {"retries": params.get("retries", 0), "retry_delay": dt.timedelta(seconds=0)}
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        default_args=default_args,
    ) as dag:
        split = GenAIBatchSplitOperator(
            task_id="split",
            src=params["src"],
            limits=params.get("limits", "gemini"),
            max_shard_requests=params.get("max_shard_requests"),
            shard_folder=params.get("shard_folder"),
            genai_batch_conn_id=params["conn_id"],
        )
        create = GenAIBatchCreateJobOperator.partial(
            task_id="create",
            model=params.get("model", "gemini-2.5-flash"),
            genai_batch_conn_id=params["conn_id"],
            deferrable=False,
            max_active_tis_per_dagrun=params.get("max_active", 2),
            **FAST,
        ).expand(src=split.output)
        GenAIBatchCombineResultsOperator(
            task_id="combine",
            jobs=create.output,
            shards=split.output_shards,
            destination=params["destination"],
            genai_batch_conn_id=params["conn_id"],
            prices=params.get("prices"),
            outlets=outlets,
        )
    return dag
