"""Gemini wire mapping against the SDK's captured requests and the reference's response shapes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic.alias_generators import to_camel

from airflow_provider_genai_batch.client.creation import create_plan, prepare_create, prepare_create_embeddings
from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.models import JobState
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.wire import gemini
from airflow_provider_genai_batch.client.wire.common import ApiRequest

from . import captures

SETTINGS = ClientSettings(backend="gemini", api_key="TEST_KEY", base_url="http://h", api_version="v1")


def camel_deep(value: Any) -> Any:
    """Google's JSON parser accepts snake_case and camelCase alike; compare in one spelling."""
    if isinstance(value, dict):
        return {to_camel(k): camel_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_deep(v) for v in value]
    return value


def first_request(model: str, src: Any, config: Any = None, embeddings: bool = False) -> ApiRequest:
    prepare = prepare_create_embeddings if embeddings else prepare_create
    prepared = prepare(SETTINGS, model=model, src=src, config=config)
    step = next(create_plan(SETTINGS, prepared))
    assert isinstance(step, ApiRequest)
    return step


def unstamp(body: Any) -> Any:
    """Check and remove the index stamp we add to each inline request's metadata (the SDK adds none)."""
    for index, item in enumerate(body["batch"]["inputConfig"]["requests"]["requests"]):
        metadata = item["metadata"]
        assert metadata.pop("genai_batch_index") == str(index)
        if not metadata:
            del item["metadata"]
    return body


@pytest.fixture(scope="module")
def sdk() -> dict[str, list[captures.CapturedRequest]]:
    return captures.load("mldev_3.3.0.log")


def test_create_inlined_matches_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["mldev create inlined"][0]
    src = [
        {
            "contents": "what is 1+1?",
            "config": {
                "system_instruction": "be terse",
                "safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}],
                "tools": [{"google_search": {}}],
                "cached_content": "cachedContents/abc",
                "temperature": 0.5,
                "max_output_tokens": 100,
                "response_mime_type": "application/json",
                "response_schema": {"properties": {"a": {"type": "STRING"}}, "type": "OBJECT"},
                "thinking_config": {"include_thoughts": False, "thinking_budget": 0},
            },
            "metadata": {"key": "request-1"},
        },
        {"contents": "plain string prompt", "metadata": {"key": "request-2"}},
        {
            "contents": [
                {
                    "parts": [
                        {"inline_data": {"data": "iVBORw==", "mime_type": "image/png"}},
                        {"file_data": {"file_uri": "https://x/files/f1", "mime_type": "image/jpeg"}},
                    ]
                }
            ]
        },
    ]
    config = {"display_name": "dn", "webhook_config": {"uris": ["https://hook"], "user_metadata": {"a": "b"}}}
    request = first_request("gemini-2.5-flash", src, config)
    assert request.method == captured.method
    assert request.path == captured.path
    assert request.idempotent is False
    # Exact keys too (the SDK sends no role on a Content given without one, and neither do we), once the index
    # stamp we add to every request's metadata is taken out.
    assert unstamp(request.json) == captured.body


def test_create_file_matches_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["mldev create file (str src)"][0]
    request = first_request("gemini-2.5-flash", "files/abc123")
    assert (request.method, request.path, request.json) == (captured.method, captured.path, captured.body)


def test_create_embeddings_inline_matches_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["mldev create embeddings inline"][0]
    src = {"contents": ["hello", "world"], "config": {"task_type": "RETRIEVAL_DOCUMENT", "output_dimensionality": 8}}
    request = first_request("gemini-embedding-001", src, {"display_name": "emb"}, embeddings=True)
    assert request.path == captured.path
    ours = request.json
    assert ours is not None
    # No invented metadata: only the index stamp each request carries so results are joined back to inputs.
    assert unstamp(ours) == captured.body


def test_create_embeddings_file_matches_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["mldev create embeddings file"][0]
    request = first_request("gemini-embedding-001", "files/embin", embeddings=True)
    assert request.path == captured.path
    assert camel_deep(request.json) == camel_deep(captured.body)


