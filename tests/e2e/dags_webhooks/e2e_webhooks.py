"""End-to-end webhook DAGs (served by ``tests/e2e/test_webhooks.py``'s own deployment): deferrable creates on
connections that name the deployment's webhook receiver (``webhook_url``).

``e2e_webhooks_on`` polls every 300 s, so only a delivery can end its wait within the test's time;
``e2e_webhooks_lost`` is armed too (its job names the receiver), with its fallback poll scaled down to a few seconds,
against an emulator that loses every delivery;
``e2e_webhooks_sensor`` creates a job and waits for it with the deferrable sensor, polling every 300 s.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator
from airflow_provider_genai_batch.sensors import GenAIBatchJobSensor
from tests.e2e.support import PROMPTS

START = dt.datetime(2024, 1, 1)

for dag_id, conn_id, poll_interval, min_poll_interval, fallback in (
    ("e2e_webhooks_on", "genai_batch_wh_on", 300.0, 300.0, 300.0),
    ("e2e_webhooks_lost", "genai_batch_wh_lost", 3.0, 1.0, 3.0),
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
            webhook_fallback_interval=fallback,
        )
    globals()[dag_id] = dag


#: The display name of the job the sensor DAG creates; the sensor test makes the emulator hold it pending.
SENSOR_JOB_DISPLAY_NAME = "e2e-webhooks-sensor"

with DAG(
    dag_id="e2e_webhooks_sensor", schedule=None, start_date=START, catchup=False, tags=["e2e", "webhooks"]
) as sensor_dag:

    @task(task_id="create")
    def create_job() -> str:
        """A job created on the webhook connection as the create operator creates it (with the dynamic webhook)."""
        from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

        hook = GenAIBatchHook(genai_batch_conn_id="genai_batch_wh_on")
        prepared = hook.prepare_create(
            model="gemini-2.5-flash", src=PROMPTS, config={"display_name": SENSOR_JOB_DISPLAY_NAME}
        )
        name = hook.create_prepared(prepared).name
        assert name
        return name

    GenAIBatchJobSensor(
        task_id="wait",
        name="{{ ti.xcom_pull(task_ids='create') }}",
        genai_batch_conn_id="genai_batch_wh_on",
        deferrable=True,
        poll_interval=300.0,
        min_poll_interval=300.0,
    ).set_upstream(create_job())
