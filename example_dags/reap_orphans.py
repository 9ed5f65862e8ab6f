"""Reap orphaned batch jobs: live jobs whose task failed (or whose run ended) still count against the project's
cap on concurrent batch jobs. A dry run by default; trigger with ``{"dry_run": false}`` to cancel.

Needs an ``http`` connection ``airflow_api`` to the api-server (host: its URL; login and password of an Airflow
user with edit access to the DAGs whose orphans it may cancel). Jobs no task of this deployment recorded are
reported, never cancelled.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from airflow_provider_genai_batch.operators import GenAIBatchReapOrphansOperator


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["genai-batch", "housekeeping"],
    params={"dry_run": Param(True, type="boolean")},
)
def genai_batch_reap_orphans() -> None:
    """Report (and, when ``dry_run`` is false, cancel) the live jobs whose tasks can no longer use them."""
    GenAIBatchReapOrphansOperator(task_id="reap_orphans", dry_run="{{ params.dry_run }}", fail_on_errors=True)


genai_batch_reap_orphans()
