"""An airflow DAG for the common-ai e2e test (``test_common_ai_batch.py``): one deferrable ``LLMBatchOperator`` on a
``google:`` model, through the connection ``pydanticai_e2e`` (its own emulator, see ``conftest.py``)."""

from __future__ import annotations

import os

import pendulum
from airflow.providers.common.ai.operators.llm_batch import LLMBatchOperator
from airflow.sdk import DAG

with DAG(
    "e2e_common_ai_batch",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    LLMBatchOperator(
        task_id="batch",
        requests=["one fine day", "EMULATOR_FAIL here", "three little birds"],
        result_path=os.environ.get("E2E_COMMON_AI_RESULTS", "file:///tmp/e2e-common-ai") + "/{{ run_id }}",
        llm_conn_id="pydanticai_e2e",
        model_id="google:gemini-2.5-flash",
        system_prompt="be terse",
        deferrable=True,
        poll_interval=30,  # common-ai's minimum; the run is triggered with the others, at the package's start
    )
