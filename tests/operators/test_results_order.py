"""Every input kind the provider submits keeps its order: a create then a write-results DAG (``dag.test()``)
against the emulator, which returns results shuffled (as Google may), writes each request's answer at the
request's position in the input, for both backends and for a request list, a local JSONL file and a ``gs://``
object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID
from tests.timings import FAST

N = 9
MANIFEST = "{{ ti.xcom_pull(task_ids='create') }}"


def _lines() -> bytes:
    return b"".join(
        json.dumps({"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}}).encode()
        + b"\n"
        for i in range(N)
    )


def _source(kind: str, emulator: EmulatorHandle, tmp_path: Path) -> Any:
    if kind == "list":
        return [{"contents": f"q{i}", "metadata": {"key": f"k{i}"}} for i in range(N)]
    if kind == "local-jsonl":
        path = tmp_path / "prompts.jsonl"
        path.write_bytes(_lines())
        return str(path)
    emulator.put_object("user-inputs", "prompts/in.jsonl", _lines())
    return "gs://user-inputs/prompts/in.jsonl"


CASES = [
    ("gemini", "list", "stamp"),
    ("gemini", "local-jsonl", "stamp"),
    ("vertex", "list", "stamp"),
    ("vertex", "local-jsonl", "stamp"),
    ("vertex", "gcs-object", "request"),
]


@pytest.mark.parametrize(("backend", "kind", "attribution"), CASES, ids=[f"{b}-{k}" for b, k, _ in CASES])
def test_written_results_are_in_input_order(
    run_dag: Any, emulator: EmulatorHandle, tmp_path: Path, backend: str, kind: str, attribution: str
) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1, shuffle_results=True)
    conn_id = GEMINI_CONN_ID if backend == "gemini" else VERTEX_CONN_ID
    config = {"dest": "gs://user-outputs/prompts"} if kind == "gcs-object" else None
    out = tmp_path / "results.jsonl"
    tasks = [
        {
            "class": "GenAIBatchCreateJobOperator",
            "task_id": "create",
            "model": "gemini-2.5-flash",
            "src": _source(kind, emulator, tmp_path),
            "config": config,
            "genai_batch_conn_id": conn_id,
            "wait_for_completion": True,
            **FAST,
        },
        {
            "class": "GenAIBatchWriteResultsOperator",
            "task_id": "save",
            "name": MANIFEST,
            "destination": str(out),
            "genai_batch_conn_id": conn_id,
        },
    ]
    result = run_dag({"dag_id": f"order_{backend}_{kind.replace('-', '_')}", "tasks": tasks})
    assert result.state == "success", result.output[-3000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(N))
    assert [line["key"] for line in lines] == [f"k{i}" for i in range(N)]
    assert [line["response"]["candidates"][0]["content"]["parts"][0]["text"] for line in lines] == [
        f"echo: q{i}" for i in range(N)
    ]
    assert all("attribution" not in line for line in lines)
    saved = result.value("save")
    assert saved["attribution"] == {attribution: N}
    # The emulator really returned them out of order: the operator reordered.
    assert "arrived out of order" in result.output
