"""A nightly job too big for one batch job, and a consumer DAG scheduled on its results asset.

``genai_batch_big_job`` splits the prompts into shards (``GENAI_BATCH_SHARD_REQUESTS`` per shard here, to show
three shards; in production leave ``max_shard_requests`` unset and the backend's default limits apply),
creates one job per shard with at most two running at once, combines the results into one file in input
order, and updates the asset ``RESULTS`` with the job names, counts and token totals as the event's extra.
``genai_batch_big_job_report`` runs whenever that asset is updated and reads the extra.

The same split takes a local ``.jsonl`` path, or a ``gs://`` JSONL object with a Vertex AI connection (the
shards become ``gs://`` objects under ``<object>.shards/``, each read by its own Vertex job)::

    GenAIBatchSplitOperator(task_id="split", src="gs://bucket/nightly/requests.jsonl", limits="vertex",
                            genai_batch_conn_id="genai_batch_vertex")

``docs/BIG_JOBS.md`` has the per-job limits and their sources.

Settings from the environment: ``GENAI_BATCH_CONN_ID`` (default ``genai_batch_default``),
``GENAI_BATCH_RESULTS_DIR``, ``GENAI_BATCH_SHARD_REQUESTS`` and ``GENAI_BATCH_FIRST_POLL_SECONDS``. The e2e test
``tests/e2e/test_big_job_assets.py`` runs this file on a real scheduler.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

from airflow_provider_genai_batch.operators import (
    GenAIBatchCombineResultsOperator,
    GenAIBatchCreateJobOperator,
    GenAIBatchSplitOperator,
)

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))
RESULTS_DIR = os.environ.get("GENAI_BATCH_RESULTS_DIR", "/tmp/genai-batch-results")
CONN_ID = os.environ.get("GENAI_BATCH_CONN_ID", "genai_batch_default")
SHARD_REQUESTS = int(os.environ.get("GENAI_BATCH_SHARD_REQUESTS", "4"))
RESULTS = Asset("genai-batch://results/nightly-summaries")
# Prices you pay per million tokens (batch prices; none is built in): estimated_cost in the manifest.
PRICES = {"gemini-2.5-flash": {"input": 0.15, "output": 1.25}}
START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("genai_batch_big_job", schedule=None, start_date=START, catchup=False, tags=["genai-batch", "big-jobs"]):
    split = GenAIBatchSplitOperator(
        task_id="split",
        src=[{"contents": f"Summarise review {n} in one line.", "metadata": {"key": f"r{n}"}} for n in range(10)],
        limits="gemini",
        max_shard_requests=SHARD_REQUESTS,
    )
    create = GenAIBatchCreateJobOperator.partial(
        task_id="summarise",
        model="gemini-2.5-flash",
        genai_batch_conn_id=CONN_ID,
        min_poll_interval=FIRST_POLL_SECONDS,
        max_active_tis_per_dagrun=2,  # the cap on jobs running at once
    ).expand(src=split.output)
    GenAIBatchCombineResultsOperator(
        task_id="combine",
        jobs=create.output,
        shards=split.output_shards,
        destination=f"{RESULTS_DIR}/nightly-summaries.jsonl",
        prices=PRICES,
        genai_batch_conn_id=CONN_ID,
        outlets=[RESULTS],
    )

with DAG("genai_batch_big_job_report", schedule=[RESULTS], start_date=START, catchup=False, tags=["genai-batch"]):

    @task
    def report(triggering_asset_events: Any = None) -> dict[str, Any]:
        """What the producer's asset event says: job names, counts and token totals (nothing when the run was
        triggered by hand rather than by the asset)."""
        events = list((triggering_asset_events or {}).get(RESULTS, []))
        if not events:
            print("no asset event: this run was not triggered by genai_batch_big_job's results")
            return {}
        event = events[-1]
        extra = dict(event.extra)
        print(f"{len(extra['job_names'])} jobs, {extra['results']} results, {extra['usage']['total_tokens']} tokens")
        return {k: extra[k] for k in ("job_names", "results", "failed", "usage", "estimated_cost")}

    report()
