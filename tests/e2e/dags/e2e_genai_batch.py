"""End-to-end scenario DAGs: the provider's create operator, deferred on the real triggerer.

Each scenario has its own DAG and its own connection, and each connection points at its own emulator process, so
the emulators' counters (jobs created, cancels) belong to one scenario even when the runs overlap. The
connections are set by ``tests/e2e/conftest.py`` (``AIRFLOW_CONN_*``); the emulators' timing and outcomes are
set by the tests. The repository root is on the components' ``PYTHONPATH``, so ``tests.e2e.support`` imports.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator
from tests.e2e.support import PROMPTS, VERTEX_SOURCE

START = dt.datetime(2024, 1, 1)
# Short polls so that the scenarios finish in seconds.
FAST_POLLS: dict[str, Any] = {"deferrable": True, "min_poll_interval": 1.0, "poll_interval": 2.0}


def _dag(dag_id: str, doc: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, doc_md=doc, tags=["e2e"])


with _dag("e2e_deferrable", "A Gemini and a Vertex AI job, each deferred on the triggerer until it succeeds."):
    GenAIBatchCreateJobOperator(
        task_id="gemini_job",
        model="gemini-2.5-flash",
        src=PROMPTS,
        display_name="e2e-deferrable",
        genai_batch_conn_id="genai_batch_default",
        **FAST_POLLS,
    )
    GenAIBatchCreateJobOperator(
        task_id="vertex_job",
        model="gemini-2.5-flash",
        src=VERTEX_SOURCE,
        display_name="e2e-vertex",
        genai_batch_conn_id="genai_batch_vertex",
        **FAST_POLLS,
    )

with _dag("e2e_retry", "The create is applied but its response is lost; the retry must reattach, not resubmit."):
    GenAIBatchCreateJobOperator(
        task_id="job",
        model="gemini-2.5-flash",
        src=PROMPTS,
        genai_batch_conn_id="genai_batch_retry",
        retries=1,
        retry_delay=dt.timedelta(seconds=2),
        **FAST_POLLS,
    )

with _dag("e2e_on_kill", "A long job; the test marks the deferred task failed and expects the job cancelled."):
    GenAIBatchCreateJobOperator(
        task_id="job",
        model="gemini-2.5-flash",
        src=PROMPTS,
        genai_batch_conn_id="genai_batch_on_kill",
        cancel_on_kill=True,
        **FAST_POLLS,
    )

with _dag("e2e_crash", "The triggerer is SIGKILLed mid-wait and restarted; the job must finish once."):
    GenAIBatchCreateJobOperator(
        task_id="job",
        model="gemini-2.5-flash",
        src=PROMPTS,
        genai_batch_conn_id="genai_batch_crash",
        **FAST_POLLS,
    )

with _dag("e2e_failing", "The job ends FAILED; the task fails and names the cause."):
    GenAIBatchCreateJobOperator(
        task_id="job",
        model="gemini-2.5-flash",
        src=PROMPTS,
        genai_batch_conn_id="genai_batch_failing",
        **FAST_POLLS,
    )
