"""The emulator speaks the shapes Google's services really return (tests/client/real_responses/), and our client
handles them end to end over a real socket."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient, JobState, NotFoundError
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.emulator.__main__ import _parser
from airflow_provider_genai_batch.emulator.published_models import GEMINI_API_MODELS, VERTEX_PUBLISHER_MODELS

BODY = {
    "batch": {"inputConfig": {"requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "hi"}]}]}}]}}}
}


def gemini_client(emu: EmulatorHandle, max_retries: int = 3) -> GenAIBatchClient:
    return GenAIBatchClient(
        ClientSettings(backend="gemini", api_key=emu.api_key, base_url=emu.base_url, max_retries=max_retries)
    )


def test_a_listed_job_is_sparse_with_stale_counts_and_its_results_still_read(emu: EmulatorHandle) -> None:
    with gemini_client(emu) as client:
        created = client.batches.create(model="gemini-2.5-flash", src=[{"contents": "a"}, {"contents": "b"}])
        for _ in range(500):
            if client.batches.get(name=created.name).done:
                break
            time.sleep(0.02)
        (listed,) = list(client.batches.list())
        assert listed.state is JobState.SUCCEEDED and listed.dest is None  # no output in a list entry
        assert listed.batch_stats is not None and listed.batch_stats.pending_request_count == 2  # stale, as Google's
        assert (listed.request_counts.pending, listed.request_counts.percent) == (0, 100.0)  # the state wins
        results = sorted(client.batches.iter_results(listed), key=lambda r: r.index)
    assert [r.text for r in results] == ["echo: a", "echo: b"]
    assert emu.stats()["requests"]["gemini.batches.get"] >= 2  # iter_results read the job again


def test_vertex_reports_unknown_incomplete_count_while_running(emu: EmulatorHandle) -> None:
    emu.configure(pending_seconds=0.0, job_seconds=30.0)
    line = b'{"request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}}\n'
    emu.put_object("in-bucket", "in.jsonl", line)
    settings = ClientSettings(
        backend="vertex",
        project="p",
        location="us-central1",
        access_token="t",
        base_url=emu.base_url,
        storage_base_url=emu.base_url,
    )
    with GenAIBatchClient(settings) as client:
        job = client.batches.create(
            model="gemini-2.5-flash", src="gs://in-bucket/in.jsonl", config={"dest": "gs://in-bucket/out"}
        )
        job = client.batches.get(name=job.name)
    assert job.state is JobState.RUNNING
    assert job.completion_stats is not None and job.completion_stats.incomplete_count == -1
    counts = job.request_counts
    assert (counts.pending, counts.total, counts.percent) == (None, None, None)


def test_a_model_google_does_not_publish_is_not_found(emu: EmulatorHandle) -> None:
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": emu.api_key}) as http:
        missing = http.post("/v1beta/models/gemini-9-ultra:batchGenerateContent", json=BODY)
        assert missing.status_code == 404
        assert missing.json()["error"]["status"] == "NOT_FOUND"
        assert missing.json()["error"]["message"].startswith("models/gemini-9-ultra is not found for API version")
        vertex = http.post(
            "/v1/projects/p/locations/us-central1/batchPredictionJobs",
            headers={"authorization": "Bearer t"},
            json={
                "displayName": "d",
                "model": "publishers/google/models/gemini-9-ultra",
                "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}},
                "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://b/o"}},
            },
        )
        assert vertex.status_code == 404 and vertex.json()["error"]["status"] == "NOT_FOUND"
    with gemini_client(emu, max_retries=0) as client, pytest.raises(NotFoundError) as caught:
        client.batches.create(model="gemini-9-ultra", src=[{"contents": "hi"}])
    assert caught.value.google_status == "NOT_FOUND" and caught.value.status_code == 404


def test_new_models_are_accepted_when_configured_and_the_check_can_be_turned_off(emu: EmulatorHandle) -> None:
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": emu.api_key}) as http:
        url = "/v1beta/models/gemini-9-ultra:batchGenerateContent"
        emu.configure(extra_models=["gemini-9-ultra"])
        assert http.post(url, json=BODY).status_code == 200
        emu.configure(extra_models=[])
        assert http.post(url, json=BODY).status_code == 404
        emu.configure(check_models=False)
        assert http.post(url, json=BODY).status_code == 200
        assert http.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=BODY).status_code == 200
    args = _parser().parse_args(["--model", "gemini-9-ultra", "--model", "gemini-9-mini", "--any-model"])
    assert (args.model, args.any_model) == (["gemini-9-ultra", "gemini-9-mini"], True)


def test_the_published_lists_name_the_models_the_documentation_uses() -> None:
    assert {"gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001"} <= set(GEMINI_API_MODELS)
    assert {"gemini-2.5-flash", "text-embedding-005"} <= set(VERTEX_PUBLISHER_MODELS)


def test_a_quota_fault_carries_retry_info_and_the_client_waits_that_long(
    emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    test_thread, real_sleep = threading.get_ident(), time.sleep

    def record(seconds: float) -> None:
        if threading.get_ident() == test_thread:
            waits.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr("time.sleep", record)
    emu.add_fault("status", method="GET", path=r"/batches$", status=429, retry_delay=7)
    with gemini_client(emu) as client:
        assert list(client.batches.list()) == []
    assert waits == [7.0]
