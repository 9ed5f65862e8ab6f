"""Vertex wire mapping against the SDK's captured requests and the reference's response shapes."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.client.creation import create_plan, prepare_create
from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.models import JobState
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.wire import vertex
from airflow_provider_genai_batch.client.wire.common import ApiRequest

from . import captures

SETTINGS = ClientSettings(
    backend="vertex", project="my-proj", location="us-central1", access_token="FAKE_TOKEN", base_url="http://h"
)


@pytest.fixture(scope="module")
def sdk() -> dict[str, list[captures.CapturedRequest]]:
    # The captures use bucket "b", which GCS itself would refuse (3 characters at least) and so do we.
    return captures.load("vertex_3.3.0.log", replace={"gs://b/": "gs://bkt/"})


def create_request(src: Any, config: Any = None) -> ApiRequest:
    step = next(create_plan(SETTINGS, prepare_create(SETTINGS, model="gemini-2.5-flash", src=src, config=config)))
    assert isinstance(step, ApiRequest)
    return step


def without_display_name(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "displayName"}


def test_create_gcs_auto_dest_matches_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["vertex create gcs (auto dest)"][0]
    request = create_request("gs://bkt/in.jsonl")
    assert (request.method, request.path) == (captured.method, captured.path)
    assert request.json is not None
    assert request.json["displayName"].startswith("genai_batch_job_")
    assert without_display_name(request.json) == without_display_name(captured.body)


def test_create_bq_auto_dest_like_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["vertex create bq (auto dest)"][0]
    request = create_request("bq://proj.ds.tbl", {"display_name": "mine"})
    assert request.json is not None
    assert request.json["inputConfig"] == captured.body["inputConfig"]
    assert request.json["displayName"] == "mine"
    out = request.json["outputConfig"]["bigqueryDestination"]["outputUri"]
    assert out.startswith("bq://proj.ds.tbl_dest_")


def test_create_gcs_multi_explicit_dest_matches_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["vertex create gcs multi + explicit dest"][0]
    request = create_request(["gs://bkt/a.jsonl", "gs://bkt/b.jsonl"], {"display_name": "x", "dest": "gs://out/prefix"})
    assert request.json == captured.body


def test_create_gcs_to_bq_dest_matches_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["vertex create gcs -> bq dest string"][0]
    request = create_request("gs://bkt/in.jsonl", {"dest": "bq://p.d.t"})
    assert request.json is not None
    assert without_display_name(request.json) == without_display_name(captured.body)


def test_labels_are_sent() -> None:
    request = create_request("gs://bkt/in.jsonl", {"labels": {"genai-batch-key": "abc"}})
    assert request.json is not None and request.json["labels"] == {"genai-batch-key": "abc"}


def test_get_by_id_matches_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    captured = sdk["vertex get (numeric id)"][0]
    assert vertex.build_get(SETTINGS, "5798522612028014592").path == captured.path


def test_a_full_name_keeps_its_own_project_and_region(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    # The SDK rewrites another project's or region's name into the client's own (a 404 on the wrong
    # resource); we address the job the name names, on its region's host unless base_url is set.
    name = "projects/other/locations/europe-west4/batchPredictionJobs/42"
    assert sdk["vertex get (full name, other loc)"][0].path.startswith("/v1beta1/projects/my-proj/locations/us-")
    assert vertex.build_get(SETTINGS, name).url == f"http://h/v1beta1/{name}"
    regional = ClientSettings(backend="vertex", project="my-proj", location="us-central1", access_token="T")
    assert vertex.build_get(regional, name).url == f"https://europe-west4-aiplatform.googleapis.com/v1beta1/{name}"
    assert vertex.build_cancel(regional, name).url.endswith(f"{name}:cancel")
    assert vertex.build_delete(regional, name).url.startswith("https://europe-west4-aiplatform")
    assert vertex.build_get(regional, "42").url == (
        "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/my-proj/locations/us-central1/"
        "batchPredictionJobs/42"
    )


def test_list_cancel_delete_match_sdk(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    listing = vertex.build_list(SETTINGS, 2, "t2", "state=JOB_STATE_SUCCEEDED")
    assert listing.path == sdk["vertex list"][1].path.split("?")[0]
    assert listing.params == {"pageSize": "2", "pageToken": "t2", "filter": "state=JOB_STATE_SUCCEEDED"}
    assert vertex.build_cancel(SETTINGS, "5798522612028014592").path == sdk["vertex cancel"][0].path
    assert vertex.build_delete(SETTINGS, "5798522612028014592").path == sdk["vertex delete"][0].path


def test_express_mode_has_no_project_prefix(sdk: dict[str, list[captures.CapturedRequest]]) -> None:
    express = ClientSettings(backend="vertex", api_key="VKEY", base_url="http://h")
    assert express.express_mode
    assert vertex.build_get(express, "42").path == sdk["vertex express mode get"][0].path


JOB = {
    "name": "projects/123456/locations/us-central1/batchPredictionJobs/5798522612028014592",
    "displayName": "genai_batch_job_x",
    "model": "projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash",
    "modelVersionId": "1",
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}},
    "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://b/in/dest"}},
    "state": "JOB_STATE_PARTIALLY_SUCCEEDED",
    "completionStats": {"successfulCount": "2", "failedCount": "1", "incompleteCount": "0"},
    "outputInfo": {"gcsOutputDirectory": "gs://b/in/dest/prediction-model-2025-01-01T00:00:00.123456Z"},
    "createTime": "2025-01-01T00:00:00.123456Z",
    "startTime": "2025-01-01T00:00:30Z",
    "endTime": "2025-01-01T00:10:00Z",
    "labels": {"genai-batch-key": "k"},
    "error": {"code": 3, "message": "one row failed", "details": [{"@type": "x"}]},
}


def test_parse_job() -> None:
    job = vertex.parse_job(JOB)
    assert job.state is JobState.PARTIALLY_SUCCEEDED and job.done  # terminal, unlike the SDK's job.done
    assert job.src is not None and job.src.gcs_uri == ["gs://b/in.jsonl"]
    assert job.dest is not None and job.dest.gcs_uri == "gs://b/in/dest"
    assert job.request_counts.total == 3 and job.request_counts.failed == 1
    assert job.output_info is not None and job.output_info.gcs_output_directory.endswith("123456Z")  # type: ignore[union-attr]
    assert job.labels == {"genai-batch-key": "k"}
    assert job.error is not None and job.error.message == "one row failed"  # object details do not break us
    assert job.id == "5798522612028014592"


def test_parse_list() -> None:
    jobs, token = vertex.parse_list({"batchPredictionJobs": [JOB], "nextPageToken": "n"})
    assert len(jobs) == 1 and token == "n"


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gemini-2.5-flash", "publishers/google/models/gemini-2.5-flash"),
        ("meta/llama", "publishers/meta/models/llama"),
        ("projects/p/locations/l/models/m", "projects/p/locations/l/models/m"),
        ("publishers/google/models/x", "publishers/google/models/x"),
    ],
)
def test_model_paths(model: str, path: str) -> None:
    assert vertex.model_path(model) == path


@pytest.mark.parametrize("name", ["batches/abc", "abc", "", "projects/p/locations/l/batchPredictionJobs/x1"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        vertex.build_get(SETTINGS, name)
    assert info.value.field == "name"
