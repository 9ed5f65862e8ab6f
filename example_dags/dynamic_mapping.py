"""Dynamic task mapping: one batch job per input shard with ``.expand``; each mapped task is exactly-once on
its own (the map index is part of its idempotency key)."""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["genai-batch", "mapping"])
def genai_batch_dynamic_mapping() -> None:
    """Split the day's prompts into shards, run one job per shard in parallel, total the counts."""

    @task
    def shards() -> list[list[dict[str, object]]]:
        prompts = [f"Translate to French: sentence {n}" for n in range(6)]
        return [
            [{"contents": p, "metadata": {"key": f"s{shard}-{i}"}} for i, p in enumerate(prompts[shard::3])]
            for shard in range(3)
        ]

    jobs = GenAIBatchCreateJobOperator.partial(
        task_id="translate",
        model="gemini-2.5-flash",
        deferrable=True,
        min_poll_interval=FIRST_POLL_SECONDS,
    ).expand(src=shards())

    @task
    def total(manifests: list[dict[str, object]]) -> int:
        done = sum(int((m.get("request_counts") or {}).get("succeeded", 0)) for m in manifests)  # type: ignore[union-attr]
        print(f"{len(manifests)} jobs, {done} requests succeeded")
        return done

    total(jobs.output)


genai_batch_dynamic_mapping()
