"""Raw HTTP against the emulator for what the SDK never sends: auth variants, bad input, snake_case bodies, the
Operation shape while running, labels, and Google-style errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle

VERTEX = "/v1beta1/projects/p/locations/us-central1/batchPredictionJobs"
BEARER = {"Authorization": "Bearer token"}


@pytest.fixture
def http(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": emu.api_key}, timeout=10) as client:
        yield client


def _error(response: httpx.Response, code: int, status: str) -> str:
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "status"} <= set(body["error"])
    assert set(body["error"]) <= {"code", "message", "status", "details"}
    assert body["error"]["code"] == code and body["error"]["status"] == status
    return str(body["error"]["message"])


def _inline(*texts: str) -> dict[str, object]:
    requests = [{"request": {"contents": [{"parts": [{"text": t}]}]}} for t in texts]
    return {"batch": {"inputConfig": {"requests": {"requests": requests}}}}


def test_gemini_auth_variants(emu: EmulatorHandle) -> None:
    with httpx.Client(base_url=emu.base_url) as raw:
        assert "unregistered callers" in _error(raw.get("/v1beta/batches"), 401, "UNAUTHENTICATED")
        wrong = raw.get("/v1/batches", headers={"x-goog-api-key": "nope"})
        assert _error(wrong, 400, "INVALID_ARGUMENT") == "API key not valid. Please pass a valid API key."
        assert raw.get("/v1/batches", params={"key": emu.api_key}).status_code == 200
        _error(raw.get(VERTEX), 401, "UNAUTHENTICATED")
        _error(raw.get(VERTEX, headers={"Authorization": "Basic abc"}), 401, "UNAUTHENTICATED")
        assert raw.get(VERTEX, headers=BEARER).json() == {}
        assert raw.get("/storage/v1/b/bucket/o", headers=BEARER).json() == {"kind": "storage#objects"}
        _error(raw.get("/storage/v1/b/bucket/o"), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "batch: required"),
        ({"batch": {}}, "batch.inputConfig: required"),
        ({"batch": {"inputConfig": {}}}, "batch.inputConfig: exactly one of requests or fileName is required"),
        (
            {"batch": {"inputConfig": {"fileName": "files/x", "requests": {"requests": []}}}},
            "Invalid value at 'batch.input_config' (oneof), oneof field 'source' is already set. Cannot set 'requests'",
        ),
        ({"batch": {"inputConfig": {"requests": {"requests": []}}}}, "batch.inputConfig.requests.requests: must"),
        (
            {"batch": {"inputConfig": {"requests": {"requests": [{"request": {}}, {"metadata": {}}]}}}},
            "batch.inputConfig.requests.requests[1].request: required",
        ),
        ({"batch": {"inputConfig": {"fileName": "x"}}}, "batch.inputConfig.fileName: expected 'files/ID'"),
        (
            {"batch": {"displayName": 3, "inputConfig": {"fileName": "files/x"}}},
            "Invalid value at 'batch.display_name' (TYPE_STRING), 3",
        ),
    ],
)
def test_gemini_create_rejects_bad_input_naming_the_field(http: httpx.Client, body: object, field: str) -> None:
    response = http.post("/v1/models/gemini-2.5-flash:batchGenerateContent", json=body)
    assert _error(response, 400, "INVALID_ARGUMENT").startswith(field)


def test_invalid_json_and_unknown_routes(http: httpx.Client) -> None:
    bad = http.post("/v1/models/m:batchGenerateContent", content=b"{not json")
    assert _error(bad, 400, "INVALID_ARGUMENT").startswith("Invalid JSON payload received.")
    assert "PATCH /v1/batches/x" in _error(http.patch("/v1/batches/x"), 404, "NOT_FOUND")
    _error(http.get("/v2/nothing"), 404, "NOT_FOUND")
    _error(http.post("/v1/batches/unknown:cancel"), 404, "NOT_FOUND")
    _error(http.delete("/v1/files/unknown"), 404, "NOT_FOUND")


def test_gemini_operation_shape_through_the_life_cycle(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.add_outcome(pending_seconds=0, job_seconds=100)
    body = _inline("a", "b", "c", "EMULATOR_FAIL d")
    body["batch"]["input_config"] = body["batch"].pop("inputConfig")  # snake_case works too
    body["batch"]["display_name"] = "snake"
    created = http.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body).json()
    name = created["name"]
    assert created["metadata"]["state"] == "BATCH_STATE_RUNNING" and "done" not in created
    assert created["metadata"]["displayName"] == "snake"
    assert created["metadata"]["batchStats"] == {"requestCount": "4", "pendingRequestCount": "4"}
    emu.advance_clock(80)
    running = http.get(f"/v1beta/{name}").json()
    assert running["metadata"]["batchStats"] == {
        "requestCount": "4",
        "successfulRequestCount": "3",
        "pendingRequestCount": "1",
    }
    assert "output" not in running["metadata"] and "response" not in running
    emu.advance_clock(20)
    done = http.get(f"/v1/{name}").json()
    assert done["done"] is True and "error" not in done
    assert done["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert done["metadata"]["batchStats"] == {
        "requestCount": "4",
        "successfulRequestCount": "3",
        "failedRequestCount": "1",
    }
    assert done["response"]["@type"].endswith("GenerateContentBatchOutput")
    assert done["response"]["inlinedResponses"] == done["metadata"]["output"]["inlinedResponses"]
    assert done["metadata"]["model"] == "models/gemini-2.5-flash"
    cancel = http.post(f"/v1/{name}:cancel")
    assert "already ended" in _error(cancel, 400, "FAILED_PRECONDITION")


def test_metadata_values_come_back_as_strings(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.configure(pending_seconds=0, job_seconds=0)
    body = {
        "batch": {
            "inputConfig": {
                "requests": {
                    "requests": [{"request": {"contents": [{"parts": [{"text": "hi"}]}]}, "metadata": {"n": 5}}]
                }
            }
        }
    }
    name = http.post("/v1/models/m:batchGenerateContent", json=body).json()["name"]
    (element,) = http.get(f"/v1/{name}").json()["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert element["metadata"] == {"n": "5"}
    assert element["response"]["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi"


def _upload(http: httpx.Client, data: bytes) -> str:
    start = http.post(
        "/upload/v1beta/files",
        headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
        json={"file": {"mime_type": "jsonl"}},
    )
    url = start.headers["x-goog-upload-url"]
    final = httpx.post(
        url, content=data, headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    )
    return str(final.json()["file"]["name"])


def test_gemini_malformed_input_line_fails_the_job_naming_the_line(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.configure(pending_seconds=0, job_seconds=0)
    name = _upload(http, b'{"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}]}}\n{"key": "b"}\n')
    job = http.post("/v1/models/m:batchGenerateContent", json={"batch": {"inputConfig": {"fileName": name}}}).json()
    done = http.get(f"/v1/{job['name']}").json()
    assert done["metadata"]["state"] == "BATCH_STATE_FAILED" and done["done"] is True
    assert done["error"] == {"code": 3, "message": f'{name} line 2: expected a JSON object with a "request" object'}
    assert "output" not in done["metadata"]


def test_vertex_create_validation_and_labels(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.put_object("b", "in.jsonl", b'{"request": {"contents": [{"parts": [{"text": "x"}]}]}}\n')
    good = {
        "displayName": "labelled",
        "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"gcsSource": {"uris": ["gs://b/in.jsonl"]}},
        "outputConfig": {"gcsDestination": {"outputUriPrefix": "gs://b/out"}},
        "labels": {"team": "etl", "airflow-dag": "d1"},
    }
    for mutation, message in [
        ({"displayName": None}, "displayName: required"),
        ({"model": ""}, "model: required"),
        ({"inputConfig": {}}, "inputConfig: exactly one of gcsSource or bigquerySource"),
        ({"outputConfig": None}, "outputConfig: required"),
        (
            {"inputConfig": {"instancesFormat": "csv", "gcsSource": {"uris": ["gs://b/in.jsonl"]}}},
            "inputConfig.instancesFormat",
        ),
        ({"inputConfig": {"gcsSource": {"uris": ["s3://b/x"]}}}, "inputConfig.gcsSource.uris"),
        ({"inputConfig": {"bigquerySource": {"inputUri": "bq://p.d"}}}, "inputConfig.bigquerySource.inputUri"),
        ({"outputConfig": {"bigqueryDestination": {"outputUri": "gs://x"}}}, "outputConfig.bigqueryDestination"),
        ({"labels": {"a": 1}}, "Invalid value at 'labels[0].value' (TYPE_STRING), 1"),
    ]:
        response = http.post(VERTEX, json={**good, **mutation}, headers=BEARER)
        assert _error(response, 400, "INVALID_ARGUMENT").startswith(message), mutation

    created = http.post(VERTEX, json=good, headers=BEARER).json()
    assert created["labels"] == {"team": "etl", "airflow-dag": "d1"}
    assert created["inputConfig"]["instancesFormat"] == "jsonl"
    assert created["outputConfig"]["predictionsFormat"] == "jsonl"
    for query in ('labels.team="etl"', "labels.team=etl AND labels.airflow-dag=d1", 'displayName="labelled"'):
        listed = http.get(VERTEX, params={"filter": query}, headers=BEARER).json()
        assert [j["name"] for j in listed["batchPredictionJobs"]] == [created["name"]], query
    assert http.get(VERTEX, params={"filter": 'labels.team="ml"'}, headers=BEARER).json() == {}
    other_location = VERTEX.replace("us-central1", "europe-west4")
    assert http.get(other_location, headers=BEARER).json() == {}
    job_id = created["name"].rsplit("/", 1)[1]
    _error(http.get(f"{other_location}/{job_id}", headers=BEARER), 404, "NOT_FOUND")
    deleted = http.delete(f"/v1/projects/p/locations/us-central1/batchPredictionJobs/{job_id}", headers=BEARER)
    assert _error(deleted, 400, "FAILED_PRECONDITION")


def test_every_success_is_200(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.add_outcome("STUCK_PENDING")
    name = http.post("/v1/models/m:batchGenerateContent", json=_inline("x")).json()["name"]
    cancel = http.post(f"/v1/{name}:cancel")
    assert (cancel.status_code, cancel.json()) == (200, {})
    delete = http.delete(f"/v1/{name}")
    assert (delete.status_code, delete.json()) == (200, {})
    assert json.loads(http.get("/v1/files").content) == {}
