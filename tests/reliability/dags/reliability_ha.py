"""HA-triggerers DAG of the reliability suite: six deferred jobs on connection ``rel_ha``, cancelled on kill.

``tests/reliability/test_ha_triggerers.py`` freezes one of two triggerers (a stale copy), kills the other, and
expects every job to finish once and none to be cancelled. An airflow DAG file.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator

HA_DAG_ID = "rel_ha_triggerers"
HA_TASKS = 6

with DAG(
    dag_id=HA_DAG_ID,
    schedule=None,
    start_date=dt.datetime(2025, 1, 1),
    catchup=False,
    tags=["reliability"],
    default_args={"retries": 0},
):
    for index in range(HA_TASKS):
        GenAIBatchCreateJobOperator(
            task_id=f"job_{index}",
            model="gemini-2.5-flash",
            src=[{"contents": f"ha prompt {index}", "metadata": {"key": f"ha-{index}"}}],
            genai_batch_conn_id="rel_ha",
            deferrable=True,
            cancel_on_kill=True,
            min_poll_interval=1.0,
            poll_interval=2.0,
        )
