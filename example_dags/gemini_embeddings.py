"""Gemini Developer API: an embeddings batch (one vector per text), waited for in the triggerer."""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task

from airflow_provider_genai_batch.operators import GenAIBatchCreateEmbeddingsJobOperator

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["genai-batch", "gemini"])
def genai_batch_gemini_embeddings() -> None:
    """Embed product titles for a similarity index, then load the vectors downstream."""
    embed = GenAIBatchCreateEmbeddingsJobOperator(
        task_id="embed_titles",
        model="gemini-embedding-001",
        src={
            "contents": ["red running shoes", "blue rain jacket", "trail running shoes"],
            "config": {"task_type": "RETRIEVAL_DOCUMENT", "output_dimensionality": 8},
        },
        deferrable=True,
        min_poll_interval=FIRST_POLL_SECONDS,
    )

    @task
    def load_vectors(manifest: dict[str, object]) -> int:
        """Stream the vectors (bounded memory) into your vector store; here we count them."""
        from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

        vectors = [r.embedding for r in GenAIBatchHook().iter_results(str(manifest["job_name"]))]
        assert all(v for v in vectors), "every text has a vector"
        print(f"{len(vectors)} vectors of dimension {len(vectors[0] or [])}")
        return len(vectors)

    load_vectors(embed.output)


genai_batch_gemini_embeddings()
