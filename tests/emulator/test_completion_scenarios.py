"""The emulator plays issue 22's scenarios over real sockets, driven over HTTP (``EmulatorClient``): chosen rows
failing with chosen errors in each backend's format, and expiry after some rows were processed (counted, no
results: Google writes none for an expired job)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_genai_batch.client import BatchJob, ClientSettings, GenAIBatchClient, JobState
from airflow_provider_genai_batch.emulator import EmulatorHandle, run_emulator
from airflow_provider_genai_batch.emulator.client import EmulatorClient
from airflow_provider_genai_batch.emulator.errors import EmulatorError

MODEL = "gemini-2.5-flash"
N = 8


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with run_emulator(api_key="scen-key-123456", pending_seconds=0.02, job_seconds=0.1) as handle:
        yield handle


@pytest.fixture
def control(emulator: EmulatorHandle) -> Iterator[EmulatorClient]:
    with EmulatorClient(emulator.base_url) as client:
        client.reset()
        client.configure(pending_seconds=0.02, job_seconds=0.1)
        yield client


def _client(emu: EmulatorHandle, backend: str) -> GenAIBatchClient:
    if backend == "gemini":
        return GenAIBatchClient(ClientSettings(backend="gemini", api_key=emu.api_key, base_url=emu.base_url))
    return GenAIBatchClient(
        ClientSettings(
            backend="vertex",
            project="p",
            location="us-central1",
            access_token="tok",
            base_url=emu.base_url,
            storage_base_url=emu.base_url,
        )
    )


def _src(backend: str) -> Any:
    requests = [{"contents": f"q{i}"} for i in range(N)]
    return requests if backend == "gemini" else "gs://scen/in.jsonl"


def _finish(client: GenAIBatchClient, job: BatchJob) -> BatchJob:
    for _ in range(400):
        job = client.batches.get(name=job.name)
        if job.state.is_terminal:
            return job
        time.sleep(0.02)
    raise AssertionError(f"{job.name} did not end")


def _put_input(control: EmulatorClient) -> None:
    lines = "".join(
        f'{{"request": {{"contents": [{{"role": "user", "parts": [{{"text": "q{i}"}}]}}]}}}}\n' for i in range(N)
    )
    control.put_object("scen", "in.jsonl", lines.encode())


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_chosen_rows_fail_with_chosen_errors(emulator: EmulatorHandle, control: EmulatorClient, backend: str) -> None:
    _put_input(control)
    control.add_outcome(failed_requests={3: 429, 5: [500, "backend fell over"], 7: 400})
    with _client(emulator, backend) as client:
        job = _finish(client, client.batches.create(model=MODEL, src=_src(backend)))
        results = sorted(client.batches.iter_results(job), key=lambda r: r.index)
    assert [r.index for r in results] == list(range(N))
    errors = {r.index: (r.error.code, r.error.status) for r in results if r.error is not None}
    assert errors == {3: (429, "RESOURCE_EXHAUSTED"), 5: (500, "INTERNAL"), 7: (400, "INVALID_ARGUMENT")}
    assert results[5].error is not None and results[5].error.message == "backend fell over"
    assert all(r.ok for r in results if r.index not in errors)
    expected = JobState.SUCCEEDED if backend == "gemini" else JobState.PARTIALLY_SUCCEEDED
    assert job.state == expected
    assert job.request_counts.failed == 3


def test_vertex_rows_carry_reason_phrases(emulator: EmulatorHandle, control: EmulatorClient) -> None:
    _put_input(control)
    control.add_outcome(failed_requests=[(1, 429), (2, 500), (4, 503, "later")])
    with _client(emulator, "vertex") as client:
        job = _finish(client, client.batches.create(model=MODEL, src=_src("vertex")))
    directory = job.output_info.gcs_output_directory if job.output_info else None
    assert directory
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    raw = emulator.get_object(bucket, f"{prefix}/predictions.jsonl").decode()
    rows = [json.loads(line) for line in raw.splitlines()]
    failed = [row for row in rows if row["status"]]
    assert sorted(row["status"].split(": {")[0] for row in failed) == [
        "Internal Server Error",
        "Service Unavailable",
        "Too Many Requests",
    ]
    assert all(row["response"] == {} for row in failed)


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_expired_after_some_rows_counts_them_and_writes_nothing(
    emulator: EmulatorHandle, control: EmulatorClient, backend: str
) -> None:
    _put_input(control)
    control.add_outcome("EXPIRED", expired_done=5)
    with _client(emulator, backend) as client:
        job = _finish(client, client.batches.create(model=MODEL, src=_src(backend)))
    assert job.state == JobState.EXPIRED
    assert (job.request_counts.succeeded, job.request_counts.pending) == (5, N - 5)
    assert job.output_info is None or not job.output_info.gcs_output_directory


def test_plain_indices_still_fail_with_400(emulator: EmulatorHandle, control: EmulatorClient) -> None:
    control.add_outcome(failed_requests=[2])
    with _client(emulator, "gemini") as client:
        job = _finish(client, client.batches.create(model=MODEL, src=_src("gemini")))
        failed = [r for r in client.batches.iter_results(job) if r.error is not None]
    assert [(r.index, r.error.code if r.error else None) for r in failed] == [(2, 400)]


@pytest.mark.parametrize(
    "bad",
    [{"failed_requests": {"x": 429}}, {"failed_requests": {1: 200}}, {"failed_requests": [[1]]}, {"expired_done": 2}],
)
def test_bad_scenarios_are_refused(control: EmulatorClient, bad: dict[str, Any]) -> None:
    with pytest.raises(EmulatorError) as caught:
        control.add_outcome(**bad)
    assert caught.value.code == 400
