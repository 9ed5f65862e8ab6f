"""A GCS JSONL object split into shard objects (Vertex AI), one mapped create each, one combined file in order."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.operators._cutting import ShardLimits
from airflow_provider_genai_batch.operators._gcs_shards import object_lines, split_gcs_object, validate_gcs_split
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from tests.bigjobs.test_sharding import PROMPTS, check_combined, request_line
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID, VERTEX_LOCATION, VERTEX_PROJECT

BUCKET = "input-bucket"
NAME = "nightly/requests.jsonl"
SOURCE = f"gs://{BUCKET}/{NAME}"
SHARD_PREFIX = "nightly/requests.shards/"
TOKEN = "0123456789abcdef"  # a split task instance's token (``_shard_refs.run_token``)


def put_source(emulator: EmulatorHandle, prompts: list[str] = PROMPTS) -> None:
    lines = b"".join(request_line(p, f"k{i}") for i, p in enumerate(prompts))
    emulator.put_object(BUCKET, NAME, lines + b"\n", "application/jsonl")  # a trailing blank line is skipped


def vertex_settings(emulator: EmulatorHandle) -> ClientSettings:
    return ClientSettings(
        backend="vertex",
        project=VERTEX_PROJECT,
        location=VERTEX_LOCATION,
        access_token="emulator-token",
        base_url=emulator.base_url,
        storage_base_url=emulator.base_url,
    )


def vertex_client(emulator: EmulatorHandle) -> GenAIBatchClient:
    return GenAIBatchClient(vertex_settings(emulator))


def uploads(emulator: EmulatorHandle) -> int:
    return int(emulator.stats()["requests"].get("gcs.objects.upload.start", 0))


def test_gcs_object_in_three_shards_with_a_lost_create_response(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Shards are gs:// objects Vertex reads as they are; the second shard's create is applied but its response
    dropped, and that shard's retry reattaches: three jobs for three shards, every request once, in order."""
    put_source(fast_emulator)
    fast_emulator.add_fault("apply_then_drop", method="POST", path=r"/batchPredictionJobs$", skip=1, count=1)
    out = tmp_path / "combined.jsonl"
    result = run_built_dag(
        "sharded",
        "sharded_gcs_vertex",
        src=SOURCE,
        conn_id=VERTEX_CONN_ID,
        limits="vertex",
        destination=str(out),
        max_shard_requests=4,
        max_active=1,
        retries=2,
    )
    assert result.state == "success", result.output[-3000:]
    stats = fast_emulator.stats()
    assert stats["faults_fired"]["total"] == 1
    assert stats["jobs_created_by_backend"] == {"gemini": 0, "vertex": 3}
    # (Each job's default output directory is beside its input: ``<shard>/dest/...``.)
    shard_names = [n for n in fast_emulator.list_objects(BUCKET, SHARD_PREFIX) if "/" not in n[len(SHARD_PREFIX) :]]
    token = shard_names[0].split(".run-")[1].split(".")[0]
    assert shard_names == [f"{SHARD_PREFIX}requests.run-{token}.shard-{n:05d}.jsonl" for n in range(3)]
    refs = result.value("split")
    assert [ref["src"] for ref in refs] == [f"gs://{BUCKET}/{name}" for name in shard_names]
    assert [ref["genai_batch_shard"] for ref in refs] == [0, 1, 2]
    assert [ref["md5"] for ref in refs] == [  # the MD5 Cloud Storage reports for each shard, as the split wrote it
        base64.b64encode(hashlib.md5(fast_emulator.get_object(BUCKET, name)).digest()).decode() for name in shard_names
    ]
    manifest = result.value("combine")
    assert [(s["shard"], s["first_index"], s["requests"]) for s in manifest["shards"]] == [
        (0, 0, 4),
        (1, 4, 4),
        (2, 8, 2),
    ]
    check_combined(out, manifest, PROMPTS)
    with vertex_client(fast_emulator) as client:  # each job reads its own shard object, as written
        read = [client.batches.get(name=s["job_name"]).src.gcs_uri for s in manifest["shards"]]  # type: ignore[union-attr]
    assert read == [[f"gs://{BUCKET}/{name}"] for name in shard_names]
    first = [json.loads(line) for line in fast_emulator.get_object(BUCKET, shard_names[1]).splitlines()]
    assert [line["metadata"] for line in first] == [
        {"key": f"k{i}", "genai_batch_index": str(i - 4)} for i in range(4, 8)
    ]
    # No per-request label value (Google advises against them: they land in billing data); a Vertex row that
    # does not echo the metadata stamp is matched by its echoed request instead.
    assert all("labels" not in line["request"] for line in first)


def test_a_second_split_leaves_identical_shards_alone(fast_emulator: EmulatorHandle) -> None:
    """A retried split writes nothing (same MD5), so each shard keeps its generation and the create tasks' keys;
    a changed input rewrites the shards whose bytes changed, and only those."""
    put_source(fast_emulator)
    limits = ShardLimits.of("vertex", max_requests=4)
    prefix = f"gs://{BUCKET}/{SHARD_PREFIX}"
    with vertex_client(fast_emulator) as client:
        written = split_gcs_object(client, SOURCE, prefix, limits, token=TOKEN)
        assert [lines for _, lines, _ in written] == [4, 4, 2]
        before = [client.gcs_object(uri).generation for uri, _, _ in written]
        assert uploads(fast_emulator) == 3

        assert split_gcs_object(client, SOURCE, prefix, limits, token=TOKEN) == written
        assert [client.gcs_object(uri).generation for uri, _, _ in written] == before
        assert uploads(fast_emulator) == 3

        put_source(fast_emulator, [*PROMPTS[:9], "a changed last prompt"])
        split_gcs_object(client, SOURCE, prefix, limits, token=TOKEN)
        after = [client.gcs_object(uri).generation for uri, _, _ in written]
    assert after[:2] == before[:2] and after[2] != before[2]
    assert uploads(fast_emulator) == 4


