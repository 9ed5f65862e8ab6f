"""OpenLineage facets of the create and results operators, emitted by the OpenLineage provider's listener
during ``dag.test()`` to a file transport, for Gemini inline, Gemini file, Vertex GCS and Vertex BigQuery."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.operators.lineage import FILES_API_NAMESPACE, dataset_id
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID

HOST = socket.gethostname()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("gs://bucket/in/requests.jsonl", ("gs://bucket", "in/requests.jsonl")),
        ("bq://proj.ds.table", ("bigquery", "proj.ds.table")),
        ("files/abc-123", (FILES_API_NAMESPACE, "files/abc-123")),
        ("/data/out.jsonl", (f"file://{HOST}", "/data/out.jsonl")),
        ("file:///data/out.jsonl", (f"file://{HOST}", "/data/out.jsonl")),
        ("s3://bucket/key/x.jsonl", ("s3://bucket", "key/x.jsonl")),
        ("", None),
        (["not", "a", "uri"], None),
    ],
)
def test_dataset_naming(uri: Any, expected: tuple[str, str] | None) -> None:
    assert dataset_id(uri) == expected


@pytest.fixture
def lineage_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A file transport for the OpenLineage listener; its client (made once per process) is rebuilt around
    the test, so it reads this transport whatever ran in the worker before."""
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener

    path = tmp_path / "lineage.jsonl"
    transport = {"type": "file", "log_file_path": str(path), "append": True}
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "test")
    listener = get_openlineage_listener()
    listener.adapter._client = None
    # The provider's plugin registers its listener only when a transport was configured as Airflow's plugins
    # loaded, which may have been before this test in this worker: register it for the test if it is not.
    added = []
    for manager in _listener_managers():
        if not manager.pm.is_registered(listener):
            manager.add_listener(listener)
            added.append(manager)
    yield path
    for manager in added:
        manager.pm.unregister(listener)
    listener.adapter._client = None


def _listener_managers() -> list[Any]:
    from airflow.listeners.listener import get_listener_manager as core_manager
    from airflow.sdk.listener import get_listener_manager as task_manager

    return [core_manager(), task_manager()]


def complete_events(path: Path) -> dict[str, dict[str, Any]]:
    events: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        event = json.loads(line)
        if event.get("eventType") == "COMPLETE":
            events[event["job"]["name"].rsplit(".", 1)[-1]] = event
    return events


def ids(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def test_gemini_inline(run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, lineage_events: Path) -> None:
    out = tmp_path / "out.jsonl"
    params = {"model": "gemini-2.5-flash", "src": ["a b", "c"], "conn_id": GEMINI_CONN_ID, "destination": str(out)}
    result = run_built_dag("create_then_save", "lineage_inline", **params)
    assert result.state == "success", result.output[-3000:]
    events = complete_events(lineage_events)
    create, save = events["create"], events["save"]
    assert ids(create["inputs"]) == [] and ids(create["outputs"]) == []  # inline in, inline out
    facet = create["run"]["facets"]["genaiBatchJob"]
    assert facet["jobName"] == result.value("create")["job_name"]
    assert facet["requestCounts"]["succeeded"] == 2
    assert ids(save["outputs"]) == [(f"file://{HOST}", str(out))]
    assert save["run"]["facets"]["genaiBatchJob"]["usage"]["total_tokens"] == 3 + 5


def test_gemini_file(run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, lineage_events: Path) -> None:
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    line = {"request": {"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]}, "metadata": {"key": "h"}}
    file_name = GenAIBatchHook().upload_file(json.dumps(line).encode() + b"\n")
    out = tmp_path / "out.jsonl"
    params = {"model": "gemini-2.5-flash", "src": file_name, "conn_id": GEMINI_CONN_ID, "destination": str(out)}
    result = run_built_dag("create_then_save", "lineage_file", **params)
    assert result.state == "success", result.output[-3000:]
    events = complete_events(lineage_events)
    results_file = result.value("create")["results"]["file_name"]
    assert ids(events["create"]["inputs"]) == [(FILES_API_NAMESPACE, file_name)]
    assert ids(events["create"]["outputs"]) == [(FILES_API_NAMESPACE, results_file)]
    assert ids(events["save"]["inputs"]) == [(FILES_API_NAMESPACE, results_file)]
    assert ids(events["save"]["outputs"]) == [(f"file://{HOST}", str(out))]
    assert events["save"]["run"]["facets"]["genaiBatchJob"]["requestCounts"] == {
        "results": 1,
        "succeeded": 1,
        "failed": 0,
    }


def test_vertex_gcs(run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, lineage_events: Path) -> None:
    line = {"request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}}
    fast_emulator.put_object("input-bucket", "in/requests.jsonl", json.dumps(line).encode() + b"\n")
    out = tmp_path / "out.jsonl"
    src = "gs://input-bucket/in/requests.jsonl"
    params = {"model": "gemini-2.5-flash", "src": src, "conn_id": VERTEX_CONN_ID, "destination": f"file://{out}"}
    result = run_built_dag("create_then_save", "lineage_gcs", **params)
    assert result.state == "success", result.output[-3000:]
    events = complete_events(lineage_events)
    directory = result.value("create")["results"]["gcs_output_directory"]
    assert directory.startswith("gs://input-bucket/")
    assert ids(events["create"]["inputs"]) == [("gs://input-bucket", "in/requests.jsonl")]
    assert ids(events["create"]["outputs"]) == [("gs://input-bucket", directory[len("gs://input-bucket/") :])]
    assert ids(events["save"]["inputs"]) == ids(events["create"]["outputs"])
    assert ids(events["save"]["outputs"]) == [(f"file://{HOST}", str(out))]
    assert events["create"]["run"]["facets"]["genaiBatchJob"]["backend"] == "vertex"


def test_vertex_bigquery(run_built_dag: Any, fast_emulator: EmulatorHandle, lineage_events: Path) -> None:
    rows = [{"request": {"contents": [{"role": "user", "parts": [{"text": t}]}]}} for t in ("p", "q")]
    fast_emulator.put_table("bq://test-project.inputs.prompts", rows)
    params = {
        "model": "gemini-2.5-flash",
        "src": "bq://test-project.inputs.prompts",
        "config": {"dest": "bq://test-project.outputs"},
        "conn_id": VERTEX_CONN_ID,
        "destination": "unused",
        "save": False,
    }
    result = run_built_dag("create_then_save", "lineage_bq", **params)
    assert result.state == "success", result.output[-3000:]
    create = complete_events(lineage_events)["create"]
    table = result.value("create")["results"]["bigquery_table"]
    assert ids(create["inputs"]) == [("bigquery", "test-project.inputs.prompts")]
    assert ids(create["outputs"]) == [("bigquery", table[len("bq://") :])]
    assert create["run"]["facets"]["genaiBatchJob"]["requestCounts"]["succeeded"] == 2
