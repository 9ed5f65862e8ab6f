"""The client against the emulator over real HTTP: every verb, every source kind, both backends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client import (
    APIConnectionError,
    AsyncGenAIBatchClient,
    AuthenticationError,
    BadRequestError,
    BatchJob,
    ClientSettings,
    GenAIBatchClient,
    InvalidInputError,
    JobState,
    NotFoundError,
    results_location,
)

MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_genai_batch.emulator import run_emulator

    with run_emulator(api_key="emu-key-123456", pending_seconds=0.05, job_seconds=0.2) as handle:
        yield handle


@pytest.fixture
def emu(emulator: Any) -> Any:
    emulator.reset()
    return emulator


def gemini_client(emu: Any, **overrides: Any) -> GenAIBatchClient:
    settings = ClientSettings(backend="gemini", api_key=emu.api_key, base_url=emu.base_url, **overrides)
    return GenAIBatchClient(settings)


def vertex_client(emu: Any, **overrides: Any) -> GenAIBatchClient:
    settings = ClientSettings(
        backend="vertex",
        project="proj-1",
        location="us-central1",
        access_token="emulator-token",
        base_url=emu.base_url,
        storage_base_url=emu.base_url,
        **overrides,
    )
    return GenAIBatchClient(settings)


def wait(client: GenAIBatchClient, name: str, limit: float = 20.0) -> BatchJob:
    deadline = time.monotonic() + limit
    while True:
        job = client.batches.get(name=name)
        if job.done or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def jsonl(path: Path, prompts: list[str]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": p}]}]}}) + "\n"
            for i, p in enumerate(prompts)
        )
    )
    return path


def test_gemini_inline_lifecycle(emu: Any) -> None:
    with gemini_client(emu) as client:
        job = client.batches.create(
            model=MODEL,
            src=[{"contents": "one two", "metadata": {"key": "a"}}, {"contents": "three", "metadata": {"key": "b"}}],
            config={"display_name": "inline-test"},
        )
        assert job.name.startswith("batches/") and job.display_name == "inline-test"
        assert job.state in (JobState.PENDING, JobState.RUNNING)
        done = wait(client, job.name)
        assert done.state is JobState.SUCCEEDED
        assert done.request_counts.total == 2 and done.request_counts.succeeded == 2
        results = sorted(client.batches.iter_results(done), key=lambda r: r.index)  # the service's order is any
    assert [r.key for r in results] == ["a", "b"]
    assert all(r.ok and r.text for r in results)
    assert results[0].text is not None and "one two" in results[0].text
    assert results_location(done).kind == "inline"


def test_gemini_local_file_is_uploaded_and_results_streamed(emu: Any, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "in.jsonl", [f"prompt number {i}" for i in range(30)])
    with gemini_client(emu, upload_chunk_bytes=256) as client:  # many chunks
        job = client.batches.create(model=MODEL, src=path)
        assert job.src is not None and job.src.file_name and job.src.file_name.startswith("files/")
        done = wait(client, job.name)
        assert done.state is JobState.SUCCEEDED
        location = results_location(done)
        assert location.kind == "file"
        results = list(client.batches.iter_results(done))
    # The user's own file carries no stamp: results keep its keys, in the order the service wrote them.
    assert sorted(r.key or "" for r in results) == sorted(f"k{i}" for i in range(30))
    assert all(r.ok and r.text == f"echo: prompt number {(r.key or '')[1:]}" for r in results)


def test_gemini_inline_over_limit_goes_through_files_api(emu: Any) -> None:
    with gemini_client(emu, inline_limit_bytes=200) as client:
        job = client.batches.create(model=MODEL, src=[f"long prompt {i} " * 5 for i in range(10)])
        assert job.src is not None and job.src.file_name is not None
        done = wait(client, job.name)
        results = sorted(client.batches.iter_results(done), key=lambda r: r.index)
        assert [r.key for r in results] == [str(i) for i in range(10)]


def test_gemini_iterator_source_streams_through_upload(emu: Any) -> None:
    with gemini_client(emu) as client:
        job = client.batches.create(model=MODEL, src=({"contents": f"p{i}"} for i in range(5)))
        done = wait(client, job.name)
        assert len(list(client.batches.iter_results(done))) == 5


def test_gemini_embeddings(emu: Any) -> None:
    with gemini_client(emu) as client:
        job = client.batches.create_embeddings(
            model="gemini-embedding-001", src={"contents": ["hello", "world"], "config": {"output_dimensionality": 4}}
        )
        done = wait(client, job.name)
        results = list(client.batches.iter_results(done))
    assert [len(r.embedding or []) for r in results] == [4, 4]


def test_gemini_list_pages_cancel_delete(emu: Any) -> None:
    emu.add_outcome(final_state="STUCK_PENDING", count=5)
    with gemini_client(emu) as client:
        names = [client.batches.create(model=MODEL, src=[f"x{i}"]).name for i in range(5)]
        listed = [job.name for job in client.batches.list(page_size=2)]
        assert sorted(listed) == sorted(names)
        client.batches.cancel(name=names[0])
        assert wait(client, names[0]).state is JobState.CANCELLED
        client.batches.delete(name=names[0])
        with pytest.raises(NotFoundError):
            client.batches.get(name=names[0])


def test_gemini_wrong_key_is_an_authentication_error_without_the_key(emu: Any) -> None:
    settings = ClientSettings(backend="gemini", api_key="wrong-key-abcdef", base_url=emu.base_url)
    with GenAIBatchClient(settings) as client, pytest.raises((AuthenticationError, BadRequestError)) as info:
        client.batches.get(name="batches/abc")
    assert "wrong-key-abcdef" not in str(info.value)
    assert info.value.status_code in (400, 401)


def test_create_applied_then_dropped_leaves_one_job_and_surfaces(emu: Any) -> None:
    emu.add_fault(kind="apply_then_drop", method="POST", path=r".*:batchGenerateContent$", count=1)
    with gemini_client(emu) as client:
        with pytest.raises(APIConnectionError) as info:
            client.batches.create(model=MODEL, src=["x"])
        assert info.value.request_sent
    assert emu.stats()["jobs_created"] == 1  # never re-sent blindly


def test_get_survives_transient_faults(emu: Any) -> None:
    with gemini_client(emu, retry_initial_delay=0.01) as client:
        job = client.batches.create(model=MODEL, src=["x"])
        emu.add_fault(kind="status", method="GET", path=r".*/batches/.*", status=503, count=2)
        emu.add_fault(kind="status", method="GET", path=r".*/batches/.*", status=429, retry_after=0, count=1)
        assert client.batches.get(name=job.name).name == job.name


def test_upload_resumes_after_a_dropped_chunk(emu: Any, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "in.jsonl", [f"prompt {i}" for i in range(40)])
    emu.add_fault(kind="drop", method="POST", path=r".*upload.*", count=1, skip=2)
    with gemini_client(emu, upload_chunk_bytes=512) as client:
        uploaded = client.files.upload(path, display_name="in.jsonl")
        data = b"".join(client.files.download(name=uploaded.name or ""))
    assert data == path.read_bytes()
    stats = emu.stats()
    assert stats["faults_fired"]["drop"] == 1
    assert stats["requests"]["files.upload.chunk"] > path.stat().st_size // 512  # the dropped chunk was re-sent


def test_vertex_gcs_to_gcs_with_shards(emu: Any) -> None:
    emu.configure(vertex_shard_rows=4)
    lines = "".join(
        json.dumps({"key": f"r{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}}) + "\n"
        for i in range(10)
    )
    emu.put_object("in-bucket", "batch/in.jsonl", lines.encode())
    with vertex_client(emu) as client:
        job = client.batches.create(
            model=MODEL, src="gs://in-bucket/batch/in.jsonl", config={"labels": {"team": "etl"}}
        )
        assert job.name.startswith("projects/proj-1/locations/us-central1/batchPredictionJobs/")
        assert job.labels == {"team": "etl"}
        done = wait(client, job.name)
        assert done.state is JobState.SUCCEEDED
        assert done.output_info is not None and done.output_info.gcs_output_directory
        results = list(client.batches.iter_results(done))
        filtered = list(client.batches.list(filter='labels.team="etl"'))
    assert sorted(r.key or "" for r in results) == sorted(f"r{i}" for i in range(10))
    assert [j.name for j in filtered] == [job.name]


def test_vertex_inline_requests_are_staged_to_gcs(emu: Any) -> None:
    with vertex_client(emu, gcs_staging_prefix="gs://stage-bucket/genai") as client:
        job = client.batches.create(model=MODEL, src=["alpha", "EMULATOR_FAIL beta"], config={"display_name": "st"})
        assert job.src is not None and job.src.gcs_uri and job.src.gcs_uri[0].startswith("gs://stage-bucket/genai/")
        done = wait(client, job.name)
        assert done.state is JobState.PARTIALLY_SUCCEEDED
        assert done.request_counts.failed == 1
        results = sorted(client.batches.iter_results(done), key=lambda r: r.key or "")
    assert [r.ok for r in results] == [True, False]


def test_vertex_bigquery_results_are_reported_not_read(emu: Any) -> None:
    emu.put_table("bq://proj-1.ds.requests", [{"request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}}])
    with vertex_client(emu) as client:
        job = client.batches.create(model=MODEL, src="bq://proj-1.ds.requests", config={"dest": "bq://proj-1.out"})
        done = wait(client, job.name)
        location = results_location(done)
        assert location.kind == "bigquery" and location.uri and location.uri.startswith("bq://proj-1.out.")
        with pytest.raises(InvalidInputError, match="BigQuery"):
            list(client.batches.iter_results(done))


def test_vertex_failed_job_keeps_its_error(emu: Any) -> None:
    emu.add_outcome(final_state="FAILED", error_message="quota gone")
    emu.put_object("in-bucket", "f.jsonl", b'{"request": {"contents": [{"parts": [{"text": "x"}]}]}}\n')
    with vertex_client(emu) as client:
        job = client.batches.create(model=MODEL, src="gs://in-bucket/f.jsonl")
        done = wait(client, job.name)
    assert done.state is JobState.FAILED
    assert done.error is not None and "quota gone" in (done.error.message or "")


async def test_async_client_end_to_end(emu: Any) -> None:
    settings = ClientSettings(backend="gemini", api_key=emu.api_key, base_url=emu.base_url)
    async with AsyncGenAIBatchClient(settings) as client:
        job = await client.batches.create(model=MODEL, src=["a", "b", "c"])
        for _ in range(400):
            job = await client.batches.get(name=job.name)
            if job.done:
                break
            import asyncio

            await asyncio.sleep(0.05)
        keys = sorted([r.key or "" async for r in client.batches.iter_results(job)])
        names = [j.name async for j in client.batches.list(page_size=1)]
    assert keys == ["0", "1", "2"] and job.name in names


def test_downloads_honour_range_for_resumes(emu: Any) -> None:
    import httpx

    data = bytes(range(256)) * 40
    emu.put_object("range-bucket", "obj.bin", data)
    with gemini_client(emu) as client:
        uploaded = client.files.upload(data, mime_type="application/octet-stream")
    urls = [
        (f"{emu.base_url}/storage/v1/b/range-bucket/o/obj.bin?alt=media", {"authorization": "Bearer t"}),
        (f"{emu.base_url}/v1beta/{uploaded.name}:download?alt=media", {"x-goog-api-key": emu.api_key}),
    ]
    for url, auth in urls:
        whole = httpx.get(url, headers=auth)
        tail = httpx.get(url, headers={**auth, "Range": "bytes=1000-"})
        middle = httpx.get(url, headers={**auth, "Range": "bytes=10-19"})
        beyond = httpx.get(url, headers={**auth, "Range": f"bytes={len(data)}-"})
        assert whole.status_code == 200 and whole.content == data
        assert tail.status_code == 206 and tail.content == data[1000:]
        assert tail.headers["content-range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
        assert middle.status_code == 206 and middle.content == data[10:20]
        assert beyond.status_code == 416
