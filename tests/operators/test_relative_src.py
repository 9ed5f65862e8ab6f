"""A relative local ``src`` (``"prompts.jsonl"``, ``"data/prompts.jsonl"``) is read from the DAG file's folder,
whatever the worker's working directory (issue 23); a missing one is refused naming where it was looked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle


def _dag_source(dag_id: str, src: str) -> str:
    """A DAG file defining its DAG itself (its ``fileloc`` is this file, in the dags folder)."""
    return (
        "# An airflow DAG.\n"
        "import datetime as dt\n"
        "from airflow.sdk import DAG\n"
        "from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator\n"
        f"with DAG({dag_id!r}, schedule=None, start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)) as dag:\n"
        f"    GenAIBatchCreateJobOperator(task_id='create', model='gemini-2.5-flash', src={src!r},\n"
        "                                poll_interval=0.1, min_poll_interval=0.1)\n"
    )


def _lines(*texts: str) -> str:
    return "".join(
        json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": t}]}]}, "metadata": {"key": t}}) + "\n"
        for t in texts
    )


@pytest.mark.parametrize("relative", ["prompts_rel.jsonl", "inputs_rel/prompts.jsonl", "./prompts_rel.jsonl"])
def test_a_relative_src_is_read_from_the_dag_folder(
    run_dag_file: Any,
    emulator: EmulatorHandle,
    dags_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    relative: str,
) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    target = dags_folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_lines("alpha", "beta"))
    monkeypatch.chdir(tmp_path)  # the worker's working directory is not the DAG folder
    dag_id = "relative_src_" + relative.replace("/", "_").replace(".", "_")
    try:
        result = run_dag_file(dag_id, _dag_source(dag_id, relative))
    finally:
        target.unlink()

    assert result.state == "success", result.output[-3000:]
    assert result.value("create")["request_counts"]["total"] == 2
    assert emulator.stats()["jobs_created"] == 1


def test_a_missing_relative_src_names_the_folder_it_was_looked_for_in(
    run_dag_file: Any, emulator: EmulatorHandle, dags_folder: Path
) -> None:
    result = run_dag_file("relative_src_missing", _dag_source("relative_src_missing", "nope.jsonl"))

    assert result.task_states["create"] == "failed"
    assert str(dags_folder / "nope.jsonl") in result.output
    assert "relative to the DAG file's folder" in result.output
    assert emulator.stats()["jobs_created"] == 0


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("prompts.jsonl", "/dags/prompts.jsonl"),
        ("sub/p.json", "/dags/sub/p.json"),
        ("/abs/p.jsonl", "/abs/p.jsonl"),
        ("files/abc", "files/abc"),
        ("~/p.jsonl", "~/p.jsonl"),
        ("gs://b/p.jsonl", "gs://b/p.jsonl"),
        ("file:///abs/p.jsonl", "file:///abs/p.jsonl"),
        ("bq://p.d.t", "bq://p.d.t"),
        (["prompts.jsonl"], ["prompts.jsonl"]),
    ],
)
def test_resolve_local_src(src: Any, expected: Any) -> None:
    from airflow_provider_genai_batch.operators._inputs import resolve_local_src

    assert resolve_local_src(src, "/dags/my_dag.py") == expected


def test_resolve_local_src_without_a_dag_file_leaves_the_path() -> None:
    from airflow_provider_genai_batch.operators._inputs import resolve_local_src

    assert resolve_local_src("prompts.jsonl", None) == "prompts.jsonl"
