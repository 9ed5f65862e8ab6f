"""Airflow's common-ai ``@task.llm_batch`` on Gemini: the same prompts as ``@task.llm``, at batch prices.

Needs ``pip install 'airflow-provider-genai-batch[common-ai]'``. Connection ``pydanticai_default``: the
``pydanticai`` connection ``@task.llm`` already uses, with your Gemini API key as the password, e.g.
``AIRFLOW_CONN_PYDANTICAI_DEFAULT='{"conn_type": "pydanticai", "password": "AIza..."}'`` (its host, when set, is
the API's base URL: the local emulator in tests). For Vertex AI write ``model_id="google-cloud:gemini-2.5-flash"``
and set ``GOOGLE_CLOUD_PROJECT``, ``GOOGLE_CLOUD_LOCATION`` and ``GENAI_BATCH_GCS_STAGING_PREFIX`` (see
docs/COMMON_AI.md).

Results land as JSONL under ``RESULT_ROOT`` (any ``ObjectStoragePath``: ``s3://``, ``gs://``, ``file://``); the
XCom value is common-ai's manifest, which the last task reads back.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

import pendulum
from airflow.sdk import ObjectStoragePath, dag, task
from pydantic import BaseModel

# One directory per run, so a retry of the same run re-attaches to its batch.
RESULT_ROOT = os.environ.get("GENAI_BATCH_COMMON_AI_RESULTS", "file:///tmp/genai-batch-results/common-ai")
RESULT_PATH = RESULT_ROOT + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}"

REVIEWS = [
    "Absolutely loved it, would buy again.",
    "Broke after one use, very disappointed.",
    "Does what it says on the box.",
]


class Sentiment(BaseModel):
    """Structured output asked of every request (sent as ``response_json_schema``)."""

    label: Literal["positive", "negative", "neutral"]
    reason: str


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["genai-batch", "common-ai", "gemini"],
)
def genai_batch_common_ai() -> None:
    """Summaries as plain text and sentiments as structured output, each one Gemini batch job."""

    @task.llm_batch(
        llm_conn_id="pydanticai_default",
        model_id="google:gemini-2.5-flash",
        result_path=RESULT_PATH + "/summaries",
        system_prompt="Answer in one short sentence.",
        max_tokens=128,
        deferrable=True,
        poll_interval=30,
    )
    def summarize() -> list[str]:
        return [f"Summarize this review: {review}" for review in REVIEWS]

    @task.llm_batch(
        llm_conn_id="pydanticai_default",
        model_id="google:gemini-2.5-flash",
        result_path=RESULT_PATH + "/sentiments",
        output_type=Sentiment,
        request_params={"temperature": 0.0},
        deferrable=True,
        poll_interval=30,
    )
    def classify() -> list[dict[str, Any]]:
        return [{"prompt": f"Classify the sentiment of: {review}"} for review in REVIEWS]

    @task
    def report(summaries: dict[str, Any], sentiments: dict[str, Any]) -> dict[str, Any]:
        """Read the landed rows back by request index (results are not in request order)."""
        out: dict[str, Any] = {}
        for name, manifest in (("summaries", summaries), ("sentiments", sentiments)):
            rows = [json.loads(line) for line in ObjectStoragePath(manifest["result_uri"]).read_text().splitlines()]
            out[name] = {
                "counts": manifest["counts"],
                "by_index": {
                    row["index"]: row["output"] if row["status"] == "success" else row["status"] for row in rows
                },
            }
        return out

    report(summarize(), classify())


genai_batch_common_ai()
