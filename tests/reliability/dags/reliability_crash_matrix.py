"""Crash-matrix DAGs of the reliability suite: one per cell (``tests/reliability/crash_cells.py``).

Each DAG creates one batch job (and, for ``results_writing``, writes its results); the test kills the task's
process or the triggerer at the cell's point and expects Airflow's retry (or the re-created trigger) to finish
the run with exactly one remote job. An airflow DAG file (the dag-processor's safe mode wants both words).
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import DAG

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchWriteResultsOperator
from tests.reliability.crash_cells import CELLS, INPUT_URI, OUTPUT_PREFIX, RESULTS_DIR_ENV

PROMPTS = [{"contents": f"crash prompt {i}", "metadata": {"key": f"p-{i}"}} for i in range(3)]
RESULTS_DIR = os.environ.get(RESULTS_DIR_ENV, "/tmp/reliability-crash-results")

for cell in CELLS:
    with DAG(
        dag_id=cell.dag_id,
        schedule=None,
        start_date=dt.datetime(2025, 1, 1),
        catchup=False,
        tags=["reliability"],
        # 3 retries: a retry that reattaches to a job about to end can lose Airflow's own defer race
        # (apache/airflow#67287) once; the provider is not at fault there.
        default_args={"retries": 3, "retry_delay": dt.timedelta(seconds=6)},
    ):
        # The final-poll and execute_complete cells poll at a fixed pace, so the test can arm a fault between
        # two polls; the others poll every 1-2 s.
        fixed = cell.point in ("final_poll", "execute_complete")
        create = GenAIBatchCreateJobOperator(
            task_id="create",
            model="gemini-2.5-flash",
            src=INPUT_URI if cell.vertex else PROMPTS,
            config={"dest": OUTPUT_PREFIX} if cell.vertex else None,
            genai_batch_conn_id=cell.conn_id,
            deferrable=cell.mode == "deferrable",
            min_poll_interval=4.0 if fixed else 1.0,
            poll_interval=4.0 if fixed else 2.0,
        )
        if cell.point == "results_writing":
            create >> GenAIBatchWriteResultsOperator(
                task_id="results",
                name="{{ ti.xcom_pull(task_ids='create')['job_name'] }}",
                destination=f"{RESULTS_DIR}/{cell.dag_id}/results.jsonl",
                genai_batch_conn_id=cell.conn_id,
            )