@pytest.mark.parametrize(
    ("scenario", "build"),
    [
        ("mldev get (file output)", lambda: gemini.build_get(SETTINGS, "batches/abc123")),
        ("mldev list (2 pages)", lambda: gemini.build_list(SETTINGS, 2, None)),
        ("mldev cancel", lambda: gemini.build_cancel(SETTINGS, "batches/abc123")),
        ("mldev delete", lambda: gemini.build_delete(SETTINGS, "batches/abc123")),
        ("files.get + files.download", lambda: gemini.build_file_get(SETTINGS, "files/batch-abc")),
    ],
)
def test_simple_verbs_match_sdk(sdk: dict[str, list[captures.CapturedRequest]], scenario: str, build: Any) -> None:
    captured = sdk[scenario][0]
    request: ApiRequest = build()
    query = "&".join(f"{k}={v}" for k, v in request.params.items())
    assert request.method == captured.method
    assert request.path + (f"?{query}" if query else "") == captured.path
    assert request.json is None


def test_download_path_matches_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["files.get + files.download"][1]
    request = gemini.build_file_download(SETTINGS, "files/batch-abc")
    assert f"{request.path}?alt={request.params['alt']}" == captured.path


def test_upload_start_headers_match_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["files.upload (BytesIO)"][0]
    request = gemini.build_upload_start(SETTINGS, 64, "jsonl", "in.jsonl")
    assert request.path == captured.path
    for header in ("X-Goog-Upload-Protocol", "X-Goog-Upload-Command", "X-Goog-Upload-Header-Content-Length"):
        assert request.headers[header] == captured.headers[header]
    assert camel_deep(request.json) == camel_deep(
        {**captured.body, "file": {**captured.body["file"], "size_bytes": "64"}}
    )


def test_default_version_is_v1beta_and_v1_can_be_chosen() -> None:
    # The SDK 3.x default is v1; we keep v1beta on purpose (docs/SDK_PARITY.md, "Defaults").
    settings = ClientSettings(backend="gemini", api_key="k")
    assert gemini.build_get(settings, "batches/x").url == "https://generativelanguage.googleapis.com/v1beta/batches/x"
    v1 = ClientSettings(backend="gemini", api_key="k", api_version="v1")
    assert gemini.build_get(v1, "batches/x").url == "https://generativelanguage.googleapis.com/v1/batches/x"


PENDING = {
    "name": "batches/leg9wy9p5df66syjxke2eq4xfjqcwp47ejv3",
    "metadata": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": "models/gemini-2.5-flash",
        "displayName": "my batch name",
        "inputConfig": {"fileName": "files/frh6ua11nk3o"},
        "createTime": "2026-01-06T11:09:11.943530657Z",
        "updateTime": "2026-01-06T11:09:11.943530657Z",
        "batchStats": {"requestCount": "2", "pendingRequestCount": "2"},
        "state": "BATCH_STATE_PENDING",
        "name": "batches/leg9wy9p5df66syjxke2eq4xfjqcwp47ejv3",
    },
}

SUCCEEDED_FILE = {
    "name": "batches/3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge",
    "metadata": {
        "model": "models/gemini-3.5-flash-lite",
        "displayName": "lupa-batch",
        "inputConfig": {"fileName": "files/voe5u4gdj968"},
        "output": {"responsesFile": "files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"},
        "createTime": "2026-08-20T20:08:31.015405218Z",
        "endTime": "2026-08-20T20:10:25.852081585Z",
        "batchStats": {"requestCount": "9", "successfulRequestCount": "9"},
        "state": "BATCH_STATE_SUCCEEDED",
    },
    "done": True,
    "response": {"responsesFile": "files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"},
}

INLINE_OUTPUT = {
    "inlinedResponses": {
        "inlinedResponses": [
            {
                "response": {"candidates": [{"content": {"parts": [{"text": "2"}], "role": "model"}}]},
                "metadata": {"key": "request-1"},
            },
            {"error": {"code": 3, "message": "bad"}, "metadata": {"key": "request-2"}},
        ]
    }
}


