"""What README, docs/BIG_JOBS.md and the operators' docstrings say agrees, and with google-genai 3.3.0 where they
cite it (issue 23: the write operator's order, embeddings on Vertex AI, parameters first)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from airflow_provider_genai_batch.operators import (
    GenAIBatchCreateEmbeddingsJobOperator,
    GenAIBatchCreateJobOperator,
    GenAIBatchWriteResultsOperator,
)

ROOT = Path(__file__).resolve().parents[2]
README = " ".join((ROOT / "README.md").read_text().split())
BIG_JOBS = " ".join((ROOT / "docs" / "BIG_JOBS.md").read_text().split())


def _doc(cls: type) -> str:
    return " ".join((inspect.getdoc(cls) or "").split())


def test_the_write_operator_and_readme_agree_on_order() -> None:
    doc = _doc(GenAIBatchWriteResultsOperator)
    assert doc.startswith("Stream a finished job's results, one JSON object per line in request order")
    assert "sorted by ``index``" in doc and "those lines are in arrival order" in doc
    results = README[README.index("## Results") :]
    assert "**in request order** (sorted by `index`" in results
    assert "results are numbered in the order they arrive" in results  # jobs made elsewhere, as the docstring


def test_embeddings_on_vertex_are_described_alike_and_as_google_genai_does() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.genai import Client

    client = Client(vertexai=True, project="p", location="us-central1", credentials=AnonymousCredentials())
    with pytest.raises(ValueError, match=r"does not support batches\.create_embeddings"):
        client.batches.create_embeddings(model="gemini-embedding-001", src={"inlined_requests": {"contents": ["x"]}})
    for text in (README, BIG_JOBS, _doc(GenAIBatchCreateEmbeddingsJobOperator)):
        assert not re.search(r"embeddings? (batches )?exist (only )?on the Gemini|not offered by the API", text)
    assert "google-genai 3.3.0" in _doc(GenAIBatchCreateEmbeddingsJobOperator)
    assert "This provider does not create those" in BIG_JOBS


@pytest.mark.parametrize(
    "cls", [GenAIBatchCreateJobOperator, GenAIBatchCreateEmbeddingsJobOperator, GenAIBatchWriteResultsOperator]
)
def test_operator_docstrings_put_parameters_first(cls: type) -> None:
    paragraphs = (inspect.getdoc(cls) or "").split("\n\n")
    assert paragraphs[1].startswith(":param "), paragraphs[1][:80]
