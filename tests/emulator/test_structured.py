"""JSON-mode answers: the emulator answers a request in JSON mode with JSON that fits its response schema."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.emulator.responses import generate_content_response
from airflow_provider_genai_batch.emulator.structured import answer_json, json_schema_of


class Colour(Enum):
    RED = "red"
    GREEN = "green"


class Item(BaseModel):
    name: str
    count: int


class Order(BaseModel):
    status: Literal["open", "closed"]
    colour: Colour
    items: list[Item]
    note: str | None = None
    urgent: bool
    total: float


def test_a_pydantic_models_json_schema_gives_a_valid_instance() -> None:
    text = answer_json(Order.model_json_schema(), "two words")
    order = Order.model_validate_json(text)  # $defs, enums, Optional (anyOf with null), nested lists
    assert order.items == [Item(name="echo: two words", count=2)]
    assert order.urgent is True and order.total == 2.0 and order.note == "echo: two words"


def test_the_apis_schema_form_in_any_case_with_bounds() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "n": {"type": "integer", "minimum": 10},
            "x": {"type": "NUMBER", "maximum": 1},
            "tags": {"type": "ARRAY", "items": {"type": "STRING", "maxLength": 4}, "minItems": 2},
        },
    }
    assert json.loads(answer_json(schema, "a b c")) == {"n": 10, "x": 1.0, "tags": ["echo", "echo"]}


def test_answers_are_deterministic_and_depend_on_the_prompt() -> None:
    schema = {"type": "string", "enum": ["a", "b", "c", "d", "e", "f", "g", "h"]}
    assert answer_json(schema, "p1") == answer_json(schema, "p1")
    assert len({answer_json(schema, f"prompt {i}") for i in range(40)}) > 1


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "integer"}},
            (True, {"type": "integer"}),
        ),
        ({"response_mime_type": "application/json", "response_schema": {"type": "STRING"}}, (True, {"type": "STRING"})),
        ({"responseMimeType": "application/json"}, (True, None)),
        ({"responseMimeType": "text/plain", "responseSchema": {"type": "STRING"}}, (False, None)),
        ({}, (False, None)),
    ],
)
def test_json_mode_and_schema_are_read_from_either_spelling(config: dict[str, Any], expected: Any) -> None:
    assert json_schema_of(config) == expected


def test_text_mode_still_echoes() -> None:
    request = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"temperature": 0}}
    assert generate_content_response(request, "m")["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi"


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_a_structured_batch_through_the_client(genai_batch_emulator: EmulatorHandle, backend: str) -> None:
    emulator = genai_batch_emulator
    emulator.configure(job_seconds=0.0, pending_seconds=0.0)
    if backend == "gemini":
        settings = ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url)
    else:
        settings = ClientSettings(
            backend="vertex",
            project="p",
            location="us-central1",
            access_token="t",
            base_url=emulator.base_url,
            gcs_staging_prefix="gs://stage-bucket/s",
            storage_base_url=emulator.base_url,
        )
    config = {"response_mime_type": "application/json", "response_schema": Item}
    prompts = ["one", "two words", "three more words"]
    with GenAIBatchClient(settings) as client:
        job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": p, "config": config} for p in prompts])
        for _ in range(200):
            job = client.batches.get(name=job.name)
            if job.done:
                break
        answers = {r.index: Item.model_validate_json(r.text or "") for r in client.batches.iter_results(job)}
    assert answers == {i: Item(name=f"echo: {p}", count=len(p.split())) for i, p in enumerate(prompts)}
