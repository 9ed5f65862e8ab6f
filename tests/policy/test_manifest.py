"""The XCom manifest: small, JSON-able, results located, never the results themselves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_genai_batch.client.models import BatchJob
from airflow_provider_genai_batch.policy.manifest import BatchJobManifest, manifest_from_job


def job(**fields: Any) -> BatchJob:
    return BatchJob.model_validate({"name": "batches/abc", "state": "JOB_STATE_SUCCEEDED", **fields})


class TestManifest:
    def test_inline_results_are_counted_not_copied(self) -> None:
        responses = [{"response": {"candidates": [{"content": {"parts": [{"text": "x" * 1000}]}}]}}] * 50
        manifest = manifest_from_job(
            job(
                dest={"inlinedResponses": responses},
                batchStats={"requestCount": "50", "successfulRequestCount": "50"},
                model="models/gemini-2.5-flash",
            ),
            backend="gemini",
            console_url="https://aistudio.google.com/batches",
            idempotency_key="a" * 24,
        )
        data = manifest.to_xcom()
        assert data["results"] == {
            "kind": "inline",
            "inline_count": 50,
            "file_name": None,
            "gcs_output_directory": None,
            "bigquery_table": None,
        }
        assert data["request_counts"] == {"total": 50, "succeeded": 50, "failed": 0, "pending": 0}
        assert data["state"] == "JOB_STATE_SUCCEEDED"
        assert data["idempotency_key"] == "a" * 24
        assert data["reattached"] is False
        assert len(json.dumps(data)) < 1000
        assert "xxxx" not in json.dumps(data)

    def test_file_results(self) -> None:
        manifest = manifest_from_job(job(dest={"fileName": "files/out-1"}), backend="gemini")
        assert manifest.results.kind == "file"
        assert manifest.results.file_name == "files/out-1"

    def test_vertex_gcs_output(self) -> None:
        manifest = manifest_from_job(
            job(
                name="projects/p/locations/us-central1/batchPredictionJobs/1",
                outputInfo={"gcsOutputDirectory": "gs://b/out/prediction-1"},
                completionStats={"successfulCount": "3", "failedCount": "1"},
            ),
            backend="vertex",
        )
        assert manifest.results.kind == "gcs"
        assert manifest.results.gcs_output_directory == "gs://b/out/prediction-1"
        assert manifest.request_counts.failed == 1
        assert manifest.request_counts.total == 4

    @pytest.mark.parametrize(
        ("info", "expected"),
        [
            ({"bigqueryOutputDataset": "bq://p.d", "bigqueryOutputTable": "t"}, "bq://p.d.t"),
            ({"bigqueryOutputDataset": "p.d", "bigqueryOutputTable": "t"}, "bq://p.d.t"),
            ({"bigqueryOutputTable": "bq://p.d.t"}, "bq://p.d.t"),
        ],
    )
    def test_vertex_bigquery_output(self, info: dict[str, str], expected: str) -> None:
        manifest = manifest_from_job(job(outputInfo=info), backend="vertex")
        assert manifest.results.kind == "bigquery"
        assert manifest.results.bigquery_table == expected

    def test_destination_is_used_before_output_info_exists(self) -> None:
        manifest = manifest_from_job(job(state="JOB_STATE_RUNNING", dest={"gcsUri": "gs://b/out"}), backend="vertex")
        assert manifest.results.kind == "gcs"

    def test_no_results_yet(self) -> None:
        manifest = manifest_from_job(job(state="JOB_STATE_PENDING"), backend="gemini")
        assert manifest.results.kind == "none"

    def test_error_is_described(self) -> None:
        manifest = manifest_from_job(
            job(state="JOB_STATE_FAILED", error={"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}),
            backend="gemini",
        )
        assert manifest.error == "400 INVALID_ARGUMENT: bad"

    def test_round_trip_and_no_extra_fields(self) -> None:
        manifest = manifest_from_job(job(), backend="gemini", reattached=True)
        assert BatchJobManifest.model_validate(manifest.to_xcom()) == manifest
        with pytest.raises(ValueError):
            BatchJobManifest.model_validate({**manifest.to_xcom(), "results_data": []})
