"""The DAG that ``tests/e2e/test_cli_survives_a_killed_triggerer.py`` runs on a deployment started by
``scripts/local_airflow.py up`` (connection ``genai_batch_default``: the emulator ``up`` starts).

``e2e_cli_ha``: three deferrable create tasks; their triggers are held by one triggerer, which is then SIGKILLed;
the run must finish on the other. ``e2e_cli_fails``: one task that fails (``run-dag`` must exit 1). An airflow DAG
file.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator

TASKS = 3


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=dt.datetime(2025, 1, 1), catchup=False, tags=["e2e"])


with _dag("e2e_cli_ha"):
    for index in range(TASKS):
        GenAIBatchCreateJobOperator(
            task_id=f"job_{index}",
            model="gemini-2.5-flash",
            src=[{"contents": f"cli ha prompt {index}", "metadata": {"key": f"cli-ha-{index}"}}],
            genai_batch_conn_id="genai_batch_default",
            deferrable=True,
            retries=0,
            min_poll_interval=1.0,
            poll_interval=2.0,
        )

with _dag("e2e_cli_fails"):

    @task(retries=0)
    def fails() -> None:
        raise RuntimeError("this run is meant to fail (local_airflow.py run-dag must exit non-zero)")

    fails()
