"""The official google-genai SDK drives the emulator's Gemini Developer API: every batch verb, files, embeddings.

Each test runs twice: with the SDK 3.x default API version (v1) and with v1beta (what SDK 2.x sends).
"""

from __future__ import annotations

import io
import json

import pytest
from google import genai
from google.genai import errors, types

from airflow_provider_genai_batch.emulator import EmulatorHandle, embedding_values
from tests.emulator.conftest import wait_done

MODEL = "gemini-2.5-flash"


def _jsonl(lines: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def test_inline_batch_runs_to_success_with_echoed_metadata(gemini: genai.Client, emu: EmulatorHandle) -> None:
    job = gemini.batches.create(
        model=MODEL,
        src=[
            {"contents": "what is 1+1?", "metadata": {"key": "a"}},
            {"contents": [{"parts": [{"text": "line one"}, {"text": "EMULATOR_FAIL two"}], "role": "user"}]},
            {"contents": "third prompt here", "metadata": {"key": "c"}},
        ],
        config={"display_name": "inline-dn"},
    )
    assert job.name is not None and job.name.startswith("batches/")
    assert len(job.name.removeprefix("batches/")) == 36
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.display_name == "inline-dn"
    assert job.model == f"models/{MODEL}"

    done = wait_done(lambda: gemini.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.end_time is not None and done.create_time is not None
    assert done.dest is not None and done.dest.inlined_responses is not None
    # Responses come back in a shuffled order (as Google may); the metadata and the answer say which is which.
    by_key = {(r.metadata or {}).get("key"): r for r in done.dest.inlined_responses}
    first, second, third = by_key["a"], by_key[None], by_key["c"]
    assert first.metadata == {"key": "a"}
    assert first.response is not None and first.response.text == "echo: what is 1+1?"
    usage = first.response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (3, 4, 7)
    assert first.response.model_version == MODEL
    assert second.metadata is None and second.response is None
    assert second.error is not None and second.error.code == 400 and "EMULATOR_FAIL" in (second.error.message or "")
    assert third.metadata == {"key": "c"} and third.response is not None
    assert third.response.text == "echo: third prompt here"
    assert emu.stats()["jobs"][0]["state"] == "JOB_STATE_SUCCEEDED"


def test_file_batch_uploads_runs_and_downloads_results(gemini: genai.Client, api_version: str) -> None:
    data = _jsonl(
        [
            {"key": "k1", "request": {"contents": [{"parts": [{"text": "alpha"}]}]}},
            {"key": "k2", "request": {"contents": [{"parts": [{"text": "EMULATOR_FAIL beta"}]}]}},
            {"key": "k3", "request": {"contents": [{"parts": [{"text": "gamma delta"}]}]}},
        ]
    )
    uploaded = gemini.files.upload(file=io.BytesIO(data), config={"mime_type": "jsonl", "display_name": "in.jsonl"})
    assert uploaded.name is not None and uploaded.name.startswith("files/")
    assert uploaded.size_bytes == len(data) and uploaded.display_name == "in.jsonl"
    assert uploaded.state == types.FileState.ACTIVE and uploaded.source == types.FileSource.UPLOADED
    assert gemini.files.get(name=uploaded.name).size_bytes == len(data)

    job = gemini.batches.create(model=MODEL, src=uploaded.name)
    done = wait_done(lambda: gemini.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.file_name == f"files/batch-{(job.name or '').removeprefix('batches/')}"

    results_file = gemini.files.get(name=done.dest.file_name)
    assert results_file.source == types.FileSource.GENERATED
    assert results_file.download_uri is not None and f"/download/{api_version}/files/" in results_file.download_uri
    by_key = {
        json.loads(line)["key"]: json.loads(line)
        for line in gemini.files.download(file=done.dest.file_name).splitlines()
    }
    assert sorted(by_key) == ["k1", "k2", "k3"]
    lines = [by_key["k1"], by_key["k2"], by_key["k3"]]
    assert lines[0]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "echo: alpha"
    assert lines[1]["error"] == {
        "code": 400,
        "message": "The request failed on purpose: its prompt contains EMULATOR_FAIL.",
        "status": "INVALID_ARGUMENT",
    }
    assert lines[2]["response"]["usageMetadata"]["promptTokenCount"] == 2
    assert gemini.files.download(file=results_file) == gemini.files.download(file=done.dest.file_name)


@pytest.mark.filterwarnings("ignore:batches.create_embeddings\\(\\) is experimental")
def test_embeddings_inline_and_file(gemini: genai.Client) -> None:
    inline = gemini.batches.create_embeddings(
        model="gemini-embedding-001",
        src={"inlined_requests": {"contents": ["hello", "world"], "config": {"output_dimensionality": 4}}},
        config={"display_name": "emb"},
    )
    done = wait_done(lambda: gemini.batches.get(name=inline.name or ""))
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.inlined_embed_content_responses is not None
    vectors = [r.response.embedding.values for r in done.dest.inlined_embed_content_responses if r.response]
    assert sorted(vectors) == sorted([embedding_values("hello", 4), embedding_values("world", 4)])

    data = _jsonl([{"key": "e1", "request": {"content": {"parts": [{"text": "hello"}]}}}])
    uploaded = gemini.files.upload(file=io.BytesIO(data), config={"mime_type": "jsonl"})
    from_file = gemini.batches.create_embeddings(model="gemini-embedding-001", src={"file_name": uploaded.name})
    done = wait_done(lambda: gemini.batches.get(name=from_file.name or ""))
    assert done.dest is not None and done.dest.file_name is not None
    (line,) = [json.loads(x) for x in gemini.files.download(file=done.dest.file_name).splitlines()]
    assert line == {"key": "e1", "response": {"embedding": {"values": embedding_values("hello")}}}


def test_list_pages_through_every_job_newest_first(gemini: genai.Client, emu: EmulatorHandle) -> None:
    assert list(gemini.batches.list()) == []
    emu.add_outcome("STUCK_PENDING", count=None)
    names = [gemini.batches.create(model=MODEL, src=[{"contents": f"p{i}"}]).name for i in range(5)]
    listed = [job.name for job in gemini.batches.list(config={"page_size": 2})]
    assert listed == list(reversed(names))
    assert emu.stats()["requests"]["gemini.batches.list"] == 1 + 3


def test_cancel_then_delete(gemini: genai.Client, emu: EmulatorHandle) -> None:
    emu.add_outcome("STUCK_PENDING")
    job = gemini.batches.create(model=MODEL, src=[{"contents": "x"}])
    with pytest.raises(errors.ClientError) as running:
        gemini.batches.delete(name=job.name or "")
    assert running.value.code == 400 and running.value.status == "FAILED_PRECONDITION"

    gemini.batches.cancel(name=job.name or "")
    cancelled = gemini.batches.get(name=job.name or "")
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED and cancelled.dest is None
    with pytest.raises(errors.ClientError) as again:
        gemini.batches.cancel(name=job.name or "")
    assert again.value.status == "FAILED_PRECONDITION"

    gemini.batches.delete(name=job.name or "")
    with pytest.raises(errors.ClientError) as gone:
        gemini.batches.get(name=job.name or "")
    assert gone.value.code == 404 and gone.value.status == "NOT_FOUND"
    stats = emu.stats()
    assert stats["cancels"]["gemini"] == 1 and stats["deletes"]["gemini"] == 1 and stats["jobs"] == []


@pytest.mark.parametrize(
    ("final_state", "expected"),
    [
        ("FAILED", types.JobState.JOB_STATE_FAILED),
        ("EXPIRED", types.JobState.JOB_STATE_EXPIRED),
        ("CANCELLED", types.JobState.JOB_STATE_CANCELLED),
        ("PARTIALLY_SUCCEEDED", types.JobState.JOB_STATE_SUCCEEDED),
    ],
)
def test_outcomes_parse_on_every_terminal_state(
    gemini: genai.Client, emu: EmulatorHandle, final_state: str, expected: types.JobState
) -> None:
    emu.add_outcome(final_state, error_message="planned", match_display_name="planned")
    other = gemini.batches.create(model=MODEL, src=[{"contents": "x"}], config={"display_name": "unrelated"})
    job = gemini.batches.create(
        model=MODEL, src=[{"contents": "a"}, {"contents": "b"}], config={"display_name": "planned-run"}
    )
    done = wait_done(lambda: gemini.batches.get(name=job.name or ""))
    assert done.state == expected
    if final_state == "PARTIALLY_SUCCEEDED":
        assert done.dest is not None and done.dest.inlined_responses is not None
        # Request 0 ("a") fails on purpose; the other answers "b" (in whatever order they come back).
        answers = {r.response.text if r.response else None for r in done.dest.inlined_responses}
        assert answers == {None, "echo: b"}
    else:
        assert done.dest is None
    assert wait_done(lambda: gemini.batches.get(name=other.name or "")).state == types.JobState.JOB_STATE_SUCCEEDED


def test_auth_failures_raise_the_sdks_client_error(emu: EmulatorHandle, api_version: str) -> None:
    wrong = genai.Client(api_key="not-the-key", http_options={"base_url": emu.base_url, "api_version": api_version})
    with pytest.raises(errors.ClientError) as info:
        wrong.batches.get(name="batches/abc")
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert info.value.message == "API key not valid. Please pass a valid API key."

    with pytest.raises(errors.ClientError) as missing:
        wrong.files.upload(file=io.BytesIO(b"{}"), config={"mime_type": "jsonl"})
    assert missing.value.code == 400


def test_unknown_job_and_file_are_404(gemini: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as job:
        gemini.batches.get(name="batches/doesnotexist")
    assert job.value.code == 404
    with pytest.raises(errors.ClientError) as file:
        gemini.batches.create(model=MODEL, src="files/doesnotexist")
    assert file.value.code == 404 and "files/doesnotexist" in (file.value.message or "")


def test_base_url_with_a_path_prefix(emu: EmulatorHandle) -> None:
    client = genai.Client(api_key=emu.api_key, http_options={"base_url": emu.base_url + "/gemini/"})
    job = client.batches.create(model=MODEL, src=[{"contents": "x"}])
    assert client.batches.get(name=job.name or "").name == job.name
    uploaded = client.files.upload(file=io.BytesIO(b"abc"), config={"mime_type": "text/plain"})
    assert client.files.get(name=uploaded.name or "").uri == f"{emu.base_url}/gemini/v1/files/{uploaded.name[6:]}"


async def test_async_sdk_client(gemini: genai.Client) -> None:
    job = await gemini.aio.batches.create(model=MODEL, src=[{"contents": "async hello"}])
    for _ in range(200):
        job = await gemini.aio.batches.get(name=job.name or "")
        if job.done:
            break
        import asyncio

        await asyncio.sleep(0.02)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    names = [j.name async for j in await gemini.aio.batches.list(config={"page_size": 1})]
    assert names == [job.name]
