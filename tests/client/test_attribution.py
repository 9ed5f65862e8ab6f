"""Results are attributed to requests by the index stamp, never by position, on every path, against the emulator
returning results shuffled (as Google may). The emulator's answer is ``"echo: " + prompt``, so a result pinned on
the wrong input is visible."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client import (
    AsyncGenAIBatchClient,
    BatchJob,
    BatchResult,
    ClientSettings,
    GenAIBatchClient,
    InvalidInputError,
    InvalidResponseError,
    JobState,
)
from airflow_provider_genai_batch.client.creation import prepare_create
from airflow_provider_genai_batch.client.jsonl import request_line
from airflow_provider_genai_batch.client.results import Attribution, parse_result_line
from airflow_provider_genai_batch.client.sources import InlineSource
from airflow_provider_genai_batch.client.wire import gemini
from airflow_provider_genai_batch.client.wire.common import compact_json
from airflow_provider_genai_batch.client.wire.stamp import STAMP_KEY
from airflow_provider_genai_batch.emulator import embedding_values

MODEL = "gemini-2.5-flash"
N = 12


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from airflow_provider_genai_batch.emulator import run_emulator

    with run_emulator(api_key="attr-key-123456", pending_seconds=0.05, job_seconds=0.1) as handle:
        yield handle


@pytest.fixture
def emu(emulator: Any) -> Any:
    emulator.reset()
    return emulator


def gemini_client(emu: Any, **overrides: Any) -> GenAIBatchClient:
    return GenAIBatchClient(ClientSettings(backend="gemini", api_key=emu.api_key, base_url=emu.base_url, **overrides))


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


def wait(client: GenAIBatchClient, name: str) -> BatchJob:
    deadline = time.monotonic() + 30
    job = client.batches.get(name=name)
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.batches.get(name=name)
    assert job.state in (JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED), job
    return job


def user_metadata(i: int) -> dict[str, str] | None:
    """A mix: a key with other entries, other entries only, nothing at all."""
    if i % 3 == 0:
        return {"key": f"user-{i}", "source": f"row {i}", "lang": "en"}
    if i % 3 == 1:
        return {"source": f"row {i}"}
    return None


def requests(n: int = N, pad: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        item: dict[str, Any] = {"contents": f"prompt {i} " + "x" * pad}
        metadata = user_metadata(i)
        if metadata is not None:
            item["metadata"] = metadata
        out.append(item)
    return out


def assert_attributed(results: list[BatchResult], n: int = N, pad: int = 0) -> None:
    """Every result answers the input at its index and carries exactly that input's metadata and key."""
    assert sorted(r.index for r in results) == list(range(n))
    for r in results:
        assert r.text == f"echo: prompt {r.index} " + "x" * pad
        assert r.metadata == user_metadata(r.index)
        assert r.key == (user_metadata(r.index) or {}).get("key", str(r.index))
    # The emulator really did shuffle, so position-based attribution would have failed.
    assert [r.index for r in results] != list(range(n))


def test_gemini_inline_generation(emu: Any) -> None:
    with gemini_client(emu) as client:
        job = client.batches.create(model=MODEL, src=requests())
        assert job.src is None or job.src.file_name is None
        results = list(client.batches.iter_results(wait(client, job.name)))
    assert_attributed(results)


def test_gemini_inline_embeddings(emu: Any) -> None:
    texts = [f"text number {i}" for i in range(N)]
    with gemini_client(emu) as client:
        job = client.batches.create_embeddings(
            model="gemini-embedding-001", src={"contents": texts, "config": {"output_dimensionality": 4}}
        )
        results = list(client.batches.iter_results(wait(client, job.name)))
    assert sorted(r.index for r in results) == list(range(N))
    assert [r.index for r in results] != list(range(N))
    for r in results:
        assert r.embedding == embedding_values(texts[r.index], 4)
        assert r.key == str(r.index)
        assert r.metadata in (None, {"key": str(r.index)})  # no user metadata (an older source default at most)


def _stamped_size(src: list[dict[str, Any]]) -> int:
    settings = ClientSettings(backend="gemini", api_key="k")
    prepared = prepare_create(settings, model=MODEL, src=src, config=None)
    assert isinstance(prepared.source, InlineSource)
    return len(compact_json(gemini.inline_input(prepared.source.requests)))


