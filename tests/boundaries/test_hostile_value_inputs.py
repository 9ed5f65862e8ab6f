"""Boundary: a hostile or malformed value. A JSONL input that is not UTF-8 is refused with the line it is on and
the fix, before any network call, on both backends and through the create operator; its bytes are not echoed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient, InvalidInputError
from airflow_provider_genai_batch.emulator import EmulatorHandle

LATIN1_LINES = (
    b'{"key": "a", "request": {"contents": [{"parts": [{"text": "plain"}]}]}}\n'
    b"\n"
    b'{"key": "b", "request": {"contents": [{"parts": [{"text": "caf\xe9 cr\xe8me"}]}]}}\n'
)


@pytest.fixture
def latin1_file(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(LATIN1_LINES)
    return path


def _settings(emulator: EmulatorHandle, backend: str) -> ClientSettings:
    if backend == "gemini":
        return ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url)
    return ClientSettings(
        backend="vertex",
        project="proj-1",
        location="us-central1",
        access_token="emulator-token",
        base_url=emulator.base_url,
        storage_base_url=emulator.base_url,
        gcs_staging_prefix="gs://stage-bucket/genai",
    )


@pytest.fixture
def clients(genai_batch_emulator: EmulatorHandle) -> Iterator[dict[str, Any]]:
    with (
        GenAIBatchClient(_settings(genai_batch_emulator, "gemini")) as gemini,
        GenAIBatchClient(_settings(genai_batch_emulator, "vertex")) as vertex,
    ):
        yield {"gemini": gemini, "vertex": vertex, "emulator": genai_batch_emulator}


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_a_latin1_jsonl_is_refused_naming_its_line_before_any_request(
    clients: dict[str, Any], latin1_file: Path, backend: str
) -> None:
    emulator: EmulatorHandle = clients["emulator"]
    emulator.reset()
    with pytest.raises(InvalidInputError) as info:
        clients[backend].batches.create(model="gemini-2.5-flash", src=latin1_file)
    error = info.value
    assert error.field == "src line 3"  # the file's line number, blank lines counted
    assert "not UTF-8" in str(error) and "save latin1.jsonl as UTF-8" in str(error)
    assert "caf" not in str(error)  # the line's content is not echoed
    assert not isinstance(error.__cause__, UnicodeDecodeError) and error.__suppress_context__
    assert emulator.stats()["requests"] == {}


def test_the_create_operator_fails_the_task_with_the_same_message(
    run_dag: Any, emulator: EmulatorHandle, latin1_file: Path
) -> None:
    tasks = [
        {
            "class": "GenAIBatchCreateJobOperator",
            "task_id": "create",
            "model": "gemini-2.5-flash",
            "src": str(latin1_file),
            "wait_for_completion": False,
        }
    ]
    result = run_dag({"dag_id": "latin1_input", "tasks": tasks})
    assert result.task_states["create"] == "failed"
    assert "src line 3: is not UTF-8" in result.output and "save latin1.jsonl as UTF-8" in result.output
    assert "UnicodeDecodeError" not in result.output
    assert emulator.stats()["jobs_created"] == 0
