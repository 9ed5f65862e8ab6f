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


def delete_object(emu: Any, bucket: str, name: str) -> None:
    """Delete a GCS object through the emulator's GCS JSON API (as a user removing an input would)."""
    import urllib.parse

    import httpx

    url = f"{emu.base_url}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}"
    response = httpx.delete(url, headers={"Authorization": "Bearer emulator-token"})
    assert response.status_code == 204, response.text


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


def _assert_user_file_results(results: list[BatchResult], n: int, attribution: str) -> None:
    """Each result is at its input position (``index`` = the line's position, whatever order the emulator
    returned them in), keeps its own key and metadata, and answers its own prompt."""
    assert sorted(r.index for r in results) == list(range(n))
    assert [r.index for r in results] != list(range(n))  # the emulator shuffled: arrival order would be wrong
    for r in results:
        assert r.key == f"k{r.index}"
        assert r.text == f"echo: q{r.index}"
        assert r.metadata == ({"row": str(r.index)} if r.index % 2 == 0 else None)
        assert r.attribution == attribution and r.in_input_order
        assert "attribution" not in r.to_json()


def test_gemini_user_supplied_jsonl_file_is_stamped_while_uploaded(emu: Any, tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_bytes(_user_lines(N))
    with gemini_client(emu) as client:
        job = client.batches.create(model=MODEL, src=path)
        assert job.src is not None and job.src.file_name is not None
        uploaded = b"".join(client.files.download(name=job.src.file_name))
        results = list(client.batches.iter_results(wait(client, job.name)))
    assert path.read_bytes() == _user_lines(N)  # the user's file is not changed
    lines = [json.loads(line) for line in uploaded.splitlines()]
    assert [line["metadata"][STAMP_KEY] for line in lines] == [str(i) for i in range(N)]
    assert lines[0]["metadata"] == {"row": "0", STAMP_KEY: "0"} and lines[1]["key"] == "k1"
    _assert_user_file_results(results, N, "stamp")


def test_vertex_user_supplied_gcs_object_is_matched_by_echoed_request(emu: Any) -> None:
    emu.put_object("in-bucket", "mine/in.jsonl", _user_lines(N))
    with vertex_client(emu) as client:
        job = client.batches.create(
            model=MODEL, src="gs://in-bucket/mine/in.jsonl", config={"dest": "gs://out-bucket/x"}
        )
        results = list(client.batches.iter_results(wait(client, job.name)))
    assert emu.get_object("in-bucket", "mine/in.jsonl") == _user_lines(N)  # never rewritten
    _assert_user_file_results(results, N, "request")


async def test_async_client_matches_a_gcs_object_by_echoed_request(emu: Any) -> None:
    import asyncio

    emu.put_object("in-bucket", "mine/in.jsonl", _user_lines(N))
    settings = ClientSettings(
        backend="vertex",
        project="proj-1",
        location="us-central1",
        access_token="emulator-token",
        base_url=emu.base_url,
        storage_base_url=emu.base_url,
    )
    async with AsyncGenAIBatchClient(settings) as client:
        job = await client.batches.create(
            model=MODEL, src="gs://in-bucket/mine/in.jsonl", config={"dest": "gs://out-bucket/x"}
        )
        while not job.done:
            await asyncio.sleep(0.05)
            job = await client.batches.get(name=job.name)
        results = [r async for r in client.batches.iter_results(job)]
    _assert_user_file_results(results, N, "request")


def test_vertex_user_supplied_local_jsonl_file_is_stamped_while_staged(emu: Any, tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_bytes(_user_lines(N))
    with vertex_client(emu, gcs_staging_prefix="gs://stage-bucket/genai") as client:
        job = client.batches.create(model=MODEL, src=path)
        staged = job.src.gcs_uri[0] if job.src and job.src.gcs_uri else ""
        assert re.fullmatch(r"gs://stage-bucket/genai/inputs/[0-9a-f]{32}\.jsonl", staged), staged
        results = list(client.batches.iter_results(wait(client, job.name)))
    bucket, _, name = staged.removeprefix("gs://").partition("/")
    lines = [json.loads(line) for line in emu.get_object(bucket, name).splitlines()]
    assert [line["metadata"][STAMP_KEY] for line in lines] == [str(i) for i in range(N)]
    assert all("labels" not in line["request"] for line in lines)
    _assert_user_file_results(results, N, "stamp")


def test_a_wildcard_input_is_numbered_across_its_objects_in_name_order(emu: Any) -> None:
    lines = _user_lines(N).splitlines(keepends=True)
    emu.put_object("in-bucket", "many/b.jsonl", b"".join(lines[5:]))
    emu.put_object("in-bucket", "many/a.jsonl", b"".join(lines[:5]) + b"\n")  # a blank line is not a request
    with vertex_client(emu) as client:
        job = client.batches.create(
            model=MODEL, src="gs://in-bucket/many/*.jsonl", config={"dest": "gs://out-bucket/x"}
        )
        results = list(client.batches.iter_results(wait(client, job.name)))
    _assert_user_file_results(results, N, "request")


def test_identical_requests_are_given_their_positions_in_input_order(emu: Any) -> None:
    same = {"request": {"contents": [{"role": "user", "parts": [{"text": "same"}]}]}}
    data = (
        b"".join(json.dumps({**same, "key": f"s{i}"} if i % 2 else {**same}).encode() + b"\n" for i in range(9))
        + json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": "other"}]}]}}).encode()
    )
    emu.put_object("in-bucket", "dup.jsonl", data)
    with vertex_client(emu) as client:
        job = client.batches.create(model=MODEL, src="gs://in-bucket/dup.jsonl", config={"dest": "gs://out-bucket/x"})
        results = list(client.batches.iter_results(wait(client, job.name)))
    assert sorted(r.index for r in results) == list(range(10))
    assert {r.index: r.text for r in results} == {i: "echo: same" for i in range(9)} | {9: "echo: other"}
    assert {r.attribution for r in results} == {"request"}


def test_rows_of_an_input_we_cannot_read_are_attributed_by_key_else_arrival(
    emu: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A job made elsewhere whose input object is gone: the user's key is what is left, and where a row has no
    key, arrival order; both say so, and arrival order is warned about."""
    data = _user_lines(4) + json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}}).encode()
    emu.put_object("in-bucket", "gone.jsonl", data)
    with vertex_client(emu) as client:
        done = wait(
            client,
            client.batches.create(
                model=MODEL, src="gs://in-bucket/gone.jsonl", config={"dest": "gs://out-bucket/x"}
            ).name,
        )
        delete_object(emu, "in-bucket", "gone.jsonl")
        with caplog.at_level("WARNING"):
            results = list(client.batches.iter_results(done))
    assert [r.index for r in results] == list(range(5))  # arrival order, and said to be
    by_kind = {r.key: r.attribution for r in results}
    assert by_kind == {"k0": "key", "k1": "key", "k2": "key", "k3": "key", None: "arrival"}
    lost = next(r for r in results if r.key is None)
    assert lost.to_json()["attribution"] == "arrival" and lost.to_json()["request"] == lost.request
    assert lost.request == {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING"]
    assert any("cannot be read again" in w for w in warnings)
    assert any("order they arrive" in w and done.name in w for w in warnings)


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
    with gemini_client(emu) as client:
        uploaded = client.files.upload(_stamped_lines(stamps))  # a file uploaded as it is, stamps and all
        done = wait(client, client.batches.create(model=MODEL, src=uploaded.name).name)
        with pytest.raises(InvalidResponseError, match=re.escape(problem)) as info:
            list(client.batches.iter_results(done))
    assert done.name in str(info.value) and "result 3" in str(info.value)


def test_a_stamp_after_an_unstamped_first_result_fails_loudly(emu: Any, tmp_path: Path) -> None:
    emu.configure(shuffle_results=False)
    with gemini_client(emu) as client:
        uploaded = client.files.upload(_stamped_lines([None, "1"]))
        done = wait(client, client.batches.create(model=MODEL, src=uploaded.name).name)
        with pytest.raises(InvalidResponseError, match="though the job's first result did not"):
            list(client.batches.iter_results(done))


def _stage_bare_lines(emu: Any, n: int) -> tuple[str, bytes]:
    """An object at a staged name (as if this client staged it) whose lines hold only the request, as if Vertex
    dropped every other top-level field."""
    data = b"".join(
        json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}}).encode() + b"\n"
        for i in range(n)
    )
    staged = f"genai/inputs/{hashlib.sha256(data).hexdigest()[:32]}.jsonl"
    emu.put_object("stage-bucket", staged, data)
    return staged, data


def test_vertex_staged_input_whose_rows_lost_the_stamp_is_matched_by_request(emu: Any) -> None:
    staged, _ = _stage_bare_lines(emu, N)
    with vertex_client(emu) as client:
        done = wait(client, client.batches.create(model=MODEL, src=f"gs://stage-bucket/{staged}").name)
        results = list(client.batches.iter_results(done))
    assert sorted(r.index for r in results) == list(range(N)) != [r.index for r in results]
    assert all(r.text == f"echo: q{r.index}" and r.attribution == "request" for r in results)


def test_vertex_staged_input_without_stamps_and_unreadable_fails_loudly(emu: Any) -> None:
    """The job says we stamped its requests (it reads an object we staged): with no stamp on its rows and no input
    to match them against, nothing may be guessed."""
    staged, _ = _stage_bare_lines(emu, 3)
    with vertex_client(emu) as client:
        done = wait(client, client.batches.create(model=MODEL, src=f"gs://stage-bucket/{staged}").name)
        delete_object(emu, "stage-bucket", staged)
        with pytest.raises(InvalidResponseError, match=re.escape("result 1 carries no metadata.genai_batch_index")):
            list(client.batches.iter_results(done))


def test_vertex_staged_requests_carry_no_label_and_rows_without_extra_fields_match_by_request(emu: Any) -> None:
    """No per-request label value is sent (Google advises against them: they land in billing data). As if Vertex
    dropped the line's extra fields (``metadata``) but, as documented, repeated the ``request``: every row is
    matched by its echoed request; only the user's metadata is lost."""
    with vertex_client(emu, gcs_staging_prefix="gs://stage-bucket/genai") as client:
        job = client.batches.create(model=MODEL, src=requests())
        staged = job.src.gcs_uri[0] if job.src and job.src.gcs_uri else ""
        bucket, _, name = staged.removeprefix("gs://").partition("/")
        lines = [json.loads(line) for line in emu.get_object(bucket, name).splitlines()]
        assert all("labels" not in line["request"] for line in lines)
        assert [line["metadata"][STAMP_KEY] for line in lines] == [str(i) for i in range(len(lines))]
        # The same staged object, its lines stripped of every top-level field but the request.
        emu.put_object(bucket, name, b"".join(json.dumps({"request": ln["request"]}).encode() + b"\n" for ln in lines))
        done = wait(client, client.batches.create(model=MODEL, src=staged).name)
        results = list(client.batches.iter_results(done))
    assert sorted(r.index for r in results) == list(range(len(lines)))
    for result in results:
        assert result.text == f"echo: prompt {result.index} "
        assert result.metadata is None and result.attribution == "request"


def test_rows_of_a_job_staged_with_label_stamps_are_still_attributed() -> None:
    """Jobs staged by earlier versions carried the stamp in request.labels: their rows stay attributed."""
    row = b'{"status":"","request":{"contents":[],"labels":{"genai_batch_index":"4"}},"response":{}}'
    result = parse_result_line(row, 0)
    assert (result.index, result.attribution) == (4, "stamp")


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


def test_a_local_file_already_stamped_at_its_positions_is_sent_as_it_is(emu: Any, tmp_path: Path) -> None:
    """A shard written by the provider's split carries its stamps already: kept; a stamp that is not the line's
    position is refused before any request."""
    good = tmp_path / "shard.jsonl"
    good.write_bytes(_stamped_lines(["0", "1", "2"]))
    with gemini_client(emu) as client:
        job = client.batches.create(model=MODEL, src=good)
        assert job.src is not None and job.src.file_name is not None
        assert (
            b"".join(client.files.download(name=job.src.file_name)).splitlines()
            == [json.dumps(json.loads(line), separators=(",", ":")).encode() for line in good.read_bytes().splitlines()]
            or b"".join(client.files.download(name=job.src.file_name)) == good.read_bytes()
        )
        bad = tmp_path / "bad.jsonl"
        bad.write_bytes(_stamped_lines(["0", "5"]))
        before = emu.stats()["requests"]
        with pytest.raises(InvalidInputError) as info:
            client.batches.create(model=MODEL, src=bad)
        assert emu.stats()["requests"] == before
    assert info.value.field == f"src line 2.metadata.{STAMP_KEY}"


def _gemini_inline_job(display_name: str, with_metadata: bool) -> BatchJob:
    """A Gemini inline job as the API returns it (the documented Operation shape), six results out of order."""
    order = [3, 0, 5, 1, 4, 2]
    responses = []
    for i in order:
        item: dict[str, Any] = {"response": {"candidates": [{"content": {"parts": [{"text": f"a{i}"}]}}]}}
        if with_metadata:
            item["metadata"] = {STAMP_KEY: str(i)}
        responses.append(item)
    body = {
        "name": "batches/inl",
        "metadata": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": "models/gemini-2.5-flash",
            "displayName": display_name,
            "batchStats": {"requestCount": "6", "successfulRequestCount": "6"},
            "state": "BATCH_STATE_SUCCEEDED",
            "name": "batches/inl",
            "output": {"inlinedResponses": {"inlinedResponses": responses}},
        },
        "done": True,
    }
    return gemini.parse_job(body)


def test_a_job_we_stamped_whose_results_lost_their_metadata_fails_instead_of_numbering_by_position() -> None:
    """Issue 20: "stamped" is decided from the job (an inline job named by the operators), not its first result."""
    from airflow_provider_genai_batch.client.results import inline_results

    job = _gemini_inline_job("nightly--gbk-0123456789abcdef", with_metadata=False)
    with pytest.raises(
        InvalidResponseError, match=re.escape("result 1 carries no metadata.genai_batch_index though the job")
    ):
        list(inline_results(job))
    stamped = list(inline_results(_gemini_inline_job("nightly--gbk-0123456789abcdef", with_metadata=True)))
    assert [(r.index, r.text, r.attribution) for r in stamped][:2] == [(3, "a3", "stamp"), (0, "a0", "stamp")]


def test_a_job_made_elsewhere_without_metadata_says_its_results_are_in_arrival_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_provider_genai_batch.client.results import inline_results

    with caplog.at_level("WARNING"):
        results = list(inline_results(_gemini_inline_job("made by another tool", with_metadata=False)))
    assert [r.index for r in results] == list(range(6))
    assert {r.attribution for r in results} == {"arrival"} and not results[0].in_input_order
    assert results[0].to_json()["attribution"] == "arrival"
    warned = [rec for rec in caplog.records if "order they arrive" in rec.getMessage()]
    assert len(warned) == 1 and "batches/inl" in warned[0].getMessage()  # once per read, not once per result


def test_request_digest_matches_what_vertex_echoes() -> None:
    """Vertex's documented output sample re-serialises the request (null members of the part oneof, camelCase);
    the request as a user or the SDK wrote it must give the same digest."""
    from airflow_provider_genai_batch.client.wire.stamp import request_digest

    sent = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "What is the relation between the following video and image samples?"},
                    {"file_data": {"file_uri": "gs://cloud-samples-data/video/animals.mp4", "mime_type": "video/mp4"}},
                ],
            }
        ],
        "generation_config": {"temperature": 0.2, "candidate_count": 1, "top_k": 0},
    }
    echoed = json.loads(
        '{"contents":[{"parts":[{"fileData":null,"text":"What is the relation between the following video and image '
        'samples?"},{"fileData":{"fileUri":"gs://cloud-samples-data/video/animals.mp4","mimeType":"video/mp4"},'
        '"text":null}],"role":"user"}],"generationConfig":{"temperature":0.20000000298023224,"candidateCount":1.0}}'
    )
    assert request_digest(sent) == request_digest(echoed)
    other = json.loads(json.dumps(echoed).replace("samples?", "samples!"))
    assert request_digest(other) != request_digest(echoed)
    assert request_digest({"generationConfig": {"temperature": 0.2}}) != request_digest(
        {"generationConfig": {"temperature": 0.3}}
    )


def test_request_index_gives_equal_requests_their_positions_in_order() -> None:
    """A run of equal requests longer than one byte can count still gives each position once, in order."""
    from airflow_provider_genai_batch.client.results import RequestIndex
    from airflow_provider_genai_batch.client.wire.stamp import request_digest

    index = RequestIndex()
    same = json.dumps({"request": {"contents": "same"}}).encode()
    for i in range(700):
        index.add_line(same if i % 7 else json.dumps({"request": {"contents": f"r{i}"}}).encode())
    index.freeze()
    digest = request_digest({"contents": "same"})
    taken = [index.take(digest) for _ in range(600)]
    assert taken == [i for i in range(700) if i % 7]
    assert index.take(digest) is None
    assert index.take(request_digest({"contents": "r14"})) == 14
    assert index.take(request_digest({"contents": "r14"})) is None
    assert index.take(request_digest({"contents": "never"})) is None