@pytest.mark.parametrize("where", ["below", "at", "above"])
def test_gemini_metadata_is_whole_around_the_inline_limit(emu: Any, where: str) -> None:
    src = requests(pad=20)
    size = _stamped_size(src)
    limit = {"below": size + 1, "at": size, "above": size - 1}[where]
    with gemini_client(emu, inline_limit_bytes=limit) as client:
        job = client.batches.create(model=MODEL, src=src)
        uploaded = job.src is not None and job.src.file_name is not None
        assert uploaded is (where == "above")
        results = list(client.batches.iter_results(wait(client, job.name)))
    assert_attributed(results, pad=20)


def test_gemini_auto_uploaded_file_lines_carry_key_metadata_and_stamp(emu: Any) -> None:
    with gemini_client(emu, inline_limit_bytes=100) as client:
        job = client.batches.create(model=MODEL, src=requests())
        assert job.src is not None and job.src.file_name is not None
        uploaded = b"".join(client.files.download(name=job.src.file_name))
        done = wait(client, job.name)
        results = list(client.batches.iter_results(done))
    assert_attributed(results)
    lines = [json.loads(line) for line in uploaded.splitlines()]
    assert lines[3] == {
        "key": "user-3",
        "request": {"contents": [{"role": "user", "parts": [{"text": "prompt 3 "}]}]},
        "metadata": {"key": "user-3", "source": "row 3", "lang": "en", STAMP_KEY: "3"},
    }


def test_gemini_iterable_source(emu: Any) -> None:
    with gemini_client(emu) as client:
        job = client.batches.create(model=MODEL, src=(item for item in requests()))
        assert job.src is not None and job.src.file_name is not None
        results = list(client.batches.iter_results(wait(client, job.name)))
    assert_attributed(results)


def test_vertex_staged_inline_over_several_shards(emu: Any) -> None:
    emu.configure(vertex_shard_rows=5)
    with vertex_client(emu, gcs_staging_prefix="gs://stage-bucket/genai") as client:
        job = client.batches.create(model=MODEL, src=requests())
        done = wait(client, job.name)
        assert done.output_info is not None and done.output_info.gcs_output_directory
        directory = done.output_info.gcs_output_directory.removeprefix("gs://")
        bucket, _, prefix = directory.partition("/")
        assert len(emu.list_objects(bucket, prefix)) == 3
        results = list(client.batches.iter_results(done))
    assert_attributed(results)


async def test_async_client_attributes_too(emu: Any) -> None:
    import asyncio

    settings = ClientSettings(backend="gemini", api_key=emu.api_key, base_url=emu.base_url, inline_limit_bytes=100)
    async with AsyncGenAIBatchClient(settings) as client:
        job = await client.batches.create(model=MODEL, src=requests())
        while not job.done:
            await asyncio.sleep(0.05)
            job = await client.batches.get(name=job.name)
        results = [r async for r in client.batches.iter_results(job)]
    assert_attributed(results)


def _user_lines(n: int) -> bytes:
    """A user's own JSONL: keys, and metadata on even lines."""
    lines = []
    for i in range(n):
        line: dict[str, Any] = {
            "key": f"k{i}",
            "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]},
        }
        if i % 2 == 0:
            line["metadata"] = {"row": str(i)}
        lines.append(json.dumps(line) + "\n")
    return "".join(lines).encode()


def _assert_user_file_results(results: list[BatchResult], n: int) -> None:
    """No stamp: numbered in reading order, each keeps its own key and metadata, and answers its own prompt."""
    assert [r.index for r in results] == list(range(n))
    assert sorted(r.key or "" for r in results) == sorted(f"k{i}" for i in range(n))
    for r in results:
        number = int((r.key or "")[1:])
        assert r.text == f"echo: q{number}"
        assert r.metadata == ({"row": str(number)} if number % 2 == 0 else None)


