"""Gemini Developer API: a batch of inline prompts, waited for in the triggerer, results written for the next task.

Connection ``genai_batch_default``: a ``genai_batch`` connection with your Gemini API key as the password, e.g.
``AIRFLOW_CONN_GENAI_BATCH_DEFAULT='{"conn_type": "genai_batch", "password": "AIza...",
"extra": {"backend": "gemini"}}'``. Pointed at the local emulator (``make demo``) it runs offline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchWriteResultsOperator

# The first poll comes after this many seconds, then the wait grows with the elapsed time (5 %). The emulator
# finishes jobs in seconds, so tests and the demo lower it.
FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))
RESULTS_DIR = os.environ.get("GENAI_BATCH_RESULTS_DIR", "/tmp/genai-batch-results")

QUESTIONS = [
    ("capital-fr", "What is the capital of France? Answer in one word."),
    ("sum", "What is 17 + 25? Answer with the number only."),
    ("haiku", "Write a haiku about data pipelines."),
]


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["genai-batch", "gemini"])
def genai_batch_gemini_inline() -> None:
    """Submit three prompts as one batch job, wait deferred, write the results, read them downstream."""
    answer = GenAIBatchCreateJobOperator(
        task_id="answer_questions",
        model="gemini-2.5-flash",
        src=[
            {"contents": prompt, "config": {"temperature": 0.2}, "metadata": {"key": key}} for key, prompt in QUESTIONS
        ],
        display_name="example-inline",
        deferrable=True,
        min_poll_interval=FIRST_POLL_SECONDS,
    )
    save = GenAIBatchWriteResultsOperator(
        task_id="save_results",
        name="{{ ti.xcom_pull(task_ids='answer_questions')['job_name'] }}",
        destination=RESULTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}.jsonl",
    )

    @task
    def summarise(written: dict[str, object]) -> dict[str, str]:
        """The next task reads the results file: the XCom only says where it is."""
        answers = {}
        with Path(str(written["destination"])).open() as handle:
            for line in handle:
                row = json.loads(line)
                candidates = (row.get("response") or {}).get("candidates") or [{}]
                parts = (candidates[0].get("content") or {}).get("parts") or [{}]
                answers[row["key"]] = parts[0].get("text", row.get("error"))
        print(json.dumps(answers, indent=2))
        return answers

    answer >> save
    summarise(save.output)


genai_batch_gemini_inline()
