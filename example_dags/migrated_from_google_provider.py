"""A Gemini batch DAG of the Google provider's ``GenAIGemini*BatchJobOperator``s, converted to this provider.

The guide's "Migrating from the Google provider" page shows the DAG it came from and maps every parameter. What
changed: the API key moves from an operator argument (stored in the DAG and the trigger's row) to the connection
``genai_batch_default``; the job is created once per task instance, so a retry reattaches instead of paying again;
results are streamed to a file by ``GenAIBatchWriteResultsOperator`` instead of pushed to XCom; the job's name is in
the manifest the create task returns.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from airflow_provider_genai_batch.operators import (
    GenAIBatchCreateJobOperator,
    GenAIBatchDeleteJobOperator,
    GenAIBatchGetJobOperator,
    GenAIBatchWriteResultsOperator,
)

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))
RESULTS_DIR = os.environ.get("GENAI_BATCH_RESULTS_DIR", "/tmp/genai-batch-results")

# The Google provider's ``input_source``: the same inline requests, in GenerateContentRequest form.
INLINED_REQUESTS = [
    {"contents": [{"role": "user", "parts": [{"text": "Tell me a one-line joke about pipelines."}]}]},
    {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue? One sentence."}]}]},
]


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["genai-batch", "gemini"])
def genai_batch_migrated_from_google_provider() -> None:
    """Create a batch (was ``GenAIGeminiCreateBatchJobOperator``), read its state, its results, then delete it."""
    create = GenAIBatchCreateJobOperator(
        task_id="create_batch_job",
        model="gemini-2.5-flash",  # was: model
        src=INLINED_REQUESTS,  # was: input_source
        config={"display_name": "migrated-batch"},  # was: create_batch_job_config
        deferrable=True,  # was: wait_until_complete=True (and the worker slot held while waiting)
        min_poll_interval=FIRST_POLL_SECONDS,  # was: polling_interval (now the first wait; later ones grow)
    )
    get = GenAIBatchGetJobOperator(  # was: GenAIGeminiGetBatchJobOperator(job_name=...)
        task_id="get_batch_job",
        name="{{ ti.xcom_pull(task_ids='create_batch_job')['job_name'] }}",
    )
    write = GenAIBatchWriteResultsOperator(  # was: retrieve_result=True and results_folder
        task_id="write_results",
        name=create.output,
        destination=RESULTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}.jsonl",
    )

    @task
    def answers(written: dict[str, object]) -> list[str]:
        """What ``retrieve_result=True`` pushed to XCom: the answers' text, read here from the results file."""
        texts = []
        with Path(str(written["destination"])).open() as lines:
            for line in lines:
                row = json.loads(line)
                parts = row["response"]["candidates"][0]["content"]["parts"] if "response" in row else []
                texts.append(parts[0]["text"] if parts else f"error: {row.get('error')}")
        return texts

    delete = GenAIBatchDeleteJobOperator(  # was: GenAIGeminiDeleteBatchJobOperator(job_name=...)
        task_id="delete_batch_job",
        name="{{ ti.xcom_pull(task_ids='create_batch_job')['job_name'] }}",
    )
    create >> get >> write
    answers(write.output) >> delete


genai_batch_migrated_from_google_provider()
