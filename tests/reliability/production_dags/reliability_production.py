"""Production-shape DAGs of the reliability suite (CeleryExecutor, PostgreSQL, two triggerers, two workers).

``tests/reliability/test_production_shape.py`` runs them: 10 deferred jobs spread over both triggerers (one of
which is SIGKILLed), a job whose worker is SIGKILLed while the create's answer is held, and (Airflow 3.3) a
deferred task marked failed. An airflow DAG file.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator

SPREAD_TASKS = 10


def _job(task_id: str, conn_id: str, key: str) -> GenAIBatchCreateJobOperator:
    return GenAIBatchCreateJobOperator(
        task_id=task_id,
        model="gemini-2.5-flash",
        src=[{"contents": f"production prompt {key}", "metadata": {"key": key}}],
        genai_batch_conn_id=conn_id,
        deferrable=True,
        cancel_on_kill=True,
        min_poll_interval=1.0,
        poll_interval=2.0,
    )


with DAG(
    dag_id="rel_prod_spread",
    schedule=None,
    start_date=dt.datetime(2025, 1, 1),
    catchup=False,
    tags=["reliability"],
    max_active_tasks=SPREAD_TASKS,
    default_args={"retries": 0},
):
    for index in range(SPREAD_TASKS):
        _job(f"job_{index}", "rel_prod_spread", f"spread-{index}")

with DAG(
    dag_id="rel_prod_worker_kill",
    schedule=None,
    start_date=dt.datetime(2025, 1, 1),
    catchup=False,
    tags=["reliability"],
    default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=2)},
):
    _job("job", "rel_prod_worker_kill", "worker-kill")

with DAG(
    dag_id="rel_prod_mark_failed",
    schedule=None,
    start_date=dt.datetime(2025, 1, 1),
    catchup=False,
    tags=["reliability"],
    default_args={"retries": 0},
):
    _job("job", "rel_prod_mark_failed", "mark-failed")
