"""What identifies an input's content (``GenAIBatchHook.input_identity``), against the emulator, and the pieces
it is made of: the single-pass hash of ``validate_jsonl_file`` and the GCS object metadata read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airflow_provider_genai_batch.client import GenAIBatchClient
from airflow_provider_genai_batch.client.errors import APIStatusError, InvalidInputError
from airflow_provider_genai_batch.client.jsonl import validate_jsonl_file
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from tests.conftest import VERTEX_CONN_ID

MODEL = "gemini-2.5-flash"


def line(text: str) -> bytes:
    return json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}).encode() + b"\n"


def test_validation_hashes_the_bytes_it_reads(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    data = line("a") + b"\n" + line("b")
    path.write_bytes(data)
    check = validate_jsonl_file(path)
    assert (check.count, check.size, check.sha256) == (2, len(data), hashlib.sha256(data).hexdigest())


def test_a_bad_line_is_still_rejected_before_any_hash(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(line("a") + b"{not json\n")
    with pytest.raises(InvalidInputError) as raised:
        validate_jsonl_file(path)
    assert raised.value.field == "src line 2"


def test_local_file_identity_follows_its_content(emulator: EmulatorHandle, tmp_path: Path) -> None:
    hook = GenAIBatchHook()
    path = tmp_path / "in.jsonl"
    path.write_bytes(line("first"))
    first = hook.input_identity(hook.prepare_create(model=MODEL, src=str(path)))
    assert first == {"sha256": hashlib.sha256(line("first")).hexdigest()}
    path.write_bytes(line("second"))
    assert hook.input_identity(hook.prepare_create(model=MODEL, src=str(path))) != first
    assert sum(emulator.stats()["requests"].values()) == 0  # no network for a local file


def test_gcs_identity_is_one_metadata_read_and_follows_the_generation(emulator: EmulatorHandle) -> None:
    hook = GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID)
    emulator.put_object("in-bucket", "dir/in.jsonl", line("first"))
    config = {"dest": "gs://out-bucket/o"}
    first = hook.input_identity(hook.prepare_create(model=MODEL, src="gs://in-bucket/dir/in.jsonl", config=config))
    assert emulator.stats()["requests"]["gcs.objects.get"] == 1
    assert emulator.stats()["requests"].get("gcs.objects.download", 0) == 0
    assert (
        hook.input_identity(hook.prepare_create(model=MODEL, src="gs://in-bucket/dir/in.jsonl", config=config)) == first
    )
    emulator.put_object("in-bucket", "dir/in.jsonl", line("first"))  # same bytes, new generation
    assert (
        hook.input_identity(hook.prepare_create(model=MODEL, src="gs://in-bucket/dir/in.jsonl", config=config)) != first
    )


def test_gcs_object_metadata_of_a_missing_object_is_a_404(emulator: EmulatorHandle) -> None:
    hook = GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID)
    client: GenAIBatchClient = hook.get_conn()
    emulator.put_object("in-bucket", "a b/in.jsonl", line("x"))
    meta = client.gcs_object("gs://in-bucket/a b/in.jsonl")
    assert (meta.bucket, meta.name, meta.size) == ("in-bucket", "a b/in.jsonl", len(line("x")))
    assert meta.generation and meta.md5_hash
    with pytest.raises(APIStatusError) as raised:
        client.gcs_object("gs://in-bucket/missing.jsonl")
    assert raised.value.status_code == 404


def test_files_api_identity_carries_the_files_hash(emulator: EmulatorHandle, tmp_path: Path) -> None:
    hook = GenAIBatchHook()
    name = hook.upload_file(line("first"))
    identity = hook.input_identity(hook.prepare_create(model=MODEL, src=name))
    assert identity is not None and identity["file"][0] == name and identity["file"][1]
    assert emulator.stats()["requests"]["files.get"] == 1


def test_inline_and_bigquery_sources_have_no_separate_identity(emulator: EmulatorHandle) -> None:
    hook = GenAIBatchHook()
    assert hook.input_identity(hook.prepare_create(model=MODEL, src=["inline"])) is None
    vertex = GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID)
    assert (
        vertex.input_identity(vertex.prepare_create(model=MODEL, src="bq://p.d.t", config={"dest": "bq://p.d"})) is None
    )


def test_an_oldest_first_list_pages_through_every_job(emulator: EmulatorHandle) -> None:
    emulator.configure(gemini_list_order="oldest_first")
    hook = GenAIBatchHook()
    names = [hook.create_job(model=MODEL, src=[f"q{i}"]).name for i in range(5)]
    assert [job.name for job in hook.list_jobs(page_size=2)] == names
    emulator.configure(gemini_list_order="newest_first")
    assert [job.name for job in hook.list_jobs(page_size=2)] == names[::-1]