def test_gemini_user_supplied_jsonl_file_keeps_its_keys(emu: Any, tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_bytes(_user_lines(N))
    with gemini_client(emu) as client:
        job = client.batches.create(model=MODEL, src=path)
        results = list(client.batches.iter_results(wait(client, job.name)))
    assert path.read_bytes() == _user_lines(N)  # uploaded as given: no stamp
    _assert_user_file_results(results, N)


def test_vertex_user_supplied_gcs_objects_keep_their_keys(emu: Any) -> None:
    emu.put_object("in-bucket", "mine/in.jsonl", _user_lines(N))
    with vertex_client(emu) as client:
        job = client.batches.create(model=MODEL, src="gs://in-bucket/mine/in.jsonl", config={"dest": "gs://out/x"})
        results = list(client.batches.iter_results(wait(client, job.name)))
    _assert_user_file_results(results, N)


def test_vertex_user_supplied_local_jsonl_file_keeps_its_keys(emu: Any, tmp_path: Path) -> None:
    """A user's local file is staged as it is (no stamp), under a name the reader does not take for stamped input."""
    path = tmp_path / "mine.jsonl"
    path.write_bytes(_user_lines(N))
    with vertex_client(emu, gcs_staging_prefix="gs://stage-bucket/genai") as client:
        job = client.batches.create(model=MODEL, src=path)
        assert job.src is not None and job.src.gcs_uri and "/inputs/file-" in job.src.gcs_uri[0]
        results = list(client.batches.iter_results(wait(client, job.name)))
    _assert_user_file_results(results, N)


def _stamped_lines(stamps: list[str | None]) -> bytes:
    lines = []
    for i, stamp in enumerate(stamps):
        line: dict[str, Any] = {"request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}}
        if stamp is not None:
            line["metadata"] = {STAMP_KEY: stamp}
        lines.append(json.dumps(line) + "\n")
    return "".join(lines).encode()


@pytest.mark.parametrize(
    ("stamps", "problem"),
    [
        (["0", "1", None, "3"], "carries no metadata.genai_batch_index"),
        (["0", "1", "1", "3"], "whose result was already read"),
        (["0", "1", "7", "3"], "names request 7, but the job has 4 requests"),
        (["0", "1", "two", "3"], "not a request index"),
    ],
)
def test_a_stamped_job_with_a_bad_stamp_fails_loudly(emu: Any, tmp_path: Path, stamps: list[Any], problem: str) -> None:
    emu.configure(shuffle_results=False)  # the bad line is read after a stamped one
    path = tmp_path / "stamped.jsonl"
    path.write_bytes(_stamped_lines(stamps))
    with gemini_client(emu) as client:
        done = wait(client, client.batches.create(model=MODEL, src=path).name)
        with pytest.raises(InvalidResponseError, match=re.escape(problem)) as info:
            list(client.batches.iter_results(done))
    assert done.name in str(info.value) and "result 3" in str(info.value)


def test_a_stamp_after_an_unstamped_first_result_fails_loudly(emu: Any, tmp_path: Path) -> None:
    emu.configure(shuffle_results=False)
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(_stamped_lines([None, "1"]))
    with gemini_client(emu) as client:
        done = wait(client, client.batches.create(model=MODEL, src=path).name)
        with pytest.raises(InvalidResponseError, match="though the job's first result did not"):
            list(client.batches.iter_results(done))


def test_vertex_staged_input_whose_rows_lost_the_stamp_fails_loudly(emu: Any) -> None:
    """As if Vertex dropped the line's extra fields: the job reads an object we staged, so stamps are required."""
    data = b"".join(
        json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}}).encode() + b"\n"
        for i in range(3)
    )
    staged = f"genai/inputs/{hashlib.sha256(data).hexdigest()[:32]}.jsonl"
    emu.put_object("stage-bucket", staged, data)
    with vertex_client(emu) as client:
        done = wait(client, client.batches.create(model=MODEL, src=f"gs://stage-bucket/{staged}").name)
        with pytest.raises(InvalidResponseError, match=re.escape("result 1 carries no metadata.genai_batch_index")):
            list(client.batches.iter_results(done))


