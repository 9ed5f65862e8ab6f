"""Console URLs of jobs."""

from __future__ import annotations

from airflow_provider_genai_batch.links.urls import AI_STUDIO_BATCHES_URL, VERTEX_BATCH_LIST_URL, console_url


def test_vertex_url_is_read_from_the_job_name() -> None:
    url = console_url("vertex", "projects/my-proj/locations/europe-west4/batchPredictionJobs/123")
    assert url == (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/batch-predictions/123?project=my-proj"
    )


def test_vertex_short_name_uses_settings() -> None:
    url = console_url("vertex", "batchPredictionJobs/9", project="p", location="us-central1")
    assert url.endswith("/locations/us-central1/batch-predictions/9?project=p")


def test_vertex_without_project_falls_back_to_the_list() -> None:
    assert console_url("vertex", "batchPredictionJobs/9") == VERTEX_BATCH_LIST_URL


def test_gemini_links_to_ai_studio() -> None:
    assert console_url("gemini", "batches/abc") == AI_STUDIO_BATCHES_URL


def test_url_parts_are_quoted() -> None:
    url = console_url("vertex", "batchPredictionJobs/a b", project="p&x", location="us")
    assert " " not in url and "p%26x" in url
