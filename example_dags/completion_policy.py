"""Every row answered: a completion policy resubmits the rows a batch job left without an answer, once each.

A batch job does not always finish cleanly: it may EXPIRE after 48 hours in the queue (no results at all), end
PARTIALLY_SUCCEEDED, or SUCCEED with some rows failed by 429s or 500s inside the job. With ``completion=`` the create
operator sends the rows without an answer and the rows that failed retryably (429, 500, 503, 504; never other
4xx) again as a follow-up job, keyed by the first job's key and the attempt number (a retried task reattaches to
every job already made), until every row is answered or a bound is hit. A job stuck in PENDING past
``pending_after`` is cancelled and its rows resubmitted (``on_stuck="resubmit"``). The writer then merges every
attempt into one file in input order; each line says which ``attempt`` answered it.

Connection ``genai_batch_default`` (or ``GENAI_BATCH_CONN_ID`` from the environment): a ``genai_batch`` connection
with your Gemini API key as the password (see ``gemini_inline.py``), or a Vertex AI one. Pointed at the local
emulator (``make demo``) it runs offline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchWriteResultsOperator
from airflow_provider_genai_batch.policy.completion import CompletionPolicy

# The first poll comes after this many seconds, then the wait grows with the elapsed time (5 %). The emulator
# finishes jobs in seconds, so tests and the demo lower it.
FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))
RESULTS_DIR = os.environ.get("GENAI_BATCH_RESULTS_DIR", "/tmp/genai-batch-results")
CONN_ID = os.environ.get("GENAI_BATCH_CONN_ID", "genai_batch_default")

PRODUCTS = ["trail running shoes", "espresso grinder", "noise-cancelling headphones", "standing desk", "rain jacket"]

POLICY = CompletionPolicy(
    max_attempts=3,  # the first job and up to two follow-ups
    on_stuck="resubmit",  # a job still PENDING after pending_after: cancel it, resubmit its rows
    pending_after=12 * 3600,
    deadline=36 * 3600,  # no follow-up is submitted later than this after the first job's creation
    max_tokens=2_000_000,  # nor when the tokens spent plus the follow-up's estimate would exceed this
)


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["genai-batch", "gemini"])
def genai_batch_completion_policy() -> None:
    """Describe products in one batch; rows the job leaves unanswered are resubmitted; one merged results file."""

    @task
    def build_requests() -> list[dict[str, Any]]:
        """Stands for your extract step: one request per product."""
        return [
            {"contents": f"Write a one-line catalogue description of: {name}", "metadata": {"key": f"product-{n}"}}
            for n, name in enumerate(PRODUCTS)
        ]

    describe = GenAIBatchCreateJobOperator(
        task_id="describe_products",
        model="gemini-2.5-flash",
        src=build_requests(),
        display_name="example-completion",
        genai_batch_conn_id=CONN_ID,
        deferrable=True,
        min_poll_interval=FIRST_POLL_SECONDS,
        completion=POLICY,
        max_failure_ratio=0.0,  # fail the task if any row is still without an answer when the policy stops
    )
    # The manifest (not only the job name): its ``completion`` lists the attempts the writer merges.
    save = GenAIBatchWriteResultsOperator(
        task_id="save_results",
        name=describe.output,
        genai_batch_conn_id=CONN_ID,
        destination=RESULTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}.jsonl",
    )

    @task
    def report(manifest: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
        """What the policy did: the attempts and their jobs, and which attempt answered each row."""
        completion = manifest["completion"]
        answered_by: dict[str, int] = {}
        with Path(str(written["destination"])).open() as handle:
            for line in handle:
                row = json.loads(line)
                answered_by[row["key"]] = row["attempt"]
        summary = {
            "attempts": [
                {"attempt": a["attempt"], "job_name": a["job_name"], "state": a["state"], "rows": a["rows"]}
                for a in completion["attempts"]
            ],
            "rows": completion["rows"],
            "answered_by_attempt": answered_by,
        }
        print(json.dumps(summary, indent=2))
        return summary

    report(describe.output, save.output)


genai_batch_completion_policy()
