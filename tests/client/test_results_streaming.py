"""Result streaming: bounded memory for hundreds of megabytes, resume after a dropped connection."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
from airflow_provider_genai_batch.client.models import BatchJob, BatchJobDestination, JobState
from airflow_provider_genai_batch.client.results import LineSplitter, parse_result_line

BASE = "http://gemini.test"
DOWNLOAD = f"{BASE}/v1beta/files/batch-big:download"
JOB = BatchJob(
    name="batches/big",
    backend="gemini",
    state=JobState.SUCCEEDED,
    dest=BatchJobDestination(file_name="files/batch-big"),
)
LINE_TEXT = "x" * 4000


def result_line(index: int) -> bytes:
    body = {"key": f"k{index}", "response": {"candidates": [{"content": {"parts": [{"text": LINE_TEXT}]}}]}}
    return json.dumps(body).encode() + b"\n"


def generated_body(lines: int, chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
    """Yield a large JSONL body lazily, in chunks that cut lines anywhere."""
    buffer = bytearray()
    for index in range(lines):
        buffer += result_line(index)
        while len(buffer) >= chunk_bytes:
            yield bytes(buffer[:chunk_bytes])
            del buffer[:chunk_bytes]
    if buffer:
        yield bytes(buffer)


@pytest.mark.slow
@respx.mock
def test_hundreds_of_megabytes_in_bounded_memory() -> None:
    lines = 64_000  # about 258 MB
    total_bytes = lines * len(result_line(0))
    assert total_bytes > 250_000_000
    respx.get(DOWNLOAD).mock(side_effect=lambda request: httpx.Response(200, content=generated_body(lines)))
    client = GenAIBatchClient(ClientSettings(backend="gemini", api_key="k", base_url=BASE))
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        count = 0
        last_key = None
        for result in client.batches.iter_results(JOB):
            count += 1
            last_key = result.key
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
    assert count == lines and last_key == f"k{lines - 1}"
    growth_mib = (peak - baseline) / 2**20
    assert growth_mib < 64, f"peak memory grew by {growth_mib:.1f} MiB"


@respx.mock
def test_dropped_connection_resumes_with_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    body = b"".join(result_line(i) for i in range(50))
    cut = len(body) // 3 + 17  # mid-line
    seen_ranges: list[str | None] = []

    def broken_then_ranged(request: httpx.Request) -> httpx.Response:
        seen_ranges.append(request.headers.get("range"))
        if len(seen_ranges) == 1:

            def first_part() -> Iterator[bytes]:
                yield body[:cut]
                raise httpx.ReadError("connection dropped")

            return httpx.Response(200, content=first_part())
        start = int(request.headers["range"].removeprefix("bytes=").rstrip("-"))
        return httpx.Response(206, content=body[start:])

    respx.get(DOWNLOAD).mock(side_effect=broken_then_ranged)
    with GenAIBatchClient(ClientSettings(backend="gemini", api_key="k", base_url=BASE)) as client:
        keys = [r.key for r in client.batches.iter_results(JOB)]
    assert keys == [f"k{i}" for i in range(50)]
    assert seen_ranges == [None, f"bytes={cut}-"]


@respx.mock
def test_server_ignoring_range_restarts_without_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda s: None)
    body = b"".join(result_line(i) for i in range(20))
    calls = 0

    def broken_then_full(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:

            def first_part() -> Iterator[bytes]:
                yield body[:1000]
                raise httpx.RemoteProtocolError("peer closed")

            return httpx.Response(200, content=first_part())
        return httpx.Response(200, content=body)  # ignores Range: the client must skip what it has

    respx.get(DOWNLOAD).mock(side_effect=broken_then_full)
    with GenAIBatchClient(ClientSettings(backend="gemini", api_key="k", base_url=BASE)) as client:
        keys = [r.key for r in client.batches.iter_results(JOB)]
    assert keys == [f"k{i}" for i in range(20)]


def test_line_splitter_handles_any_cut() -> None:
    data = b'{"a":1}\n{"b":2}\n\n{"c":3}'
    for size in range(1, len(data) + 1):
        splitter = LineSplitter()
        lines = []
        for start in range(0, len(data), size):
            lines += splitter.feed(data[start : start + size])
        lines += splitter.finish()
        assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_parse_vertex_and_gemini_lines() -> None:
    gemini_ok = parse_result_line(b'{"key":"a","response":{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}}', 0)
    assert gemini_ok.ok and gemini_ok.text == "hi" and gemini_ok.key == "a"
    gemini_error = parse_result_line(b'{"key":"b","error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}', 1)
    assert not gemini_error.ok and gemini_error.error is not None and gemini_error.error.code == 400
    vertex_ok = parse_result_line(b'{"status":"","request":{},"response":{"candidates":[]},"key":"c"}', 2)
    assert vertex_ok.ok and vertex_ok.error is None
    vertex_failed = parse_result_line(b'{"status":"Invalid request","request":{}}', 3)
    assert not vertex_failed.ok and vertex_failed.error is not None
    assert vertex_failed.error.message == "Invalid request"
    embedding = parse_result_line(b'{"key":"e","response":{"embedding":{"values":[0.5,0.25]}}}', 4)
    assert embedding.embedding == [0.5, 0.25]


def test_upload_of_a_large_file_keeps_memory_bounded(tmp_path: Path) -> None:
    """Sent chunks are not kept alive by httpx's request/response reference cycles until the next GC.

    A transport that consumes each body as a stream stands for the server (respx and ``httpx.MockTransport``
    read every body into its request object)."""
    import gc

    path = tmp_path / "big.jsonl"
    line = json.dumps({"key": "k", "request": {"contents": [{"parts": [{"text": "x" * 2000}]}]}}).encode() + b"\n"
    with path.open("wb") as out:
        for _ in range(160 * 1024 * 1024 // len(line)):
            out.write(line)
    size = path.stat().st_size
    received = 0

    class Server(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            return server(request)

    def server(request: httpx.Request) -> httpx.Response:
        nonlocal received
        if "upload_id" not in str(request.url):  # the start of the session
            return httpx.Response(200, headers={"x-goog-upload-url": f"{BASE}/upload-session?upload_id=1"})
        for part in request.stream:  # type: ignore[union-attr]
            received += len(part)
        final = "finalize" in request.headers["x-goog-upload-command"]
        headers = {"x-goog-upload-status": "final" if final else "active"}
        return httpx.Response(200, headers=headers, json={"file": {"name": "files/big"}} if final else {})

    gc.collect()
    gc.disable()  # the worst case: no collection while uploading
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        http = httpx.Client(transport=Server())
        settings = ClientSettings(backend="gemini", api_key="k", base_url=BASE)
        with GenAIBatchClient(settings, http_client=http) as client:
            uploaded = client.files.upload(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert uploaded.name == "files/big" and received == size
    growth_mib = (peak - baseline) / 2**20
    assert growth_mib < 64, f"peak memory grew by {growth_mib:.1f} MiB for a {size / 2**20:.0f} MiB upload"