def test_vertex_rows_without_their_extra_fields_are_attributed_by_the_request_labels(emu: Any) -> None:
    """As if Vertex dropped the line's extra fields (``metadata``) but, as documented, repeated the ``request``:
    the stamp's copy in ``request.labels`` attributes every row; only the user's metadata is lost."""
    with vertex_client(emu, gcs_staging_prefix="gs://stage-bucket/genai") as client:
        job = client.batches.create(model=MODEL, src=requests())
        staged = job.src.gcs_uri[0] if job.src and job.src.gcs_uri else ""
        bucket, _, name = staged.removeprefix("gs://").partition("/")
        lines = [json.loads(line) for line in emu.get_object(bucket, name).splitlines()]
        assert [line["request"]["labels"][STAMP_KEY] for line in lines] == [str(i) for i in range(len(lines))]
        # The same staged object, its lines stripped of every top-level field but the request.
        emu.put_object(bucket, name, b"".join(json.dumps({"request": ln["request"]}).encode() + b"\n" for ln in lines))
        done = wait(client, client.batches.create(model=MODEL, src=staged).name)
        results = list(client.batches.iter_results(done))
    assert sorted(r.index for r in results) == list(range(len(lines)))
    for result in results:
        assert result.text == f"echo: prompt {result.index} "
        assert result.metadata is None


def test_reserved_metadata_key_is_rejected_before_any_request(emu: Any) -> None:
    src = [{"contents": "a"}, {"contents": "b", "metadata": {STAMP_KEY: "mine"}}]
    with gemini_client(emu) as client:
        with pytest.raises(InvalidInputError) as inline:
            client.batches.create(model=MODEL, src=src)
        with pytest.raises(InvalidInputError) as streamed:
            client.batches.create(model=MODEL, src=iter(src))
    for info in (inline, streamed):
        assert info.value.field == f"src[1].metadata.{STAMP_KEY}"
    assert emu.stats()["requests"] == {}


def test_request_line_keeps_metadata_and_stamps_without_touching_the_input() -> None:
    request = {"request": {"contents": []}, "metadata": {"key": "q", "topic": "t"}}
    assert json.loads(request_line(request, 4)) == {
        "key": "q",
        "request": {"contents": []},
        "metadata": {"key": "q", "topic": "t", STAMP_KEY: "4"},
    }
    assert request["metadata"] == {"key": "q", "topic": "t"}
    assert json.loads(request_line({"request": {"contents": []}}, 2)) == {
        "key": "2",
        "request": {"contents": []},
        "metadata": {STAMP_KEY: "2"},
    }


def test_parse_result_line_takes_the_index_from_the_stamp() -> None:
    stamped = parse_result_line(b'{"key":"q","metadata":{"key":"q","genai_batch_index":"7"},"response":{}}', 0)
    assert (stamped.index, stamped.key, stamped.metadata) == (7, "q", {"key": "q"})
    bare = parse_result_line(b'{"metadata":{"genai_batch_index":"5"},"status":"","response":{}}', 0)
    assert (bare.index, bare.key, bare.metadata) == (5, "5", None)
    unstamped = parse_result_line(b'{"key":"u","response":{}}', 3)
    assert (unstamped.index, unstamped.key, unstamped.metadata) == (3, "u", None)


def test_emulator_keeps_request_order_when_asked(emu: Any) -> None:
    emu.configure(shuffle_results=False)
    with gemini_client(emu) as client:
        job = client.batches.create(model=MODEL, src=requests())
        results = list(client.batches.iter_results(wait(client, job.name)))
    assert [r.index for r in results] == list(range(N))


def test_emulator_shuffle_option_over_the_control_http_api(emu: Any) -> None:
    from airflow_provider_genai_batch.emulator import EmulatorClient

    control = EmulatorClient(emu.base_url)
    assert control.configure()["shuffle_results"] is True
    assert control.configure(shuffle_results=False)["shuffle_results"] is False
    from airflow_provider_genai_batch.emulator import EmulatorError

    with pytest.raises(EmulatorError, match="shuffle_results"):
        control.configure(shuffle_results="yes")


def test_huge_stamps_cost_no_memory_and_duplicates_are_still_caught() -> None:
    attribution = Attribution()
    first = attribution.result(None, {STAMP_KEY: "900000000000"}, {}, None)
    assert (first.index, first.key) == (900000000000, "900000000000")
    assert attribution.result(None, {STAMP_KEY: 3}, {}, None).index == 3
    with pytest.raises(InvalidResponseError, match="already read"):
        attribution.result(None, {STAMP_KEY: "900000000000"}, {}, None)
