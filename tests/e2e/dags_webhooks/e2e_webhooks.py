"""End-to-end webhook DAGs (served by ``tests/e2e/test_webhooks.py``'s own deployment): deferrable creates on
connections that name the deployment's webhook receiver (``webhook_url``).

``e2e_webhooks_on`` polls every 300 s, so only a delivery can end its wait within the test's time;
``e2e_webhooks_lost`` polls every few seconds against an emulator that loses every delivery.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator
from tests.e2e.support import PROMPTS

START = dt.datetime(2024, 1, 1)

for dag_id, conn_id, poll_interval, min_poll_interval in (
    ("e2e_webhooks_on", "genai_batch_wh_on", 300.0, 300.0),
    ("e2e_webhooks_lost", "genai_batch_wh_lost", 3.0, 1.0),
):
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, tags=["e2e", "webhooks"]) as dag:
        GenAIBatchCreateJobOperator(
            task_id="job",
            model="gemini-2.5-flash",
            src=PROMPTS,
            genai_batch_conn_id=conn_id,
            deferrable=True,
            poll_interval=poll_interval,
            min_poll_interval=min_poll_interval,
        )
    globals()[dag_id] = dag
