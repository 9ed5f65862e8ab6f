"""Harness smoke DAG: a deferrable sensor proves the real triggerer runs triggers (no provider code)."""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG, task

with DAG(dag_id="e2e_harness_smoke", schedule=None, start_date=dt.datetime(2024, 1, 1), catchup=False):
    wait = DateTimeSensorAsync(
        task_id="wait",
        # Relative to the try's start, so that a busy machine cannot make the target pass before the deferral;
        # 8 s, so that the trigger does not fire before the scheduler has seen the deferring worker exit (an
        # Airflow race, apache/airflow#67287).
        target_time="{{ (ti.start_date + macros.timedelta(seconds=8)).isoformat() }}",
    )

    @task
    def answer() -> dict[str, int]:
        return {"answer": 42}

    wait >> answer()
