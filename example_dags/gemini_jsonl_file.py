"""Gemini Developer API: requests from a local JSONL file, uploaded through the Files API, results streamed.

The file holds one request per line: ``{"key": "id-1", "request": {"contents": [{"parts": [{"text": "..."}]}]}}``.
Files of up to 2 GB are uploaded in 8 MiB chunks (the upload resumes after a dropped connection).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchWriteResultsOperator

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))
RESULTS_DIR = os.environ.get("GENAI_BATCH_RESULTS_DIR", "/tmp/genai-batch-results")


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["genai-batch", "gemini"])
def genai_batch_gemini_jsonl_file() -> None:
    """Write a JSONL input (your extract step), submit it as a file-backed batch, save the results."""

    @task
    def extract_reviews() -> str:
        """Stands for your extract: writes one request per review to a JSONL file."""
        reviews = ["Great product, fast delivery.", "Broke after two days.", "Does what it says."]
        handle, path = tempfile.mkstemp(prefix="reviews-", suffix=".jsonl")
        with os.fdopen(handle, "w") as out:
            for number, review in enumerate(reviews):
                request = {"contents": [{"role": "user", "parts": [{"text": f"Sentiment of: {review}"}]}]}
                out.write(json.dumps({"key": f"review-{number}", "request": request}) + "\n")
        return path

    path = extract_reviews()
    classify = GenAIBatchCreateJobOperator(
        task_id="classify_reviews",
        model="gemini-2.5-flash",
        src=path,
        min_poll_interval=FIRST_POLL_SECONDS,
    )
    save = GenAIBatchWriteResultsOperator(
        task_id="save_results",
        name=classify.output,
        destination=RESULTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}.jsonl",
    )

    @task
    def remove_input(input_path: str) -> None:
        Path(input_path).unlink(missing_ok=True)

    path >> classify >> save >> remove_input(path)


genai_batch_gemini_jsonl_file()
