"""Every row of a big job answered: a completion policy on each shard, one merged result set.

A nightly input too big for one batch job is split into shards, one mapped create per shard. Each create carries
``completion=``: when its job ends, the shard's rows without an answer (all of them when the job EXPIRED) and its
rows that failed retryably (429, 500, 503, 504; never other 4xx) are sent again as a follow-up job, keyed by the
shard's key and the attempt number, so a retried shard reattaches instead of paying twice. The combine then
merges every attempt of every shard into one file in input order; each line says which ``attempt`` answered it,
and the manifest counts the rows answered, failed and given up, and the jobs.

The input here is a local JSONL file written by the first task (``GENAI_BATCH_RESULTS_DIR``); in production give
a path every worker sees, or a ``gs://`` JSONL object with a Vertex AI connection: then each follow-up's rows are
written next to its shard as ``<shard>.attempt-02.jsonl``. A ``bq://`` table cannot carry a completion policy
(export it to JSONL in Cloud Storage first).

Settings from the environment: ``GENAI_BATCH_CONN_ID`` (default ``genai_batch_default``), ``GENAI_BATCH_RESULTS_DIR``,
``GENAI_BATCH_SHARD_REQUESTS`` (requests per shard; unset in production: the backend's limits apply) and
``GENAI_BATCH_FIRST_POLL_SECONDS``. Pointed at the local emulator (``make demo``) it runs offline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_genai_batch.operators import (
    GenAIBatchCombineResultsOperator,
    GenAIBatchCreateJobOperator,
    GenAIBatchSplitOperator,
)
from airflow_provider_genai_batch.policy.completion import CompletionPolicy

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))
RESULTS_DIR = os.environ.get("GENAI_BATCH_RESULTS_DIR", "/tmp/genai-batch-results")
CONN_ID = os.environ.get("GENAI_BATCH_CONN_ID", "genai_batch_default")
SHARD_REQUESTS = int(os.environ.get("GENAI_BATCH_SHARD_REQUESTS", "4"))

POLICY = CompletionPolicy(
    max_attempts=3,  # each shard's first job and up to two follow-ups
    deadline=36 * 3600,  # no follow-up later than this after the shard's first job was created
    max_tokens=5_000_000,  # nor when a shard's tokens so far plus the follow-up's estimate would exceed this
)


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["genai-batch", "big-jobs"])
def genai_batch_completion_sharded() -> None:
    """Split, one create per shard with a completion policy, combine every attempt into one file."""

    @task
    def write_prompts(run_id: str | None = None) -> str:
        """Stands for your extract step: one JSONL line per review, in a folder every worker sees."""
        folder = Path(RESULTS_DIR) / "genai_batch_completion_sharded" / str(run_id).replace(":", "_")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "reviews.jsonl"
        with path.open("w") as out:
            for n in range(10):
                line = {
                    "request": {
                        "contents": [{"role": "user", "parts": [{"text": f"Summarise review {n} in a line."}]}]
                    },
                    "metadata": {"key": f"review-{n}"},
                }
                out.write(json.dumps(line) + "\n")
        return str(path)

    split = GenAIBatchSplitOperator(
        task_id="split", src=write_prompts(), limits="gemini", max_shard_requests=SHARD_REQUESTS
    )
    summarise = GenAIBatchCreateJobOperator.partial(
        task_id="summarise",
        model="gemini-2.5-flash",
        display_name="nightly-reviews-shard-{{ ti.map_index }}",  # each shard's jobs, told apart in the console
        genai_batch_conn_id=CONN_ID,
        deferrable=True,
        min_poll_interval=FIRST_POLL_SECONDS,
        max_active_tis_per_dagrun=2,  # the cap on jobs running at once
        completion=POLICY,
        max_failure_ratio=0.0,  # a shard fails if any of its rows is still without an answer when the policy stops
    ).expand(src=split.output)
    combine = GenAIBatchCombineResultsOperator(
        task_id="combine",
        jobs=summarise.output,  # the manifests: each lists its shard's attempts
        shards=split.output_shards,
        destination=RESULTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}/summaries.jsonl",
        genai_batch_conn_id=CONN_ID,
    )

    @task
    def report(manifest: dict[str, Any]) -> dict[str, Any]:
        """What the policies did: rows answered, the jobs, and which attempt answered each row."""
        answered_by: dict[str, int] = {}
        with Path(str(manifest["destination"])).open() as handle:
            for line in handle:
                row = json.loads(line)
                answered_by[row["key"]] = row["attempt"]
        summary = {
            "rows": manifest["completion"]["rows"],
            "jobs": manifest["completion"]["jobs"],
            "attempts_per_shard": [[a["rows"] for a in shard["attempts"]] for shard in manifest["shards"]],
            "answered_by_attempt": answered_by,
        }
        print(json.dumps(summary, indent=2))
        return summary

    report(combine.output)


genai_batch_completion_sharded()
