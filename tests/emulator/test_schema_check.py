"""The proto3 JSON mapping rules of ``schema_check`` (as Google's parser applies them), and the snapshot's drift
check against the installed official packages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator.schema_check import check, load_schema
from scripts import generate_schema_snapshot as generator

GEMINI = load_schema("gemini", "v1beta")
VERTEX = load_schema("vertex", "v1beta1")


def _problems(request: dict[str, Any], schema: Any = GEMINI, root: str = "GenerateContentRequest") -> list[str]:
    return [v.description for v in check(schema, root, request)]


def _part(**part: Any) -> dict[str, Any]:
    return {"contents": [{"parts": [part]}]}


@pytest.mark.parametrize(
    "request_body",
    [
        {"contents": [{"parts": [{"text": "x"}]}], "generation_config": {"max_output_tokens": 5}},  # snake_case
        {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": 5}},  # lowerCamelCase
        {"safetySettings": [{"category": 8, "threshold": "BLOCK_NONE"}]},  # enum by number and by name
        {"generationConfig": {"responseSchema": {"type": "STRING", "maxLength": "10", "minLength": 1}}},  # int64
        {"generationConfig": {"maxOutputTokens": "7", "seed": 3.0, "temperature": "Infinity", "topP": "0.5"}},
        _part(inlineData={"mimeType": "a/b", "data": "+/+/"}),  # standard base64
        _part(inlineData={"mimeType": "a/b", "data": "-_-_"}),  # URL-safe base64
        _part(inlineData={"mimeType": "a/b", "data": "aGk"}),  # no padding
        _part(inlineData={"mimeType": "a/b", "data": "aGk="}),
        _part(fileData={"fileUri": "u"}, videoMetadata={"startOffset": "1.5s", "endOffset": "-2s"}),  # Duration
        _part(functionCall={"name": "f", "args": {"deep": {"er": [1, None, True]}}}),  # Struct
        {"generationConfig": {"responseJsonSchema": None, "responseSchema": {"example": [1, {"a": None}]}}},
        {"generationConfig": {"candidateCount": None}, "tools": None},  # null = not set
        _part(text=None, fileData={"fileUri": "u"}),  # a null oneof member does not count
        {"contents": {"parts": {"text": "one Content, not a list"}}},  # a single value for a repeated field
        {"contents": [], "cachedContent": "cachedContents/x", "model": "models/m"},
    ],
)
def test_gemini_accepts_every_proto3_json_form(request_body: dict[str, Any]) -> None:
    assert _problems(request_body) == []


ENUM = "type.googleapis.com/google.ai.generativelanguage.v1beta"


@pytest.mark.parametrize(
    ("request_body", "description"),
    [
        (
            {"safetySettings": [{"category": "hate"}]},
            f"Invalid value at 'safety_settings[0].category' ({ENUM}.HarmCategory), \"hate\"",
        ),
        (
            {"safetySettings": [{"category": True}]},
            f"Invalid value at 'safety_settings[0].category' ({ENUM}.HarmCategory), true",
        ),
        (
            {"generationConfig": {"maxOutputTokens": 2**31}},
            "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), 2147483648",
        ),
        (
            {"generationConfig": {"maxOutputTokens": "1_0"}},
            "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), \"1_0\"",
        ),
        (
            {"generationConfig": {"temperature": "hot"}},
            "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\"",
        ),
        (
            {"generationConfig": {"responseLogprobs": "true"}},
            "Invalid value at 'generation_config.response_logprobs' (TYPE_BOOL), \"true\"",
        ),
        (
            {"generationConfig": {"responseSchema": {"minItems": 1.5}}},
            "Invalid value at 'generation_config.response_schema.min_items' (TYPE_INT64), 1.5",
        ),
        (
            _part(inlineData={"data": "a"}),
            "Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES), Base64 decoding failed for \"a\"",
        ),
        (_part(inlineData={"data": 12}), "Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES), 12"),
        (
            _part(fileData={"fileUri": "u"}, videoMetadata={"startOffset": "90"}),
            "Invalid value at 'contents[0].parts[0].video_metadata.start_offset' "
            '(type.googleapis.com/google.protobuf.Duration), "90"',
        ),
        (
            _part(functionCall={"name": "f", "args": [1]}),
            "Invalid JSON payload received. Unknown name \"args\" at 'contents[0].parts[0].function_call': "
            "Proto field is not repeating, cannot start list.",
        ),
        ({"contents": ["hi"]}, f"Invalid value at 'contents[0]' ({ENUM}.Content), \"hi\""),
        ({"contents": [None]}, f"Invalid value at 'contents[0]' ({ENUM}.Content), null"),
        (
            {"generationConfig": [{"temperature": 1}]},
            'Invalid JSON payload received. Unknown name "generationConfig": '
            "Proto field is not repeating, cannot start list.",
        ),
        (
            _part(text={"value": "x"}),
            "Invalid JSON payload received. Unknown name \"text\" at 'contents[0].parts[0]': "
            "Starting an object on a scalar field",
        ),
        (
            {
                "generationConfig": {
                    "responseSchema": {"properties": {"a": {"type": "OBJECT", "properties": {"b": {"typ": "STRING"}}}}}
                }
            },
            'Invalid JSON payload received. Unknown name "typ" at '
            "'generation_config.response_schema.properties[0].value.properties[0].value': Cannot find field.",
        ),
        (
            _part(inline_data={"data": "aGk="}, inlineData={"data": "aGk="}),
            "Invalid value at 'contents[0].parts[0]' (oneof), "
            "oneof field 'data' is already set. Cannot set 'inlineData'",
        ),
        ({"Contents": []}, 'Invalid JSON payload received. Unknown name "Contents": Cannot find field.'),
    ],
)
def test_gemini_rejects_what_the_proto3_json_parser_rejects(request_body: dict[str, Any], description: str) -> None:
    assert _problems(request_body) == [description]


def test_nesting_is_bounded_without_recursion_errors() -> None:
    schema: dict[str, Any] = {"type": "STRING"}
    for _ in range(500):
        schema = {"type": "ARRAY", "items": schema}
    problems = _problems({"generationConfig": {"responseSchema": schema}})
    assert len(problems) == 1 and "Nesting too deep" in problems[0]


def test_vertex_uses_the_discovery_document_and_inferred_oneofs() -> None:
    assert _problems(_part(text="a", inlineData={"data": "aGk="}), VERTEX) == [
        "Invalid value at 'contents[0].parts[0]' (oneof), oneof field 'data' is already set. Cannot set 'inlineData'"
    ]
    # Fields Vertex has and the Gemini API does not, and the reverse.
    assert _problems({"contents": [], "routingConfig": {}}, GEMINI, "GenerateContentRequest") == [
        'Invalid JSON payload received. Unknown name "routingConfig": Cannot find field.'
    ]
    assert _problems({"contents": [], "store": True}, VERTEX) == [
        'Invalid JSON payload received. Unknown name "store": Cannot find field.'
    ]
    assert _problems({"contents": [], "labels": {"team": "etl"}}, VERTEX) == []
    assert _problems({"labels": {"team": 1}}, VERTEX) == ["Invalid value at 'labels[0].value' (TYPE_STRING), 1"]
    timestamps = {"createTime": "2026-01-01T00:00:00.5Z", "endTime": "yesterday"}
    assert _problems(timestamps, VERTEX, "BatchPredictionJob") == [
        "Invalid value at 'end_time' (type.googleapis.com/google.protobuf.Timestamp), \"yesterday\""
    ]


def test_snapshot_records_its_sources() -> None:
    for name in ("gemini.v1beta", "gemini.v1", "vertex.v1beta1", "vertex.v1"):
        data = json.loads((generator.SCHEMA_DIR / f"{name}.json").read_text())
        assert data["artifacts"], name
    gemini = json.loads((generator.SCHEMA_DIR / "gemini.v1beta.json").read_text())
    assert gemini["artifacts"]["google-ai-generativelanguage"] == "0.12.1"
    assert "google.ai.generativelanguage.v1beta.InlinedRequest" in gemini["hand_written"]
    vertex = json.loads((generator.SCHEMA_DIR / "vertex.v1beta1.json").read_text())
    assert vertex["artifacts"]["google-api-python-client"] == "2.202.0"
    assert vertex["artifacts"]["document"].endswith("aiplatform.v1beta1.json")


def test_snapshot_records_each_field_added_beyond_the_published_artifacts() -> None:
    expected = {
        "gemini": {
            "GenerateContentRequest.service_tier",
            "GenerateContentRequest.labels",
            "GenerateContentRequest.store",
            "GenerateContentRequest.continuation_token",
            "GenerationConfig.audio_transcription_config",
        },
        "vertex": {"GenerateContentRequest.service_tier"},
    }
    for name in ("gemini.v1beta", "gemini.v1", "vertex.v1beta1", "vertex.v1"):
        data = json.loads((generator.SCHEMA_DIR / f"{name}.json").read_text())
        backend = name.split(".")[0]
        added = {f"{entry['message'].rsplit('.', 1)[-1]}.{entry['field']}" for entry in data["sdk_fields"]}
        prefix = f"GoogleCloudAiplatform{data['version'].capitalize()}"
        assert {a.removeprefix(prefix) for a in added} == expected[backend], name
        for entry in data["sdk_fields"]:
            assert "google-genai 3.3.0" in entry["provenance"], entry
            assert entry["field"] in data["messages"][entry["message"]]["fields"], entry


def test_snapshot_matches_the_installed_official_packages() -> None:
    fresh = generator.snapshots()
    stale = [
        name
        for name, text in fresh.items()
        if not (generator.SCHEMA_DIR / name).exists() or (generator.SCHEMA_DIR / name).read_text() != text
    ]
    on_disk = sorted(p.name for p in generator.SCHEMA_DIR.glob("*.json"))
    assert not stale and on_disk == sorted(fresh), (
        f"The emulator's schema snapshot differs from google-ai-generativelanguage / google-api-python-client as "
        f"installed ({', '.join(stale) or 'file list'}). Regenerate it with: {generator.REGENERATE}"
    )
