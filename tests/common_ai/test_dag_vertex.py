"""``dag.test()`` runs common-ai batches with ``google-cloud:`` models on the emulator's Vertex AI, staged to GCS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.common_ai.conftest import STAGING_PREFIX, VERTEX_CONN, CommonAI
from tests.common_ai.test_dag_gemini import MODES, check_text_manifest, task_kwargs
from tests.conftest import STAGING_BUCKET


def staged_lines(cai: CommonAI) -> list[dict[str, Any]]:
    prefix = STAGING_PREFIX.removeprefix(f"gs://{STAGING_BUCKET}/")
    names = [name for name in cai.emulator.list_objects(STAGING_BUCKET, prefix) if "/inputs/" in name]
    assert len(names) == 1, names
    data = cai.emulator.get_object(STAGING_BUCKET, names[0])
    return [json.loads(line) for line in data.splitlines() if line.strip()]


@pytest.mark.parametrize("deferrable", MODES)
def test_operator_plain_text_through_gcs_staging(run_cai_dag: Any, cai: CommonAI, deferrable: bool) -> None:
    kwargs = {**task_kwargs(cai, deferrable=deferrable, model_id="google-cloud:gemini-2.5-flash")}
    kwargs["llm_conn_id"] = VERTEX_CONN
    result = run_cai_dag({"dag_id": f"cai_vertex_op_{deferrable}", "task": kwargs})
    assert result.state == "success", result.output[-3000:]
    manifest = result.value("batch")
    check_text_manifest(cai, manifest, "google-cloud")
    stats = cai.emulator.stats()
    assert stats["jobs_created_by_backend"] == {"gemini": 0, "vertex": 1}
    labels = stats["jobs"][0]["labels"]
    assert labels["common-ai-key"] == manifest["custom_id_prefix"]
    assert len(labels["genai-batch-key"]) == 24
    lines = staged_lines(cai)
    assert [line["key"] for line in lines] == [f"{manifest['custom_id_prefix']}-{i}" for i in range(3)]
    request = lines[0]["request"]
    assert request["systemInstruction"] == {"role": "user", "parts": [{"text": "be terse"}]}
    assert request["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 64}


@pytest.mark.parametrize("style", ["operator", "decorator"])
def test_structured_output_sends_json_schema(run_cai_dag: Any, cai: CommonAI, style: str) -> None:
    """In JSON mode the emulator answers with JSON fitting the schema (``emulator/structured.py``): every row
    validates into the pydantic output type, as common-ai documents; the request carried the model's JSON Schema as
    ``responseJsonSchema``."""
    kwargs = {**task_kwargs(cai, deferrable=True, model_id="google-cloud:gemini-2.5-flash")}
    kwargs.update(llm_conn_id=VERTEX_CONN, requests=["rate this", "and this"])
    result = run_cai_dag(
        {"dag_id": f"cai_vertex_structured_{style}", "style": style, "structured": True, "task": kwargs}
    )
    assert result.state == "success", result.output[-3000:]
    manifest = result.value("batch")
    assert manifest["structured"] is True
    assert manifest["output_type_ref"] == "tests.common_ai.dags.Review"
    assert manifest["counts"]["succeeded"] == 2 and manifest["counts"]["invalid_output"] == 0
    assert manifest["terminal_reason"] == "succeeded"
    rows = cai.rows(manifest)
    # score: the prompt's word count (2 words each); label: the schema's string, "echo: <prompt>".
    assert [row["output"] for row in rows] == [
        {"label": "echo: rate this", "score": 2.0},
        {"label": "echo: and this", "score": 2.0},
    ]
    config = staged_lines(cai)[0]["request"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseJsonSchema"]
    assert schema["properties"]["label"] == {"title": "Label", "type": "string"}
    assert schema["required"] == ["label", "score"]
