"""Differential tests, Vertex AI: the ``request`` of each JSONL line our client stages to GCS for inlined requests
is exactly the body google-genai 3.3.0 sends for ``models.generate_content`` (vertexai=True) with the same contents
and config. Both are read back from a loopback recorder (our staged upload arrives there too).

Only the differences listed in docs/SDK_PARITY.md are normalised (``recorder.strip_allowed``). Transformations
covered, with the SDK function each mirrors:

- contents, parts, roles: ``t_contents``, ``t_content``, ``t_part``, ``_Content_to_vertex``, ``_Part_to_vertex``
  (``tool_call``, ``tool_response``, ``part_metadata`` rejected); bytes as URL-safe base64:
  ``_common.encode_unserializable_types``; ``gs://`` and ``https://`` file parts
- function responses: ``_FunctionResponse_to_vertex`` (``will_continue`` rejected)
- config split: ``_GenerateContentConfig_to_vertex`` (``model_selection_config`` -> ``modelConfig``; on the request
  ``model_armor_config`` -> ``modelArmorConfig``, ``generation_output_config`` -> ``outputConfig``,
  ``continuation_token``; ``store`` and ``enable_enhanced_civic_answers`` rejected; ``service_tier`` refused,
  docs/SDK_PARITY.md says why);
  an empty config sends nothing, as ``models.generate_content`` does
- cached content with project and location: ``t_cached_content_name`` (``_resource_name`` on Vertex)
- response_schema / response_json_schema: ``t_schema``, ``process_schema`` (``additionalProperties`` allowed on
  Vertex), ``t_json_schema``
- speech config: ``t_speech_config``, ``_SpeechConfig_to_vertex``, ``_VoiceConfig_to_vertex``,
  ``_MultiSpeakerVoiceConfig_to_vertex``; image config: ``_ImageConfig_to_vertex``
- tools: ``t_tools``, ``t_tool``, ``_Tool_to_vertex`` (``file_search`` rejected); tool config:
  ``_ToolConfig_to_vertex``
- per-request model: Vertex batch prediction runs every line on the job's model, so we reject it
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_genai_batch.client.errors import InvalidInputError
from tests.client.recorder import Recorder, our_vertex_lines, sdk_vertex_body, vertex_request_as_sent

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200))
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"


class Item(pydantic.BaseModel):
    label: str
    score: float | None = None
    extra: dict[str, int] = {}


@pytest.fixture(scope="module")
def rec() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def assert_same(rec: Recorder, requests: list[dict[str, Any]]) -> None:
    lines = our_vertex_lines(rec, requests)
    assert len(lines) == len(requests)
    for line, request in zip(lines, requests, strict=True):
        expected = sdk_vertex_body(rec, request)
        assert vertex_request_as_sent(line["request"], expected) == expected


def one(contents: Any = "hi", **config: Any) -> dict[str, Any]:
    return {"contents": contents, "config": config} if config else {"contents": contents}


CASES: dict[str, dict[str, Any]] = {
    "string": one("hello"),
    "strings": one(["a", "b"]),
    "content-without-role": one([{"parts": [{"text": "a"}]}]),
    "image-bytes": one([{"parts": [{"inline_data": {"data": PNG, "mime_type": "image/png"}}, {"text": "caption"}]}]),
    "audio-bytes": one([types.Part.from_bytes(data=WAV, mime_type="audio/wav"), "transcribe"]),
    "pdf-bytes-camel": one([{"parts": [{"inlineData": {"data": PDF, "mimeType": "application/pdf"}}]}]),
    "gcs-part": one([types.Part.from_uri(file_uri="gs://bucket/cat.png", mime_type="image/png"), "what is it?"]),
    "gcs-part-dict": one([{"parts": [{"file_data": {"file_uri": "gs://b/v.mp4", "mime_type": "video/mp4"}}]}]),
    "video-metadata": one(
        [
            {
                "parts": [
                    {
                        "file_data": {"file_uri": "gs://b/v.mp4", "mime_type": "video/mp4"},
                        "video_metadata": {"start_offset": "1s", "end_offset": "5s"},
                    }
                ]
            }
        ]
    ),
    "function-turns": one(
        [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"function_call": {"name": "get", "args": {"cityName": "Oslo"}}}]},
            {"role": "user", "parts": [{"function_response": {"name": "get", "response": {"temp_c": 3}}}]},
        ]
    ),
    "function-response-parts": one(
        [
            {"role": "model", "parts": [{"function_call": {"name": "snap", "args": {}}}]},
            {
                "role": "user",
                "parts": [
                    {
                        "function_response": {
                            "name": "snap",
                            "response": {"ok": True},
                            "parts": [{"inline_data": {"data": PNG, "mime_type": "image/png"}}],
                        }
                    }
                ],
            },
        ]
    ),
    "cached-content-bare": one(cached_content="abc"),
    "cached-content-collection": one(cached_content="cachedContents/abc"),
    "cached-content-location": one(cached_content="locations/europe-west4/cachedContents/abc"),
    "system-instruction": one(system_instruction="be terse", temperature=0),
    "labels-only": one(labels={"team": "a"}),
    "generation": one(topP=0.5, topK=3, maxOutputTokens=10, seed=3, stop_sequences=["x"], response_logprobs=True),
    "routing": one(routing_config={"auto_mode": {"model_routing_preference": "BALANCED"}}),
    "model-selection": one(model_selection_config={"feature_selection_preference": "PRIORITIZE_QUALITY"}),
    "audio-timestamp": one(audio_timestamp=True),
    "schema-class": one(response_mime_type="application/json", response_schema=Item),
    "schema-additional-properties": one(
        response_schema={"type": "object", "additionalProperties": {"type": "integer"}}
    ),
    "schema-list": one(response_schema=list[Item]),
    "json-schema": one(response_json_schema=Item.model_json_schema()),
    "safety-method": one(
        safety_settings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF", "method": "SEVERITY"}]
    ),
    "tools": one(
        tools=[
            {"function_declarations": [{"name": "a", "parameters": {"type": "object", "properties": {}}}]},
            {"retrieval": {"vertex_rag_store": {"rag_resources": [{"rag_corpus": "projects/p/x"}]}}},
            {"enterprise_web_search": {}},
            {"googleSearch": {"exclude_domains": ["a.com"]}},
        ]
    ),
    "tool-config": one(tool_config={"function_calling_config": {"mode": "ANY", "allowed_function_names": ["a"]}}),
    "speech-name": one(speech_config="Kore"),
    "speech-multi": one(
        speech_config={
            "multi_speaker_voice_config": {
                "speaker_voice_configs": [
                    {"speaker": "A", "voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}},
                    {"speaker": "B", "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}},
                ]
            }
        }
    ),
    "image-config": one(image_config={"aspect_ratio": "1:1", "person_generation": "ALLOW_ADULT"}),
    "image-output-options": one(image_config={"output_mime_type": "image/jpeg", "output_compression_quality": 80}),
    "thinking": one(thinking_config=types.ThinkingConfig(thinking_budget=128, include_thoughts=True)),
    "enum-names-any-case": one(
        safety_settings=[{"category": "harm_category_hate_speech", "threshold": "off", "method": "severity"}],
        tool_config={"functionCallingConfig": {"mode": "validated"}},
        thinking_config={"thinkingLevel": "high"},
        model_selection_config={"feature_selection_preference": "balanced"},
    ),
    "empty-config": {"contents": "x", "config": {}},
}


@pytest.mark.parametrize("request_", list(CASES.values()), ids=list(CASES))
def test_staged_lines_match_the_sdk(rec: Recorder, request_: dict[str, Any]) -> None:
    assert_same(rec, [request_])


def test_several_requests_in_one_staged_file(rec: Recorder) -> None:
    assert_same(rec, [one("a"), one(["b", "c"], seed=1), one([{"role": "user", "parts": [{"text": "d"}]}])])


GEMINI_ONLY: dict[str, tuple[dict[str, Any], str]] = {
    "store": (one(store=True), "src[0].config.store"),
    "civic": (one(enable_enhanced_civic_answers=True), "src[0].config.enable_enhanced_civic_answers"),
    "file-search": (one(tools=[{"file_search": {}}]), "src[0].config.tools[0].file_search"),
    "server-side-tools": (
        one(tool_config={"include_server_side_tool_invocations": True}),
        "src[0].config.tool_config.include_server_side_tool_invocations",
    ),
    "part-metadata": (
        one([{"parts": [{"text": "x", "part_metadata": {"a": 1}}]}]),
        "src[0].contents[0].parts[0].part_metadata",
    ),
    "mcp-servers": (one(tools=[{"mcp_servers": [{"name": "m"}]}]), "src[0].config.tools[0].mcp_servers"),
    "will-continue": (
        one([{"role": "user", "parts": [{"function_response": {"name": "f", "response": {}, "will_continue": True}}]}]),
        "src[0].contents[0].parts[0].function_response.will_continue",
    ),
}


@pytest.mark.parametrize(("request_", "field"), list(GEMINI_ONLY.values()), ids=list(GEMINI_ONLY))
def test_gemini_only_fields_rejected_like_the_sdk(rec: Recorder, request_: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match="only supported in Gemini Developer API"):
        sdk_vertex_body(rec, request_)
    rec.clear()
    with pytest.raises(InvalidInputError) as info:
        our_vertex_lines(rec, [request_])
    assert info.value.field == field
    assert "Gemini Developer API" in info.value.problem
    assert rec.requests == []


# Fields an older decision refused: google-genai 3.3.0 puts model armor and output config on the request, where the
# aiplatform discovery document has them (docs/SDK_PARITY.md, "Fields the SDK sends").
SDK_FIELDS: dict[str, dict[str, Any]] = {
    "model-armor": one(model_armor_config={"prompt_template_name": "projects/p/locations/l/templates/t"}),
    "model-armor-both": one(model_armor_config={"promptTemplateName": "a", "response_template_name": "b"}),
    "output-config": one(generation_output_config={"output_uri_prefix": "gs://b/out"}),
    "continuation-token": one(continuation_token=b"\x00\xfftoken"),
    "audio-transcription": one(audio_transcription_config={"language_codes": ["en-US"]}),
    "together": one("x", model_armor_config={"prompt_template_name": "a"}, labels={"k": "v"}, temperature=0),
}


@pytest.mark.parametrize("request_", list(SDK_FIELDS.values()), ids=list(SDK_FIELDS))
def test_fields_an_older_decision_refused_are_sent_as_the_sdk_sends_them(
    rec: Recorder, request_: dict[str, Any]
) -> None:
    assert_same(rec, [request_])


@pytest.mark.parametrize("tier", ["flex", "priority", "standard", "SERVICE_TIER_FLEX", types.ServiceTier.FLEX])
def test_service_tier_is_refused_on_vertex_before_any_request(rec: Recorder, tier: Any) -> None:
    # The SDK sends it (serviceTier: "flex"); Vertex answers 400 "Invalid value at 'service_tier'" for the SDK's
    # values and ignores its own enum names (googleapis/python-genai#2433, #2847; googleapis/java-genai#972).
    assert sdk_vertex_body(rec, one(service_tier=tier))["serviceTier"]
    rec.clear()
    with pytest.raises(InvalidInputError) as info:
        our_vertex_lines(rec, [one(service_tier=tier)])
    assert info.value.field == "src[0].config.service_tier"
    assert "Invalid value at 'service_tier'" in info.value.problem
    assert "gemini connection" in info.value.fix
    assert rec.requests == []


def test_per_request_model_is_rejected_before_any_request(rec: Recorder) -> None:
    rec.clear()
    with pytest.raises(InvalidInputError) as info:
        our_vertex_lines(rec, [{"contents": "x", "model": "gemini-2.5-pro"}])
    assert info.value.field == "src[0].model"
    assert rec.requests == []


def test_lone_surrogate_rejected_before_any_request(rec: Recorder) -> None:
    rec.clear()
    with pytest.raises(InvalidInputError) as info:
        our_vertex_lines(rec, [one("ok"), one(["fine", {"text": "bad \ud800"}])])
    assert info.value.field == "src[1].contents[1].text"
    assert rec.requests == []


# --- property tests ---

_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
_name = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
_part = st.one_of(
    _text.map(lambda t: {"text": t}),
    st.builds(
        lambda d, m: {"inline_data": {"data": d, "mime_type": m}},
        st.binary(max_size=24),
        st.sampled_from(["image/png", "audio/wav", "application/pdf"]),
    ),
    st.builds(lambda n: {"file_data": {"file_uri": f"gs://bucket/{n}.png", "mime_type": "image/png"}}, _name),
)
_content = st.builds(
    lambda parts, role: {"parts": parts, **({"role": role} if role else {})},
    st.lists(_part, min_size=1, max_size=3),
    st.sampled_from([None, "user", "model"]),
)
_schema = st.recursive(
    st.sampled_from(["string", "integer", "number", "boolean"]).map(lambda t: {"type": t}),
    lambda inner: st.one_of(
        st.builds(lambda i: {"type": "array", "items": i}, inner),
        st.builds(
            lambda props: {"type": "object", "properties": props},
            st.dictionaries(_name, inner, min_size=1, max_size=3),
        ),
        st.builds(lambda i: {"anyOf": [i, {"type": "null"}]}, inner),
    ),
    max_leaves=5,
)
_config = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2, allow_nan=False),
        "max_output_tokens": st.integers(1, 8192),
        "seed": st.integers(0, 2**31 - 1),
        "system_instruction": st.one_of(_text, _content),
        "response_schema": _schema,
        "response_json_schema": _schema,
        "cached_content": _name,
        "labels": st.dictionaries(_name, _name, max_size=2),
        "speech_config": st.sampled_from(["Kore", "Puck"]),
        "thinking_config": st.builds(lambda b: {"thinking_budget": b}, st.integers(0, 1024)),
        "routing_config": st.just({"auto_mode": {"model_routing_preference": "BALANCED"}}),
        "safety_settings": st.lists(
            st.builds(
                lambda t: {"category": "HARM_CATEGORY_HARASSMENT", "threshold": t},
                st.sampled_from(["BLOCK_NONE", "OFF"]),
            ),
            max_size=1,
        ),
    },
)
_request = st.fixed_dictionaries(
    {
        "contents": st.one_of(
            _text,
            st.lists(_text, min_size=1, max_size=3),
            st.lists(_content, min_size=1, max_size=2),
            st.lists(st.one_of(_part, _text), min_size=1, max_size=3),
        )
    },
    optional={"config": _config},
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(_request, min_size=1, max_size=3))
def test_generated_requests_match_the_sdk(rec: Recorder, requests: list[dict[str, Any]]) -> None:
    assert_same(rec, requests)
