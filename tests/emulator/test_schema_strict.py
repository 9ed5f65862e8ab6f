"""The strict emulator rejects what Google rejects, for both backends: at create time (the whole request, 400 in
Google's error shape naming the field path) and in input files (that row fails, the batch goes on)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.client.errors import parse_row_status
from airflow_provider_genai_batch.emulator import EmulatorHandle

VERTEX = "/v1beta1/projects/p/locations/us-central1/batchPredictionJobs"
BEARER = {"Authorization": "Bearer token"}
REQ0 = "batch.input_config.requests.requests[0].request"
PROMPT = [{"parts": [{"text": "hello"}], "role": "user"}]


def _generate(**extra: Any) -> dict[str, Any]:
    return {"contents": PROMPT, **extra}


def _part(**part: Any) -> dict[str, Any]:
    return {"contents": [{"parts": [part]}]}


#: (kind of violation, a GenerateContentRequest with it, field path inside the request, Google's description).
BAD_REQUESTS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "unknown field",
        _generate(foo=1),
        "",
        'Invalid JSON payload received. Unknown name "foo"{at}: Cannot find field.',
    ),
    (
        "misspelt enum",
        _generate(generationConfig={"responseSchema": {"type": "object"}}),
        "generation_config.response_schema.type",
        "Invalid value at '{path}' ({enum}), \"object\"",
    ),
    ("wrong JSON type", _part(text=5), "contents[0].parts[0].text", "Invalid value at '{path}' (TYPE_STRING), 5"),
    (
        "non-base64 bytes",
        _part(inlineData={"mimeType": "image/png", "data": "not base64!"}),
        "contents[0].parts[0].inline_data.data",
        "Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for \"not base64!\"",
    ),
    (
        "two oneof members",
        _part(text="hi", fileData={"fileUri": "gs://b/x.png", "mimeType": "image/png"}),
        "contents[0].parts[0]",
        "Invalid value at '{path}' (oneof), oneof field 'data' is already set. Cannot set 'fileData'",
    ),
]
IDS = [case[0] for case in BAD_REQUESTS]
GEMINI_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.Type"


def _expected(template: str, prefix: str, path: str, enum: str) -> tuple[str, str]:
    """``(field, description)`` of the violation at ``path`` (inside a request found at ``prefix``)."""
    full = ".".join(p for p in (prefix, path) if p)
    if "Unknown name" in template:
        # An unknown name is reported at the object holding it.
        return full, template.format(at=f" at '{full}'" if full else "")
    return full, template.format(path=full, enum=enum)


def _google_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    return error


def _violation(error: dict[str, Any]) -> tuple[str, str]:
    (violation,) = error["details"][0]["fieldViolations"]
    assert error["message"] == violation["description"]
    return violation.get("field", ""), violation["description"]


@pytest.fixture
def http(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": emu.api_key}, timeout=10) as client:
        yield client


def _upload(http: httpx.Client, data: bytes) -> str:
    start = http.post(
        "/upload/v1beta/files",
        headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
        json={"file": {"mime_type": "jsonl"}},
    )
    final = httpx.post(
        start.headers["x-goog-upload-url"],
        content=data,
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
    )
    return str(final.json()["file"]["name"])


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


# --- Gemini ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "request_body", "path", "template"), BAD_REQUESTS, ids=IDS)
def test_gemini_create_rejects_each_kind_of_violation_naming_the_field(
    http: httpx.Client, emu: EmulatorHandle, kind: str, request_body: dict[str, Any], path: str, template: str
) -> None:
    good = {"request": _generate()}
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": request_body}, good]}}}}
    error = _google_error(http.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body))
    assert _violation(error) == _expected(template, REQ0, path, GEMINI_TYPE)
    assert emu.stats()["jobs_created"] == 0


def test_gemini_unknown_name_matches_google_wording_exactly(http: httpx.Client) -> None:
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": _generate(foo=1)}]}}}}
    error = _google_error(http.post("/v1/models/gemini-2.5-flash:batchGenerateContent", json=body))
    assert error["message"] == (
        "Invalid JSON payload received. Unknown name \"foo\" at 'batch.input_config.requests.requests[0].request': "
        "Cannot find field."
    )
    assert error["details"][0]["fieldViolations"] == [
        {"field": "batch.input_config.requests.requests[0].request", "description": error["message"]}
    ]


def test_gemini_envelope_and_embeddings_are_checked(http: httpx.Client) -> None:
    unknown_top = _google_error(http.post("/v1/models/m:batchGenerateContent", json={"batch": {}, "bach": {}}))
    assert _violation(unknown_top) == ("", 'Invalid JSON payload received. Unknown name "bach": Cannot find field.')
    embed = {"content": {"parts": [{"text": "x"}]}, "taskType": "RETRIEVAL_DOC"}
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": embed}]}}}}
    error = _google_error(http.post("/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent", json=body))
    assert _violation(error) == (
        f"{REQ0}.task_type",
        f"Invalid value at '{REQ0}.task_type' (type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), "
        '"RETRIEVAL_DOC"',
    )


def test_every_violation_is_listed(http: httpx.Client) -> None:
    requests = [{"request": case[1]} for case in BAD_REQUESTS]
    body = {"batch": {"inputConfig": {"requests": {"requests": requests}}}}
    error = _google_error(http.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body))
    fields = [v.get("field", "") for v in error["details"][0]["fieldViolations"]]
    assert fields == [
        _expected(template, f"batch.input_config.requests.requests[{i}].request", path, "")[0]
        for i, (_, _, path, template) in enumerate(BAD_REQUESTS)
    ]
    assert error["message"].count("\n") == len(BAD_REQUESTS) - 1


def test_gemini_file_lines_fail_one_by_one(http: httpx.Client, emu: EmulatorHandle) -> None:
    lines = [{"key": "good", "request": _generate(), "metadata": {"note": "extra top-level fields are echoed"}}]
    lines += [{"key": kind, "request": request} for kind, request, _, _ in BAD_REQUESTS]
    name = _upload(http, _jsonl(lines))
    created = http.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent", json={"batch": {"input_config": {"file_name": name}}}
    )
    assert created.status_code == 200, created.text
    emu.finish_job(created.json()["name"])
    done = http.get(f"/v1beta/{created.json()['name']}").json()
    assert done["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert done["metadata"]["batchStats"]["failedRequestCount"] == str(len(BAD_REQUESTS))
    results_file = done["response"]["responsesFile"]
    out = http.get(f"/download/v1beta/{results_file}:download", params={"alt": "media"})
    rows = {row["key"]: row for row in map(json.loads, out.text.splitlines())}
    assert rows["good"]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "echo: hello"
    for kind, _, path, template in BAD_REQUESTS:
        error = rows[kind]["error"]
        assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
        assert error["message"] == _expected(template, "", path, GEMINI_TYPE)[1], kind
        assert "response" not in rows[kind]


# --- Vertex ------------------------------------------------------------------------------------------------------


def _vertex_job(**changes: Any) -> dict[str, Any]:
    return {
        "displayName": "strict",
        "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://b/out"}},
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "field", "description"),
    [
        ({"foo": 1}, "", 'Invalid JSON payload received. Unknown name "foo": Cannot find field.'),
        (
            {"dedicatedResources": {"machineSpec": {"acceleratorType": "NVIDIA_TESLA_T5"}}},
            "dedicated_resources.machine_spec.accelerator_type",
            "Invalid value at 'dedicated_resources.machine_spec.accelerator_type' (TYPE_ENUM), \"NVIDIA_TESLA_T5\"",
        ),
        ({"displayName": 5}, "display_name", "Invalid value at 'display_name' (TYPE_STRING), 5"),
        (
            {"manualBatchTuningParameters": {"batchSize": "ten"}},
            "manual_batch_tuning_parameters.batch_size",
            "Invalid value at 'manual_batch_tuning_parameters.batch_size' (TYPE_INT32), \"ten\"",
        ),
        (
            {
                "inputConfig": {
                    "instancesFormat": "jsonl",
                    "gcsSource": {"uris": ["gs://b/in.jsonl"]},
                    "bigquerySource": {"inputUri": "bq://p.d.t"},
                }
            },
            "input_config",
            "Invalid value at 'input_config' (oneof), oneof field 'source' is already set. Cannot set 'bigquerySource'",
        ),
    ],
    ids=["unknown field", "misspelt enum", "wrong JSON type", "int32 as text", "two oneof members"],
)
def test_vertex_create_rejects_each_kind_of_violation_naming_the_field(
    http: httpx.Client, emu: EmulatorHandle, changes: dict[str, Any], field: str, description: str
) -> None:
    emu.put_object("b", "in.jsonl", _jsonl([{"request": _generate()}]))
    error = _google_error(http.post(VERTEX, json=_vertex_job(**changes), headers=BEARER))
    assert _violation(error) == (field, description)
    assert emu.stats()["jobs_created"] == 0


def test_vertex_gcs_lines_fail_one_by_one(http: httpx.Client, emu: EmulatorHandle) -> None:
    lines = [{"id": "good", "request": _generate(), "metadata": {"genai_batch_index": "0"}}]
    lines += [{"id": kind, "request": request} for kind, request, _, _ in BAD_REQUESTS]
    emu.put_object("b", "in.jsonl", _jsonl(lines))
    created = http.post(VERTEX, json=_vertex_job(), headers=BEARER)
    assert created.status_code == 200, created.text
    emu.finish_job(created.json()["name"])
    done = http.get(f"/v1beta1/{created.json()['name']}", headers=BEARER).json()
    assert done["state"] == "JOB_STATE_PARTIALLY_SUCCEEDED"
    assert done["completionStats"]["failedCount"] == str(len(BAD_REQUESTS))
    (shard,) = [n for n in emu.list_objects("b", "out/") if n.endswith(".jsonl")]
    rows = {row["id"]: row for row in map(json.loads, emu.get_object("b", shard).decode().splitlines())}
    assert rows["good"]["status"] == "" and rows["good"]["metadata"] == {"genai_batch_index": "0"}
    for kind, request, path, template in BAD_REQUESTS:
        # Vertex writes a failed row's error as text: "Bad Request: {"error": {...}}" (Google's failed example).
        assert parse_row_status(rows[kind]["status"]) == (
            400,
            "INVALID_ARGUMENT",
            _expected(template, "", path, "TYPE_ENUM")[1],
        ), kind
        assert rows[kind]["request"] == request and rows[kind]["response"] == {}


def test_vertex_bigquery_rows_fail_one_by_one(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.put_table(
        "bq://p.d.in",
        [{"n": 1, "request": json.dumps(_generate())}, {"n": 2, "request": _part(thought="yes")}],
    )
    job = _vertex_job(
        inputConfig={"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://p.d.in"}},
        outputConfig={"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": "bq://p.d.out"}},
    )
    created = http.post(VERTEX, json=job, headers=BEARER)
    assert created.status_code == 200, created.text
    emu.finish_job(created.json()["name"])
    rows = sorted(emu.get_table("bq://p.d.out"), key=lambda row: row["n"])
    assert rows[0]["status"] == ""
    assert (
        parse_row_status(rows[1]["status"])[2] == "Invalid value at 'contents[0].parts[0].thought' (TYPE_BOOL), \"yes\""
    )


# --- Leniency and what stays valid -------------------------------------------------------------------------------


def test_lenient_emulator_accepts_what_google_rejects(http: httpx.Client, emu: EmulatorHandle) -> None:
    assert emu.configure()["strict"] is True
    emu.configure(strict=False)
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": _generate(foo=1)}]}}}}
    assert http.post("/v1/models/m:batchGenerateContent", json=body).status_code == 200
    emu.put_object("b", "in.jsonl", _jsonl([{"request": _part(text=5)}]))
    created = http.post(VERTEX, json=_vertex_job(foo=1), headers=BEARER)
    assert created.status_code == 200, created.text


def test_valid_spellings_and_proto3_json_forms_are_accepted(http: httpx.Client, emu: EmulatorHandle) -> None:
    request = {
        "contents": {
            "role": "user",
            "parts": [{"text": "one"}, {"inline_data": {"mime_type": "image/png", "data": "iVBORw-_"}}],
        },
        "system_instruction": {"parts": [{"text": "be terse"}]},
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": 3}],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {}}}]}],
        "generation_config": {
            "temperature": "0.5",
            "maxOutputTokens": "100",
            "responseJsonSchema": {"type": "object", "anything": ["goes", 1, None]},
            "thinkingConfig": {"include_thoughts": False, "thinking_budget": 0},
            "candidateCount": None,
        },
    }
    metadata = {"key": "a", "genai_batch_index": "0", "nested": {"any": [1, "JSON"]}}
    body = {
        "batch": {
            "display_name": "ok",
            "inputConfig": {"requests": {"requests": [{"request": request, "metadata": metadata}]}},
        }
    }
    response = http.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body)
    assert response.status_code == 200, response.text


def test_gemini_v1_is_checked_against_the_published_v1_messages(http: httpx.Client) -> None:
    """The published v1 ``GenerateContentRequest`` has no ``systemInstruction`` (public reports show Google's v1
    rejecting it); v1beta has it."""
    request = _generate(systemInstruction={"parts": [{"text": "be terse"}]})
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": request}]}}}}
    assert http.post("/v1beta/models/m:batchGenerateContent", json=body).status_code == 200
    error = _google_error(http.post("/v1/models/m:batchGenerateContent", json=body))
    assert _violation(error) == (
        REQ0,
        f"Invalid JSON payload received. Unknown name \"systemInstruction\" at '{REQ0}': Cannot find field.",
    )


def test_strict_can_be_turned_off_when_starting_the_emulator() -> None:
    from airflow_provider_genai_batch.emulator import run_emulator
    from airflow_provider_genai_batch.emulator.__main__ import _parser

    assert _parser().parse_args(["--lenient"]).lenient and not _parser().parse_args([]).lenient
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": _generate(foo=1)}]}}}}
    with run_emulator(api_key="k", strict=False) as lenient:
        assert lenient.configure()["strict"] is False
        created = httpx.post(
            f"{lenient.base_url}/v1/models/gemini-2.5-flash:batchGenerateContent",
            json=body,
            headers={"x-goog-api-key": "k"},
        )
        assert created.status_code == 200, created.text


def test_files_api_upload_metadata_is_checked(http: httpx.Client) -> None:
    headers = {"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"}
    sdk_style = {"file": {"mime_type": "jsonl", "display_name": "in", "size_bytes": "12"}}
    assert http.post("/upload/v1beta/files", headers=headers, json=sdk_style).status_code == 200
    typo = {"file": {"mimeType": "jsonl", "dispalyName": "in"}}
    error = _google_error(http.post("/upload/v1beta/files", headers=headers, json=typo))
    assert _violation(error) == (
        "file",
        "Invalid JSON payload received. Unknown name \"dispalyName\" at 'file': Cannot find field.",
    )
