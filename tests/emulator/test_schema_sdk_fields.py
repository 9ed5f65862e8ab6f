"""The strict emulator takes the fields google-genai 3.3.0 sends beyond Google's published protos, as the live APIs
take them, and rejects them where public reports show Google rejecting them (docs/SDK_PARITY.md, "Fields the SDK
sends"). Every request here is built by the official SDK itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import types

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
from airflow_provider_genai_batch.client.errors import parse_row_status
from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.client.recorder import Recorder, sdk_vertex_body
from tests.emulator.conftest import wait_done

MODEL = "gemini-2.5-flash"

#: GenerateContentConfig fields the Gemini API's published protos (google-ai-generativelanguage 0.12.1) lack.
GEMINI_CONFIGS: dict[str, dict[str, Any]] = {
    "service-tier-flex": {"service_tier": "flex"},
    "service-tier-priority-enum": {"service_tier": types.ServiceTier.PRIORITY},
    "labels": {"labels": {"team": "etl", "env": "prod"}},
    "store": {"store": False},
    "continuation-token": {"continuation_token": b"\x01\x02token"},
    "audio-transcription": {"audio_transcription_config": {"language_codes": ["en-US"]}},
    "together": {"service_tier": "flex", "labels": {"a": "b"}, "store": True, "temperature": 0},
}

#: Vertex AI: fields the SDK sends on the request, all in the aiplatform discovery document.
VERTEX_CONFIGS: dict[str, dict[str, Any]] = {
    "model-armor": {"model_armor_config": {"prompt_template_name": "projects/p/locations/l/templates/t"}},
    "output-config": {"generation_output_config": {"output_uri_prefix": "gs://b/out"}},
    "continuation-token": {"continuation_token": b"\x00token"},
    "audio-transcription": {"audio_transcription_config": {"language_codes": ["en-US"]}},
    "labels": {"labels": {"team": "etl"}},
}


@pytest.fixture(scope="module")
def rec() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


@pytest.mark.parametrize("config", list(GEMINI_CONFIGS.values()), ids=list(GEMINI_CONFIGS))
def test_gemini_batch_the_sdk_builds_with_each_field_is_accepted_and_runs(
    gemini: genai.Client, config: dict[str, Any]
) -> None:
    job = gemini.batches.create(model=MODEL, src=[{"contents": "hello there", "config": config}])
    done = wait_done(lambda: gemini.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.inlined_responses is not None
    (answer,) = done.dest.inlined_responses
    assert answer.error is None and answer.response is not None
    assert answer.response.text == "echo: hello there"


def _create_inline(emu: EmulatorHandle, request: dict[str, Any], version: str = "v1beta") -> httpx.Response:
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": request}]}}}}
    return httpx.post(
        f"{emu.base_url}/{version}/models/{MODEL}:batchGenerateContent",
        json=body,
        headers={"x-goog-api-key": emu.api_key},
        timeout=10,
    )


@pytest.mark.parametrize(
    ("tier", "version"), [("FLEX", "v1beta"), ("fast", "v1beta"), ("SERVICE_TIER_FLEX", "v1"), ("Flex", "v1")]
)
def test_gemini_service_tier_outside_the_sdks_values_is_rejected(emu: EmulatorHandle, tier: str, version: str) -> None:
    # Upper-case 'FLEX' is reported rejected by the Gemini API (prism-php/prism#1002); the SDK sends lower case.
    response = _create_inline(emu, {"contents": [{"parts": [{"text": "x"}]}], "serviceTier": tier}, version)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == (
        "Invalid value at 'batch.input_config.requests.requests[0].request.service_tier' "
        f'(type.googleapis.com/google.ai.generativelanguage.{version}.ServiceTier), "{tier}"'
    )


def test_gemini_labels_values_must_be_strings(emu: EmulatorHandle) -> None:
    response = _create_inline(emu, {"contents": [{"parts": [{"text": "x"}]}], "labels": {"team": 1}})
    assert response.status_code == 400
    assert "request.labels[0].value' (TYPE_STRING), 1" in response.json()["error"]["message"]


def _put_lines(emu: EmulatorHandle, name: str, requests: list[dict[str, Any]]) -> str:
    data = "".join(json.dumps({"key": f"k{i}", "request": r}) + "\n" for i, r in enumerate(requests))
    emu.put_object("in-bucket", name, data.encode(), "application/jsonl")
    return f"gs://in-bucket/{name}"


def _rows(emu: EmulatorHandle, job: types.BatchJob) -> dict[str, dict[str, Any]]:
    assert job.output_info is not None and job.output_info.gcs_output_directory is not None
    prefix = job.output_info.gcs_output_directory.removeprefix("gs://in-bucket/")
    lines = emu.get_object("in-bucket", f"{prefix}/predictions.jsonl").splitlines()
    return {str(row["key"]): row for row in map(json.loads, lines)}


def test_vertex_lines_the_sdk_builds_with_each_field_succeed(
    vertex: genai.Client, emu: EmulatorHandle, rec: Recorder
) -> None:
    bodies = [
        sdk_vertex_body(rec, {"contents": f"prompt {i}", "config": c}) for i, c in enumerate(VERTEX_CONFIGS.values())
    ]
    assert bodies[0]["modelArmorConfig"] and bodies[1]["outputConfig"] and bodies[2]["continuationToken"]
    job = vertex.batches.create(model=MODEL, src=_put_lines(emu, "sdk/fields.jsonl", bodies))
    done = wait_done(lambda: vertex.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    rows = _rows(emu, done)
    assert [rows[f"k{i}"]["status"] for i in range(len(bodies))] == [""] * len(bodies)


def test_vertex_service_tier_as_the_sdk_sends_it_fails_its_row_as_google_answers(
    vertex: genai.Client, emu: EmulatorHandle, rec: Recorder
) -> None:
    # googleapis/python-genai#2433 and #2847, googleapis/java-genai#972: "flex" is a 400, SERVICE_TIER_FLEX passes.
    flex = sdk_vertex_body(rec, {"contents": "a", "config": {"service_tier": "flex"}})
    assert flex["serviceTier"] == "flex"
    named = {**sdk_vertex_body(rec, {"contents": "b"}), "serviceTier": "SERVICE_TIER_FLEX"}
    job = vertex.batches.create(model=MODEL, src=_put_lines(emu, "sdk/tier.jsonl", [flex, named]))
    done = wait_done(lambda: vertex.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED
    rows = _rows(emu, done)
    # Vertex writes a failed row's status as "Bad Request: " + the JSON error body (see parse_row_status).
    code, status, message = parse_row_status(rows["k0"]["status"])
    assert (code, status) == (400, "INVALID_ARGUMENT")
    assert (
        "Invalid value at 'service_tier' (type.googleapis.com/google.cloud.aiplatform.v1beta1.ServiceTier), \"flex\""
        in message
    )
    assert rows["k1"]["status"] == ""


def test_file_upload_from_a_path_with_its_file_name_header_is_accepted(
    gemini: genai.Client, emu: EmulatorHandle, tmp_path: Path
) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(b'{"key": "k", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n')
    theirs = gemini.files.upload(file=str(path), config={"mime_type": "jsonl"})  # sends X-Goog-Upload-File-Name
    assert theirs.size_bytes == path.stat().st_size
    settings = ClientSettings(backend="gemini", api_key=emu.api_key, base_url=emu.base_url, max_retries=0)
    with GenAIBatchClient(settings=settings) as client:
        ours = client.files.upload(path)
        assert ours.size_bytes == path.stat().st_size
        assert b"".join(client.files.download(name=ours.name or "")) == path.read_bytes()
