"""Differential tests, Gemini Developer API: the inlined requests our ``batches.create`` / ``create_embeddings``
send are exactly those google-genai 3.3.0 sends for the same ``src``, both read back from a loopback recorder.

Only the differences listed in docs/SDK_PARITY.md are normalised (``recorder.strip_allowed``). Transformations
covered, with the SDK function each mirrors:

- contents: a string / list of strings / parts grouped into user or model turns, Content dicts keep (or lack) their
  role: ``t_contents``, ``t_content``, ``t_part``, ``t_parts``, ``_Content_to_mldev``, ``_Part_to_mldev``
- bytes in ``inline_data`` / ``thought_signature`` as URL-safe base64: ``_common.encode_unserializable_types``
  (base64 strings re-encoded: the Blob's ``val_json_bytes='base64'``)
- Files API parts, FileData dicts, google-genai ``File`` objects: ``t_part`` (``Part.from_uri``)
- function calls / responses: ``_FunctionCall_to_mldev`` (``partial_args``, ``will_continue`` rejected)
- nested objects sent with snake_case keys: ``_common.convert_to_dict`` (``model_dump``)
- per-request model: ``t_model``; cached content: ``t_cached_content_name``
- config split into request fields and ``generationConfig``: ``_GenerateContentConfig_to_mldev``,
  ``_InlinedRequest_to_mldev``; system instruction: ``t_content``
- response_schema from JSON Schema, pydantic classes, Enums, ``list[int]``, ``types.Schema``: ``t_schema``,
  ``process_schema``, ``handle_null_fields``, ``_process_enum``; response_json_schema: ``t_json_schema``
- tools (function declarations merged into one tool), google search / maps: ``t_tools``, ``t_tool``,
  ``_Tool_to_mldev``, ``_GoogleSearch_to_mldev``, ``_GoogleMaps_to_mldev``; tool config:
  ``_ToolConfig_to_mldev``, ``_FunctionCallingConfig_to_mldev``
- safety settings: ``_SafetySetting_to_mldev``; image config: ``_ImageConfig_to_mldev``; speech config:
  ``t_speech_config``
- embeddings: ``t_contents_for_embed``, ``_EmbedContentBatch_to_mldev``, ``_EmbedContentConfig_to_mldev``
- fields only Vertex AI has: the SDK's ValueError, ours an InvalidInputError naming the field, before any request
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from google.genai import types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_genai_batch.client.errors import InvalidInputError
from tests.client.recorder import Recorder, our_gemini_requests, sdk_gemini_requests

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200))
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"


class Genre(enum.Enum):
    DRAMA = "drama"
    COMEDY = "comedy"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Address(pydantic.BaseModel):
    city: str
    zip_code: str | None = None


class Person(pydantic.BaseModel):
    name: str
    age: int
    genre: Genre
    home: Address | None = None
    friends: list[Address] = []


@pytest.fixture(scope="module")
def rec() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def assert_same(rec: Recorder, src: list[Any]) -> None:
    theirs = sdk_gemini_requests(rec, src)
    ours = our_gemini_requests(rec, src)
    assert ours == theirs


def one(contents: Any = "hi", **config: Any) -> list[Any]:
    return [{"contents": contents, "config": config} if config else {"contents": contents}]


CASES: dict[str, list[Any]] = {
    "string": one("hello"),
    "strings-are-one-turn": one(["a", "b"]),
    "content-without-role": one([{"parts": [{"text": "a"}]}]),
    "content-with-role-camel": one(
        [{"role": "user", "parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b"}]}]
    ),
    "parts-grouped": one(["a", {"text": "b"}, {"file_data": {"file_uri": "files/abc", "mime_type": "image/png"}}]),
    "image-bytes": one([{"parts": [{"inline_data": {"data": PNG, "mime_type": "image/png"}}, {"text": "caption"}]}]),
    "audio-bytes-camel": one([{"parts": [{"inlineData": {"data": WAV, "mimeType": "audio/wav"}}]}]),
    "pdf-bytes-sdk-part": one([types.Part.from_bytes(data=PDF, mime_type="application/pdf"), "summarise"]),
    "base64-string-data": one([{"parts": [{"inline_data": {"data": "iVBORw+/", "mime_type": "image/png"}}]}]),
    "files-api-part": one([types.Part.from_uri(file_uri="files/abc123", mime_type="image/jpeg"), "what is this?"]),
    "sdk-file-object": one(
        [types.File(name="files/f1", uri="https://host/v1/files/f1", mime_type="image/png"), "describe"]
    ),
    "sdk-content": one([types.UserContent(parts=[types.Part.from_text(text="x")])]),
    "function-call-turns": one(
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
    "datetime-in-args": one(
        [{"role": "model", "parts": [{"function_call": {"name": "f", "args": {"at": dt.datetime(2026, 1, 2, 3, 4)}}}]}]
    ),
    "function-call-part-is-model-turn": one(["q", {"function_call": {"name": "f", "args": {}}}, "r"]),
    "thought-signature-bytes": one([{"role": "model", "parts": [{"text": "t", "thought_signature": b"\x01\x02"}]}]),
    "model-bare": [{"contents": "x", "model": "gemini-2.5-pro"}],
    "model-prefixed": [{"contents": "x", "model": "models/gemini-2.5-pro"}],
    "metadata": [{"contents": "x", "metadata": {"key": "k1", "team": "a"}}],
    "cached-content-bare": one(cached_content="abc"),
    "cached-content-full": one(cached_content="cachedContents/abc"),
    "system-instruction-string": one(system_instruction="be terse"),
    "system-instruction-content": one(system_instruction={"parts": [{"text": "s"}]}),
    "system-instruction-parts": one(system_instruction=["a", "b"]),
    "generation-fields-camel": one(
        temperature=0.2, topP=0.9, topK=40, maxOutputTokens=64, stopSequences=["END"], seed=7, candidateCount=1
    ),
    "generation-fields-more": one(
        presence_penalty=0.1,
        frequency_penalty=0.2,
        response_logprobs=True,
        logprobs=3,
        response_mime_type="application/json",
        response_modalities=["TEXT"],
        media_resolution="MEDIA_RESOLUTION_LOW",
        enable_enhanced_civic_answers=True,
    ),
    "thinking-camel": one(thinking_config={"thinkingBudget": 0, "includeThoughts": True}),
    "thinking-sdk-type": one(thinking_config=types.ThinkingConfig(thinking_level="LOW")),
    "schema-pydantic-class": one(response_mime_type="application/json", response_schema=Person),
    "schema-json-schema": one(response_schema=Person.model_json_schema()),
    "schema-api-schema-dict": one(response_schema={"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}),
    "schema-lower-case": one(response_schema={"type": "array", "items": {"type": "integer"}, "minItems": 1}),
    "schema-enum": one(response_schema=Genre),
    "schema-int-enum": one(response_schema=Level),
    "schema-list-of-models": one(response_schema=list[Address]),
    "schema-optional-any-of": one(
        response_schema={"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    ),
    "schema-sdk-type": one(response_schema=types.Schema(type="OBJECT", properties={"n": types.Schema(type="NUMBER")})),
    "json-schema": one(response_json_schema=Person.model_json_schema()),
    "json-schema-dict": one(response_json_schema={"type": "object", "properties": {"camelName": {"type": "string"}}}),
    "safety": one(
        safety_settings=[
            {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"},
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH,
            ),
        ]
    ),
    "tools-merged": one(
        tools=[
            {"function_declarations": [{"name": "a", "parameters": {"type": "object", "properties": {}}}]},
            {"googleSearch": {}},
            {"functionDeclarations": [{"name": "b", "description": "d", "parametersJsonSchema": {"type": "object"}}]},
            {"code_execution": {}, "url_context": {}},
        ]
    ),
    "tools-sdk-types": one(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="f",
                        parameters=types.Schema(type="OBJECT", properties={"q": types.Schema(type="STRING")}),
                    )
                ]
            ),
            types.Tool(google_search=types.GoogleSearch()),
        ]
    ),
    "tool-config": one(tool_config={"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a"]}}),
    "image-config": one(image_config={"aspect_ratio": "16:9", "imageSize": "1K"}, response_modalities=["IMAGE"]),
    "speech-voice-name": one(speech_config="Kore", response_modalities=["AUDIO"]),
    "speech-dict": one(speech_config={"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}}),
    "sdk-inlined-request": [
        types.InlinedRequest(
            contents="x",
            config=types.GenerateContentConfig(temperature=0.1, system_instruction="s"),
            metadata={"key": "k"},
        )
    ],
    "sdk-inlined-request-rich": [
        types.InlinedRequest(
            model="gemini-2.5-pro",
            contents=[types.Part.from_bytes(data=PNG, mime_type="image/png"), "caption"],
            config=types.GenerateContentConfig(
                response_mime_type="application/json",
                response_schema=Person,
                thinking_config=types.ThinkingConfig(thinking_budget=0),
                system_instruction=types.Content(parts=[types.Part(text="s")]),
                safety_settings=[types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="OFF")],
            ),
        )
    ],
    "enum-names-any-case": one(
        safety_settings=[{"category": "harm_category_hate_speech", "threshold": "Block_None"}],
        media_resolution="media_resolution_low",
        tool_config={"function_calling_config": {"mode": "any"}},
        thinking_config={"thinking_level": "low"},
        tools=[{"function_declarations": [{"name": "f", "behavior": "non_blocking"}]}],
    ),
    "empty-config": [{"contents": "x", "config": {}}],
    "several-requests": [{"contents": "a"}, {"contents": "b", "config": {"seed": 1}}, {"contents": ["c", "d"]}],
}


@pytest.mark.parametrize("src", list(CASES.values()), ids=list(CASES))
def test_inlined_requests_match_the_sdk(rec: Recorder, src: list[Any]) -> None:
    assert_same(rec, src)


EMBED_CASES: dict[str, Any] = {
    "texts": {"contents": ["hello", "world"]},
    "config": {
        "contents": ["a"],
        "config": {"task_type": "RETRIEVAL_DOCUMENT", "title": "t", "outputDimensionality": 8},
    },
    "content-dicts": {"contents": [{"parts": [{"text": "x"}]}, {"role": "user", "parts": [{"text": "y"}]}]},
    "parts": {"contents": [{"text": "p"}, types.Part.from_text(text="q")]},
}


@pytest.mark.parametrize("src", list(EMBED_CASES.values()), ids=list(EMBED_CASES))
def test_embedding_requests_match_the_sdk(rec: Recorder, src: Any) -> None:
    assert our_gemini_requests(rec, src, embeddings=True) == sdk_gemini_requests(rec, src, embeddings=True)


VERTEX_ONLY: dict[str, tuple[list[Any], str]] = {
    "routing": (one(routing_config={"auto_mode": {}}), "src[0].config.routing_config"),
    "model-selection": (
        one(model_selection_config={"feature_selection_preference": "BALANCED"}),
        "src[0].config.model_selection_config",
    ),
    "audio-timestamp": (one(audio_timestamp=True), "src[0].config.audio_timestamp"),
    "model-armor": (one(model_armor_config={"prompt_template_name": "x"}), "src[0].config.model_armor_config"),
    "safety-method": (
        one(safety_settings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF", "method": "SEVERITY"}]),
        "src[0].config.safety_settings[0].method",
    ),
    "tool-retrieval": (one(tools=[{"retrieval": {"vertex_rag_store": {}}}]), "src[0].config.tools[0].retrieval"),
    "tool-enterprise-search": (
        one(tools=[{"enterprise_web_search": {}}]),
        "src[0].config.tools[0].enterprise_web_search",
    ),
    "search-exclude-domains": (
        one(tools=[{"google_search": {"exclude_domains": ["a.com"]}}]),
        "src[0].config.tools[0].google_search.exclude_domains",
    ),
    "image-person-generation": (
        one(image_config={"person_generation": "ALLOW_ADULT"}),
        "src[0].config.image_config.person_generation",
    ),
    "function-call-partial-args": (
        one([{"role": "model", "parts": [{"function_call": {"name": "f", "will_continue": True}}]}]),
        "src[0].contents[0].parts[0].function_call.will_continue",
    ),
}


@pytest.mark.parametrize(("src", "field"), list(VERTEX_ONLY.values()), ids=list(VERTEX_ONLY))
def test_vertex_only_fields_rejected_like_the_sdk(rec: Recorder, src: list[Any], field: str) -> None:
    with pytest.raises(ValueError, match="only supported in Gemini Enterprise Agent Platform"):
        sdk_gemini_requests(rec, src)
    rec.clear()
    with pytest.raises(InvalidInputError) as info:
        our_gemini_requests(rec, src)
    assert info.value.field == field
    assert "Vertex AI" in info.value.problem
    assert rec.requests == []


# Fields google-genai 3.3.0 sends that google-ai-generativelanguage 0.12.1 lacks: sent as the SDK sends them
# (docs/SDK_PARITY.md, "Fields the SDK sends", gives each one's provenance).
SDK_FIELDS: dict[str, list[Any]] = {
    "labels": one(labels={"team": "a", "Cost-Centre": "x1"}),
    "service-tier": one(service_tier="flex"),
    "service-tier-upper-case": one(service_tier="PRIORITY"),
    "service-tier-sdk-enum": one(service_tier=types.ServiceTier.STANDARD),
    "store": one(store=False),
    "continuation-token-bytes": one(continuation_token=b"\x01\xff\xfe"),
    "continuation-token-base64": one(continuation_token="dG9rZW4="),
    "audio-transcription": one(audio_transcription_config={"language_codes": ["en-US"]}),
    "all-together": one("x", labels={"a": "b"}, service_tier="flex", store=True, temperature=0, system_instruction="s"),
    "sdk-config-object": one(
        "x",
        **types.GenerateContentConfig(
            service_tier=types.ServiceTier.FLEX, labels={"k": "v"}, store=True, continuation_token=b"t"
        ).model_dump(exclude_none=True),
    ),
}


@pytest.mark.parametrize("src", list(SDK_FIELDS.values()), ids=list(SDK_FIELDS))
def test_fields_the_published_protos_lack_are_sent_as_the_sdk_sends_them(rec: Recorder, src: list[Any]) -> None:
    assert_same(rec, src)


BAD_SDK_FIELD_VALUES: dict[str, tuple[list[Any], str, str]] = {
    "service-tier-unknown": (one(service_tier="fast"), "src[0].config.service_tier", "'flex'"),
    "service-tier-enum-name": (one(service_tier="SERVICE_TIER_FLEX"), "src[0].config.service_tier", "'flex'"),
    "service-tier-number": (one(service_tier=2), "src[0].config.service_tier", "'flex'"),
    "store-string": (one(store="yes"), "src[0].config.store", "True or False"),
    "label-value-number": (one(labels={"team": 1}), "src[0].config.labels.team", "strings"),
    "labels-list": (one(labels=["a"]), "src[0].config.labels", "dict"),
    "continuation-token-not-base64": (
        one(continuation_token="not base64!"),
        "src[0].config.continuation_token",
        "bytes",
    ),
}


@pytest.mark.parametrize(("src", "field", "fix"), list(BAD_SDK_FIELD_VALUES.values()), ids=list(BAD_SDK_FIELD_VALUES))
def test_bad_values_of_these_fields_are_refused_before_any_request(
    rec: Recorder, src: list[Any], field: str, fix: str
) -> None:
    rec.clear()
    with pytest.raises(InvalidInputError) as info:
        our_gemini_requests(rec, src)
    assert info.value.field == field
    assert fix in info.value.fix
    assert rec.requests == []


def test_embed_config_vertex_only_fields_rejected(rec: Recorder) -> None:
    src = {"contents": ["a"], "config": {"auto_truncate": True}}
    with pytest.raises(ValueError, match="only supported"):
        sdk_gemini_requests(rec, src, embeddings=True)
    rec.clear()
    with pytest.raises(InvalidInputError) as info:
        our_gemini_requests(rec, src, embeddings=True)
    assert info.value.field == "src.config.auto_truncate"
    assert rec.requests == []


BAD: dict[str, tuple[list[Any], str]] = {
    "lone-surrogate": (one("caf\ud800"), "src[0].contents"),
    "surrogate-in-part": (one(["ok", {"text": "x\udfff"}]), "src[0].contents[1].text"),
    "surrogate-in-schema": (
        one(response_schema={"type": "STRING", "description": "\ud800"}),
        "src[0].config.response_schema.description",
    ),
    "nan": (one(temperature=float("nan")), "src[0].config.temperature"),
    "infinite-in-args": (
        one([{"role": "model", "parts": [{"function_call": {"name": "f", "args": {"x": float("inf")}}}]}]),
        "src[0].contents[0].parts[0].function_call.args.x",
    ),
    "set": (one(stop_sequences={"a", "b"}), "src[0].config.stop_sequences"),
    "object": (one(seed=object()), "src[0].config.seed"),
    "raw-bytes-part": (one(["caption", PNG]), "src[0].contents[1]"),
    "callable-tool": (one(tools=[len]), "src[0].config.tools[0]"),
    "unknown-part-field": (one([{"txt": "x"}]), "src[0].contents[0].txt"),
    "not-base64": (
        one([{"parts": [{"inline_data": {"data": "not base64!", "mime_type": "image/png"}}]}]),
        "src[0].contents[0].parts[0].inline_data.data",
    ),
    "unknown-config": (one(temprature=1), "src[0].config.temprature"),
    "schema-bad-type": (one(response_schema={"type": "text"}), "src[0].config.response_schema.type"),
    "schema-unknown-key": (one(response_schema={"type": "STRING", "colour": 1}), "src[0].config.response_schema"),
    "schema-missing-ref": (
        one(response_schema={"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}}),
        "src[0].config.response_schema.properties.a",
    ),
    "schema-additional-properties": (
        one(response_schema={"type": "object", "additionalProperties": {"type": "string"}}),
        "src[0].config.response_schema.additionalProperties",
    ),
}


@pytest.mark.parametrize(("src", "field"), list(BAD.values()), ids=list(BAD))
def test_bad_input_named_before_any_request(rec: Recorder, src: list[Any], field: str) -> None:
    rec.clear()
    with pytest.raises(InvalidInputError) as info:
        our_gemini_requests(rec, src)
    assert info.value.field.startswith(field), info.value
    assert info.value.fix
    assert rec.requests == []


# --- property tests: requests generated across every field the SDK transforms ---

_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
_name = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


def _spell(key: str, camel: bool) -> str:
    head, *rest = key.split("_")
    return head + "".join(p.title() for p in rest) if camel else key


@st.composite
def _keyed(draw: st.DrawFn, mapping: dict[str, Any]) -> dict[str, Any]:
    camel = draw(st.booleans())
    return {_spell(k, camel): v for k, v in mapping.items()}


_part = st.one_of(
    _text.map(lambda t: {"text": t}),
    st.builds(
        lambda d, m: {"inline_data": {"data": d, "mime_type": m}},
        st.binary(max_size=24),
        st.sampled_from(["image/png", "audio/wav", "application/pdf"]),
    ),
    st.builds(lambda n, m: {"file_data": {"file_uri": f"files/{n}", "mime_type": m}}, _name, st.just("image/png")),
    st.builds(lambda n, a: {"function_call": {"name": n, "args": a}}, _name, st.dictionaries(_name, _text, max_size=2)),
    st.builds(lambda b: {"text": "t", "thought_signature": b}, st.binary(min_size=1, max_size=8)),
    _text,
).flatmap(lambda p: _keyed(p) if isinstance(p, dict) else st.just(p))

_content = st.builds(
    lambda parts, role: {"parts": parts, **({"role": role} if role else {})},
    st.lists(_part.filter(lambda p: isinstance(p, dict)), min_size=1, max_size=3),
    st.sampled_from([None, "user", "model"]),
)
_contents = st.one_of(
    _text,
    st.lists(_text, min_size=1, max_size=3),
    st.lists(_content, min_size=1, max_size=3),
    st.lists(_part, min_size=1, max_size=4),
)

_leaf_schema = st.sampled_from(["string", "integer", "number", "boolean", "STRING", "INTEGER"]).map(
    lambda t: {"type": t}
)
_schema = st.recursive(
    _leaf_schema,
    lambda inner: st.one_of(
        st.builds(lambda i: {"type": "array", "items": i}, inner),
        st.builds(
            lambda props: {"type": "object", "properties": props, "required": sorted(props)[:1]},
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
        "top_p": st.floats(0, 1, allow_nan=False),
        "top_k": st.integers(1, 100),
        "max_output_tokens": st.integers(1, 8192),
        "stop_sequences": st.lists(_text, max_size=2),
        "seed": st.integers(0, 2**31 - 1),
        "response_mime_type": st.sampled_from(["text/plain", "application/json"]),
        "system_instruction": st.one_of(_text, _content),
        "safety_settings": st.lists(
            st.builds(
                lambda c, t: {"category": c, "threshold": t},
                st.sampled_from(["HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_HARASSMENT"]),
                st.sampled_from(["BLOCK_NONE", "BLOCK_LOW_AND_ABOVE", "OFF"]),
            ),
            max_size=2,
        ),
        "thinking_config": st.builds(lambda b: {"thinking_budget": b}, st.integers(0, 1024)).flatmap(_keyed),
        "response_schema": _schema,
        "response_json_schema": _schema,
        "cached_content": st.one_of(_name, _name.map(lambda n: f"cachedContents/{n}")),
        "speech_config": st.sampled_from(["Kore", "Puck"]),
        "media_resolution": st.sampled_from(["MEDIA_RESOLUTION_LOW", "media_resolution_high"]),
        "response_modalities": st.just(["TEXT"]),
        "image_config": st.builds(lambda r: {"aspect_ratio": r}, st.sampled_from(["1:1", "16:9"])).flatmap(_keyed),
        "tool_config": st.builds(
            lambda m: {"function_calling_config": {"mode": m}}, st.sampled_from(["AUTO", "any", "NONE"])
        ).flatmap(_keyed),
        "tools": st.lists(
            st.one_of(
                st.builds(
                    lambda n, s: {"function_declarations": [{"name": n, "parameters": s}]},
                    _name,
                    st.just({"type": "object", "properties": {"q": {"type": "string"}}}),
                ),
                st.just({"google_search": {}}),
            ),
            max_size=3,
        ),
    },
).flatmap(_keyed)

_request = st.fixed_dictionaries(
    {"contents": _contents},
    optional={
        "config": _config,
        "model": st.one_of(st.just("gemini-2.5-pro"), st.just("models/gemini-2.5-flash")),
        "metadata": st.dictionaries(_name, _text, min_size=1, max_size=2),
    },
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(src=st.lists(_request, min_size=1, max_size=3))
def test_generated_requests_match_the_sdk(rec: Recorder, src: list[Any]) -> None:
    assert_same(rec, src)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    contents=st.lists(st.one_of(_text, _content), min_size=1, max_size=3),
    config=st.fixed_dictionaries(
        {},
        optional={
            "task_type": st.sampled_from(["RETRIEVAL_QUERY", "CLUSTERING"]),
            "output_dimensionality": st.integers(1, 768),
        },
    ),
)
def test_generated_embeddings_match_the_sdk(rec: Recorder, contents: list[Any], config: dict[str, Any]) -> None:
    src = {"contents": contents, "config": config}
    assert our_gemini_requests(rec, src, embeddings=True) == sdk_gemini_requests(rec, src, embeddings=True)
