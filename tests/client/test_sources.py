"""Source resolution and validation: every bad input names its field and the fix, before any request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client.creation import output_config, prepare_create, prepare_create_embeddings
from airflow_provider_genai_batch.client.errors import InvalidInputError, UnsupportedOperationError
from airflow_provider_genai_batch.client.models import InlinedRequest
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.sources import (
    BigQuerySource,
    FileSource,
    GcsSource,
    InlineSource,
    LocalFileSource,
    StreamSource,
    resolve_source,
)

GEMINI = ClientSettings(backend="gemini", api_key="k")
VERTEX = ClientSettings(backend="vertex", project="p", access_token="t")
VERTEX_STAGED = ClientSettings(backend="vertex", project="p", access_token="t", gcs_staging_prefix="gs://bkt/stage")


def test_strings_become_user_turns_without_invented_metadata() -> None:
    source = resolve_source(["hi", "there"])
    assert isinstance(source, InlineSource)
    assert source.requests[1] == {"request": {"contents": [{"role": "user", "parts": [{"text": "there"}]}]}}


def test_sdk_types_are_accepted() -> None:
    from google.genai import types

    sdk_request = types.InlinedRequest(
        contents="hello", config=types.GenerateContentConfig(temperature=0.2), metadata={"key": "k"}
    )
    source = resolve_source([sdk_request, InlinedRequest(contents="x")])
    assert isinstance(source, InlineSource)
    assert source.requests[0]["request"]["generationConfig"] == {"temperature": 0.2}
    assert source.requests[0]["metadata"] == {"key": "k"}


def test_wire_shaped_dicts_pass_through_with_key_as_metadata() -> None:
    source = resolve_source([{"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}]}}])
    assert isinstance(source, InlineSource)
    assert source.requests[0]["metadata"] == {"key": "a"}


def test_camel_case_dicts_are_accepted() -> None:
    source = resolve_source([{"contents": "x", "config": {"maxOutputTokens": 5, "systemInstruction": "s"}}])
    assert isinstance(source, InlineSource)
    request = source.requests[0]["request"]
    assert request["generationConfig"] == {"maxOutputTokens": 5}
    assert request["systemInstruction"] == {"role": "user", "parts": [{"text": "s"}]}


@pytest.mark.parametrize(
    ("src", "kind"),
    [
        ("files/abc", FileSource),
        ("gs://bucket/in.jsonl", GcsSource),
        (["gs://bucket/a.jsonl", "gs://bucket/b.jsonl"], GcsSource),
        ("bq://my-project.ds.table", BigQuerySource),
        ({"gcs_uri": ["gs://bucket/a.jsonl"]}, GcsSource),
        ({"bigqueryUri": "bq://my-project.ds.table"}, BigQuerySource),
        ({"file_name": "files/x"}, FileSource),
        (iter([{"contents": "x"}]), StreamSource),
    ],
)
def test_source_kinds(src: Any, kind: type) -> None:
    assert isinstance(resolve_source(src), kind)


def test_local_jsonl_path(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}]}}\n')
    assert isinstance(resolve_source(path), LocalFileSource)
    assert isinstance(resolve_source(f"file://{path}"), LocalFileSource)
    assert isinstance(resolve_source(str(path)), LocalFileSource)


BAD_INPUTS: list[tuple[ClientSettings, str, Any, Any, str]] = [
    (GEMINI, "gemini-2.5-flash", [], None, "src"),
    (GEMINI, "gemini-2.5-flash", None, None, "src"),
    (GEMINI, "gemini-2.5-flash", "gs://bucket/in.jsonl", None, "src"),
    (GEMINI, "gemini-2.5-flash", "bq://my-project.ds.t", None, "src"),
    (GEMINI, "gemini-2.5-flash", "s3://bucket/x", None, "src"),
    (GEMINI, "gemini-2.5-flash", [{"contents": ""}], None, "src[0].contents"),
    (GEMINI, "gemini-2.5-flash", [{"contents": "x", "metadata": {"key": 1}}], None, "src[0].metadata.key"),
    (GEMINI, "gemini-2.5-flash", [{"contents": [42]}], None, "src[0].contents[0]"),
    (GEMINI, "gemini-2.5-flash", [{"contents": "x", "config": "hot"}], None, "src[0].config"),
    (GEMINI, "gemini-2.5-flash", [{"request": {}}], None, "src[0].request.contents"),
    (GEMINI, "gemini-2.5-flash", [object()], None, "src[0]"),
    (GEMINI, "gemini-2.5-flash", {"contents": "x"}, None, "src"),
    (GEMINI, "gemini 2.5", ["x"], None, "model"),
    (GEMINI, "", ["x"], None, "model"),
    (GEMINI, "gemini-2.5-flash", ["x"], {"dest": "gs://bucket/out"}, "config.dest"),
    (GEMINI, "gemini-2.5-flash", ["x"], {"labels": {"a": "b"}}, "config.labels"),
    (GEMINI, "gemini-2.5-flash", ["x"], {"display_name": "x" * 200}, "config.display_name"),
    (GEMINI, "gemini-2.5-flash", ["x"], {"display_name": 5}, "config.display_name"),
    (VERTEX, "gemini-2.5-flash", ["x"], None, "gcs_staging_prefix"),
    (VERTEX, "gemini-2.5-flash", "files/abc", None, "src"),
    (VERTEX, "gemini-2.5-flash", "gs://B!/in.jsonl", None, "src"),
    (VERTEX, "gemini-2.5-flash", "gs://", None, "src"),
    (VERTEX, "gemini-2.5-flash", "bq://nodots", None, "src"),
    (VERTEX, "gemini-2.5-flash", "bq://my-project.ds", None, "src"),
    (VERTEX, "gemini-2.5-flash", "gs://bucket/in.txt", None, "config.dest"),
    (VERTEX, "gemini-2.5-flash", "gs://bucket/in.jsonl", {"dest": "s3://x"}, "config.dest"),
    (VERTEX, "gemini-2.5-flash", "gs://bucket/in.jsonl", {"dest": "bq://x"}, "config.dest"),
    (VERTEX, "gemini-2.5-flash", "gs://bucket/in.jsonl", {"labels": {"Bad Key": "v"}}, "config.labels.Bad Key"),
    (VERTEX, "gemini-2.5-flash", "gs://bucket/in.jsonl", {"labels": {"k": 3}}, "config.labels"),
    (VERTEX, "gemini-2.5-flash", "gs://bucket/in.jsonl", {"webhook_config": {"uris": ["x"]}}, "config.webhook_config"),
    (VERTEX, "a/b/c", "gs://bucket/in.jsonl", None, "model"),
    (VERTEX, "gemini-2.5-flash", {"gcs_uri": ["gs://bucket/a.jsonl"], "bigquery_uri": "bq://p-x.d.t"}, None, "src"),
]


@pytest.mark.parametrize(("settings", "model", "src", "config", "field"), BAD_INPUTS)
def test_bad_input_names_field_and_fix(settings: ClientSettings, model: str, src: Any, config: Any, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        prepare_create(settings, model=model, src=src, config=config)
    assert info.value.field == field
    assert info.value.fix
    assert str(info.value).startswith(field)


def test_embeddings_are_gemini_only() -> None:
    with pytest.raises(UnsupportedOperationError) as info:
        prepare_create_embeddings(VERTEX, model="text-embedding-005", src=["x"], config=None)
    assert info.value.field == "backend"


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        (['{"key": "a", "request": {"contents": []}}', "not json"], "src line 2"),
        (['{"key": "a"}'], "src line 1"),
        (['{"key": 7, "request": {}}'], "src line 1.key"),
        (["", "  "], "src"),
    ],
)
def test_malformed_jsonl_names_the_line(tmp_path: Path, lines: list[str], field: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError) as info:
        prepare_create(GEMINI, model="gemini-2.5-flash", src=path, config=None)
    assert info.value.field == field


def test_missing_local_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        prepare_create(GEMINI, model="m", src=tmp_path / "nope.jsonl", config=None)


def test_vertex_staged_sources_get_a_derived_destination(tmp_path: Path) -> None:
    prepared = prepare_create(VERTEX_STAGED, model="gemini-2.5-flash", src=["a"], config={"display_name": "dn"})
    assert prepared.output_config is None  # derived when first sent, after any rename
    prepared.rename("renamed")
    assert output_config(VERTEX_STAGED, prepared) == {
        "predictionsFormat": "jsonl",
        "gcsDestination": {"outputUriPrefix": "gs://bkt/stage/renamed/output"},
    }


def test_non_string_metadata_in_jsonl_keys_rejected(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"key": ["x"], "request": {"contents": []}}) + "\n")
    with pytest.raises(InvalidInputError):
        prepare_create(GEMINI, model="m", src=path, config=None)


def test_bad_schema_type_is_named_by_its_full_path() -> None:
    src = [
        "a",
        "b",
        "c",
        {"contents": "x", "config": {"response_schema": {"type": "object", "properties": {"x": {"type": "text"}}}}},
    ]
    with pytest.raises(InvalidInputError) as info:
        prepare_create(GEMINI, model="gemini-2.5-flash", src=src, config=None)
    assert info.value.field == "src[3].config.response_schema.properties.x.type"
    assert "STRING" in info.value.fix


@pytest.mark.parametrize("settings", [GEMINI, VERTEX_STAGED], ids=["gemini", "vertex"])
def test_lone_surrogate_is_rejected_while_preparing(settings: ClientSettings) -> None:
    with pytest.raises(InvalidInputError) as info:
        prepare_create(settings, model="gemini-2.5-flash", src=["fine", {"contents": "caf\ud800"}], config=None)
    assert info.value.field == "src[1].contents"
    assert "surrogate" in info.value.problem


def test_vertex_resource_names_and_per_request_model() -> None:
    prepared = prepare_create(
        VERTEX_STAGED,
        model="gemini-2.5-flash",
        src=[{"contents": "x", "config": {"cached_content": "c1"}}],
        config=None,
    )
    assert isinstance(prepared.source, InlineSource)
    request = prepared.source.requests[0]["request"]
    assert request["cachedContent"] == "projects/p/locations/us-central1/cachedContents/c1"
    with pytest.raises(InvalidInputError) as info:
        prepare_create(VERTEX_STAGED, model="gemini-2.5-flash", src=[{"contents": "x", "model": "m2"}], config=None)
    assert info.value.field == "src[0].model"


def test_streamed_requests_are_converted_for_their_backend() -> None:
    from airflow_provider_genai_batch.client.sources import iter_stream_requests
    from airflow_provider_genai_batch.client.wire.generation import Target

    vertex = Target("vertex", "p", "europe-west4")
    stream = iter_stream_requests(
        iter([{"contents": "a", "config": {"cached_content": "c"}}, {"contents": "b", "config": {"store": True}}]),
        target=vertex,
    )
    first = next(stream)
    assert first["request"]["cachedContent"] == "projects/p/locations/europe-west4/cachedContents/c"
    with pytest.raises(InvalidInputError) as info:
        next(stream)
    assert info.value.field == "src[1].config.store"


def test_bytes_go_out_as_url_safe_base64() -> None:
    source = resolve_source(
        [{"contents": [{"parts": [{"inline_data": {"data": b"\xfb\xff", "mime_type": "image/png"}}]}]}]
    )
    assert isinstance(source, InlineSource)
    assert source.requests[0]["request"]["contents"][0]["parts"][0] == {
        "inlineData": {"data": "-_8=", "mime_type": "image/png"}
    }


def test_deeply_nested_or_cyclic_data_is_named_not_a_recursion_error() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    for args in ({"x": cyclic}, {"x": deep}):
        src = [{"contents": [{"role": "model", "parts": [{"function_call": {"name": "f", "args": args}}]}]}]
        with pytest.raises(InvalidInputError) as info:
            prepare_create(GEMINI, model="gemini-2.5-flash", src=src, config=None)
        assert info.value.field == "src[0]"


def test_a_stamped_local_file_reads_like_a_file_and_seeks_back_for_a_resumed_upload(tmp_path: Path) -> None:
    """What an upload streams from a user's JSONL: its lines stamped, ``size`` bytes exactly, the same bytes
    again after a seek back (an upload resuming from what the server stored); the user's file is not changed."""
    from airflow_provider_genai_batch.client.jsonl import StampedJsonlFile, validate_jsonl_file

    lines = [{"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"q{i}" * 50}]}]}} for i in range(40)]
    lines[3]["metadata"] = {"row": "3"}
    path = tmp_path / "in.jsonl"
    original = b"".join(json.dumps(line).encode() + b"\n" + (b"\n" if i == 5 else b"") for i, line in enumerate(lines))
    path.write_bytes(original)
    check = validate_jsonl_file(path)
    with StampedJsonlFile(path, check.stamped_size) as stamped:
        whole = stamped.read()
        assert len(whole) == check.stamped_size
        stamped.seek(1000)
        tail = stamped.read(700)
        stamped.seek(0)
        again = b"".join(iter(lambda: stamped.read(333), b""))
    assert tail == whole[1000:1700] and again == whole
    parsed = [json.loads(line) for line in whole.splitlines()]
    assert [p["metadata"]["genai_batch_index"] for p in parsed] == [str(i) for i in range(40)]  # blank line skipped
    assert parsed[3]["metadata"] == {"row": "3", "genai_batch_index": "3"}
    assert path.read_bytes() == original
    path.write_bytes(original + original[:200])  # rewritten after validation: refused, not sent
    with StampedJsonlFile(path, check.stamped_size) as stamped, pytest.raises(InvalidInputError, match="changed"):
        stamped.read()