def test_parse_pending_with_nanoseconds() -> None:
    job = gemini.parse_job(PENDING)
    assert job.state is JobState.PENDING
    assert job.display_name == "my batch name"
    assert job.src is not None and job.src.file_name == "files/frh6ua11nk3o"
    assert job.request_counts.total == 2 and job.request_counts.pending == 2
    assert job.create_time is not None and job.create_time.microsecond == 943530
    assert not job.done


def test_parse_succeeded_file_output() -> None:
    job = gemini.parse_job(SUCCEEDED_FILE)
    assert job.state is JobState.SUCCEEDED and job.done
    assert job.dest is not None and job.dest.file_name == "files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"
    assert job.request_counts.succeeded == 9 and job.request_counts.percent == 100.0


def test_parse_inline_output_from_metadata_or_response() -> None:
    base = {"name": "batches/inl", "metadata": {"state": "BATCH_STATE_SUCCEEDED", "output": INLINE_OUTPUT}}
    from_metadata = gemini.parse_job(base)
    from_response = gemini.parse_job(
        {"name": "batches/inl", "metadata": {"state": "BATCH_STATE_SUCCEEDED"}, "response": INLINE_OUTPUT}
    )
    for job in (from_metadata, from_response):
        assert job.dest is not None and job.dest.inlined_responses is not None
        first, second = job.dest.inlined_responses
        assert first.metadata == {"key": "request-1"}
        assert second.error is not None and second.error.message == "bad"


def test_parse_embedding_output_goes_to_embed_responses() -> None:
    output = {"inlinedResponses": {"inlinedResponses": [{"response": {"embedding": {"values": [0.1, 0.2]}}}]}}
    job = gemini.parse_job({"name": "batches/e", "metadata": {"state": "BATCH_STATE_SUCCEEDED", "output": output}})
    assert job.dest is not None and job.dest.inlined_embed_content_responses is not None
    assert job.dest.inlined_responses is None


def test_unknown_fields_and_states_never_break_parsing() -> None:
    job = gemini.parse_job(
        {"name": "batches/x", "brandNew": 1, "metadata": {"state": "BATCH_STATE_TELEPORTING", "extra": {"a": 1}}}
    )
    assert job.state is JobState.UNSPECIFIED
    assert job.raw_state == "BATCH_STATE_TELEPORTING"
    assert not job.done


def test_list_parsing_and_page_token() -> None:
    jobs, token = gemini.parse_list({"operations": [PENDING, SUCCEEDED_FILE], "nextPageToken": "tok2"})
    assert [j.state for j in jobs] == [JobState.PENDING, JobState.SUCCEEDED]
    assert token == "tok2"
    assert gemini.parse_list({"operations": [], "nextPageToken": ""}) == ([], None)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("batches/abc123", "abc123"), ("abc123", "abc123"), ("batches/a-b_c", "a-b_c")],
)
def test_batch_names(name: str, expected: str) -> None:
    assert gemini.batch_id(name) == expected


@pytest.mark.parametrize(
    "name", ["", "batches/", "batches/a/b", "projects/p/locations/l/batchPredictionJobs/1", None, 42]
)
def test_bad_batch_names_name_the_field(name: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        gemini.build_get(SETTINGS, name)
    assert info.value.field == "name"


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gemini-2.5-flash", "models/gemini-2.5-flash"),
        ("models/gemini-2.5-flash", "models/gemini-2.5-flash"),
        ("tunedModels/abc", "tunedModels/abc"),
    ],
)
def test_model_paths(model: str, path: str) -> None:
    assert gemini.model_path(model) == path


@pytest.mark.parametrize("model", ["", "   ", "gemini 2.5", "../etc", "a?b", "a&b", "publishers/google/models/x"])
def test_bad_models(model: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        gemini.model_path(model)
    assert info.value.field == "model"