def test_object_lines_across_chunks_and_a_line_too_long() -> None:
    chunks = [b'{"a":1}\n{"b"', b":2}\n\n", b'{"c":3}']  # a line split over chunks, a blank line, no final newline
    assert list(object_lines(chunks, limit=100)) == [b'{"a":1}', b'{"b":2}', b"", b'{"c":3}']
    with pytest.raises(OperatorInputError) as caught:
        list(object_lines([b'{"a":1}\n', b"x" * 60, b"y" * 60], limit=100))  # fails while buffering, bounded
    assert caught.value.field == "src line 2" and "more than 100 bytes" in str(caught.value)


def test_a_too_long_line_fails_before_any_upload(fast_emulator: EmulatorHandle) -> None:
    fast_emulator.put_object(BUCKET, NAME, request_line("short", "k0") + request_line("word " * 80, "k1"))
    with vertex_client(fast_emulator) as client, pytest.raises(OperatorInputError) as caught:
        split_gcs_object(
            client, SOURCE, f"gs://{BUCKET}/{SHARD_PREFIX}", ShardLimits.of("vertex", max_bytes=300), token=TOKEN
        )
    assert caught.value.field == "src line 2" and "300 bytes per shard" in str(caught.value)
    assert uploads(fast_emulator) == 0 and fast_emulator.list_objects(BUCKET, SHARD_PREFIX) == []


@pytest.mark.parametrize(
    ("uri", "prefix", "backend", "field", "text"),
    [
        (SOURCE, None, "gemini", "src", "Gemini API cannot read gs:// sources"),
        (SOURCE, None, "vertex-with-gemini-limits", "limits", "read by Vertex AI jobs"),
        ("gs://input-bucket/nightly/*.jsonl", None, "vertex", "src", "does not name one object"),
        ("gs://input-bucket/nightly/", None, "vertex", "src", "does not name one object"),
        ("gs://Bad_Bucket!/x.jsonl", None, "vertex", "src", "is not a valid bucket name"),
        (SOURCE, "/local/folder", "vertex", "shard_folder", "for a gs:// input"),
        (SOURCE, "gs://input-bucket/shards/*", "vertex", "shard_folder", "holds a wildcard"),
    ],
)
def test_gcs_split_checks_before_any_call(uri: str, prefix: str | None, backend: str, field: str, text: str) -> None:
    limits = "gemini" if backend == "vertex-with-gemini-limits" else "vertex"
    with pytest.raises(OperatorInputError) as caught:
        validate_gcs_split(uri, prefix, backend.split("-")[0], limits)
    assert caught.value.field == field and text in str(caught.value)


def test_default_and_given_shard_prefix() -> None:
    assert validate_gcs_split(SOURCE, None, "vertex") == f"gs://{BUCKET}/{SHARD_PREFIX}"
    assert validate_gcs_split(SOURCE, "gs://other/run-1", "vertex") == "gs://other/run-1/"


def test_gemini_connection_with_a_gcs_object_fails_before_any_call(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    put_source(fast_emulator)
    result = run_built_dag(
        "sharded", "sharded_gcs_gemini", src=SOURCE, conn_id=GEMINI_CONN_ID, destination=str(tmp_path / "x.jsonl")
    )
    assert result.task_states["split"] == "failed"
    assert "the Gemini API cannot read gs:// sources" in result.output and "Vertex AI connection" in result.output
    assert fast_emulator.stats()["requests"] == {}


def test_a_dropped_download_resumes_and_the_split_is_unchanged(fast_emulator: EmulatorHandle) -> None:
    put_source(fast_emulator)
    limits = ShardLimits.of("vertex", max_requests=4)
    with vertex_client(fast_emulator) as client:
        expected = [
            (uri, lines, fast_emulator.get_object(BUCKET, uri.removeprefix(f"gs://{BUCKET}/")))
            for uri, lines, _ in split_gcs_object(client, SOURCE, f"gs://{BUCKET}/a/", limits, token=TOKEN)
        ]
        fast_emulator.add_fault("drop", method="GET", path=r"/o/nightly%2Frequests\.jsonl$", count=1)
        again = split_gcs_object(client, SOURCE, f"gs://{BUCKET}/b/", limits, token=TOKEN)
    assert fast_emulator.stats()["faults_fired"]["total"] == 1
    assert [lines for _, lines, _ in again] == [lines for _, lines, _ in expected] == [4, 4, 2]
    for (uri, _, _), (_, _, data) in zip(again, expected, strict=True):
        assert fast_emulator.get_object(BUCKET, uri.removeprefix(f"gs://{BUCKET}/")) == data


async def test_async_client_reads_and_writes_gcs_objects(fast_emulator: EmulatorHandle, tmp_path: Path) -> None:
    from airflow_provider_genai_batch.client import AsyncGenAIBatchClient

    data = b"".join(request_line(p, f"k{i}") for i, p in enumerate(PROMPTS))
    local = tmp_path / "in.jsonl"
    local.write_bytes(data)
    async with AsyncGenAIBatchClient(vertex_settings(fast_emulator)) as client:
        with local.open("rb") as handle:
            assert await client.gcs_upload(SOURCE, handle, len(data)) == SOURCE
        read = b"".join([chunk async for chunk in client.gcs_download(SOURCE)])
        meta = await client.gcs_object(SOURCE)
    assert read == data == fast_emulator.get_object(BUCKET, NAME)
    assert meta.size == len(data)
