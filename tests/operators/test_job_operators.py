"""Get, list, cancel, delete and write-results operators, and the sensor, through dag.test() and the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from tests.conftest import VERTEX_CONN_ID
from tests.timings import FAST

MANIFEST = "{{ ti.xcom_pull(task_ids='create') }}"
USAGE_ZERO = {"cached_tokens": 0, "thoughts_tokens": 0}
PROMPTS = [{"contents": "alpha", "metadata": {"key": "a"}}, {"contents": "beta", "metadata": {"key": "b"}}]


def submit(**kwargs: Any) -> dict[str, Any]:
    return {
        "class": "GenAIBatchCreateJobOperator",
        "task_id": "create",
        "model": "gemini-2.5-flash",
        "src": PROMPTS,
        "wait_for_completion": False,
        **kwargs,
    }


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_submit_then_sensor_then_write_results(
    run_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, deferrable: bool
) -> None:
    out = tmp_path / "out" / "results.jsonl"
    out.parent.mkdir()
    foreign = out.parent / ".results.jsonl.k1ll3d"  # not this writer's: left alone
    foreign.write_text('{"partial": ')
    tasks = [
        submit(),
        {
            "class": "GenAIBatchJobSensor",
            "task_id": "wait",
            "name": MANIFEST,
            "deferrable": deferrable,
            "poke_interval": 0.1,
            **FAST,
        },
        {"class": "GenAIBatchWriteResultsOperator", "task_id": "save", "name": MANIFEST, "destination": str(out)},
        {
            "class": "GenAIBatchGetJobOperator",
            "task_id": "get",
            "name": "{{ ti.xcom_pull(task_ids='create')['job_name'] }}",
        },
        {"class": "GenAIBatchDeleteJobOperator", "task_id": "delete", "name": MANIFEST},
    ]
    result = run_dag({"dag_id": f"pipeline_{deferrable}", "tasks": tasks})
    assert result.state == "success", result.output[-3000:]
    name = result.value("create")["job_name"]
    assert result.value("wait")["state"] == "JOB_STATE_SUCCEEDED"
    assert result.value("wait", "_link_GenAIBatchJobLink") == "https://aistudio.google.com/batches"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["key"] for line in lines] == ["a", "b"]
    assert sorted(p.name for p in out.parent.iterdir()) == [".results.jsonl.k1ll3d", "results.jsonl"]
    assert lines[0]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "echo: alpha"
    assert result.value("save") == {
        "job_name": name,
        "destination": str(out),
        "results": 2,
        "succeeded": 2,
        "failed": 0,
        "bytes": out.stat().st_size,
        "attribution": {"stamp": 2},  # every result tied to its request by the index stamp
        "usage": {  # the emulator's usageMetadata: one prompt word, "echo: <word>" answered, per request
            "by_model": {
                "gemini-2.5-flash": {
                    **USAGE_ZERO,
                    "requests": 2,
                    "prompt_tokens": 2,
                    "candidates_tokens": 4,
                    "total_tokens": 6,
                }
            },
            "total": {**USAGE_ZERO, "requests": 2, "prompt_tokens": 2, "candidates_tokens": 4, "total_tokens": 6},
        },
    }
    assert result.value("get")["job_name"] == name
    assert result.value("delete") == name
    assert fast_emulator.stats()["deletes"]["gemini"] == 1


def test_cancel_operator(run_dag: Any, fast_emulator: EmulatorHandle) -> None:
    fast_emulator.add_outcome("STUCK_PENDING")
    tasks = [submit(), {"class": "GenAIBatchCancelJobOperator", "task_id": "cancel", "name": MANIFEST}]
    result = run_dag({"dag_id": "cancel_op", "tasks": tasks})
    assert result.state == "success", result.output[-3000:]
    assert result.value("cancel")["state"] == "JOB_STATE_CANCELLED"
    assert fast_emulator.stats()["cancels"]["gemini"] == 1


def test_cancel_of_an_ended_job_is_a_no_op(run_dag: Any, fast_emulator: EmulatorHandle) -> None:
    job = GenAIBatchHook().create_job(model="gemini-2.5-flash", src=["x"])
    fast_emulator.finish_job(job.name)
    result = run_dag(
        {"dag_id": "cancel_done", "tasks": [{"class": "GenAIBatchCancelJobOperator", "task_id": "c", "name": job.name}]}
    )
    assert result.state == "success", result.output[-3000:]
    assert fast_emulator.stats()["cancels"]["gemini"] == 0


def test_list_operator(run_dag: Any, fast_emulator: EmulatorHandle) -> None:
    hook = GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID)
    for _ in range(3):
        hook.create_job(model="gemini-2.5-flash", src=PROMPTS, config={"display_name": "listed"})
    task = {
        "class": "GenAIBatchListJobsOperator",
        "task_id": "ls",
        "max_jobs": 2,
        "genai_batch_conn_id": VERTEX_CONN_ID,
    }
    result = run_dag({"dag_id": "list_op", "tasks": [task]})
    assert result.state == "success", result.output[-3000:]
    assert len(result.value("ls")) == 2
    assert all(m["backend"] == "vertex" for m in result.value("ls"))


def test_delete_of_a_missing_job(run_dag: Any, fast_emulator: EmulatorHandle) -> None:
    tasks = [
        {"class": "GenAIBatchDeleteJobOperator", "task_id": "tolerant", "name": "batches/missing"},
        {
            "class": "GenAIBatchDeleteJobOperator",
            "task_id": "strict",
            "name": "batches/missing",
            "ignore_missing": False,
        },
    ]
    result = run_dag({"dag_id": "delete_missing", "tasks": tasks})
    assert result.task_states == {"tolerant": "success", "strict": "failed"}


def test_write_results_of_an_unfinished_job_fails_clearly(
    run_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    fast_emulator.add_outcome("STUCK_PENDING")
    out = tmp_path / "never.jsonl"
    tasks = [
        submit(),
        {"class": "GenAIBatchWriteResultsOperator", "task_id": "save", "name": MANIFEST, "destination": str(out)},
    ]
    result = run_dag({"dag_id": "save_early", "tasks": tasks})
    assert result.task_states["save"] == "failed"
    assert "results exist only for a succeeded job" in result.output
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_write_vertex_results_to_object_storage_url(
    run_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    out = tmp_path / "vertex.jsonl"
    tasks = [
        submit(genai_batch_conn_id=VERTEX_CONN_ID, wait_for_completion=True, **FAST),
        {
            "class": "GenAIBatchWriteResultsOperator",
            "task_id": "save",
            "name": MANIFEST,
            "destination": f"file://{out}",
            "genai_batch_conn_id": VERTEX_CONN_ID,
        },
    ]
    result = run_dag({"dag_id": "save_vertex", "tasks": tasks})
    assert result.state == "success", result.output[-3000:]
    assert result.value("save")["results"] == 2
    assert len(out.read_text().splitlines()) == 2


def test_cancel_of_a_job_that_ends_meanwhile_reports_its_end(run_dag: Any, fast_emulator: EmulatorHandle) -> None:
    """Issue 20: a job that ended between the cancel operator's read and its cancel failed the task with
    ``400 FAILED_PRECONDITION``. The operator reads the job again and reports how it ended."""
    import threading
    import time

    fast_emulator.add_outcome("STUCK_PENDING")
    job = GenAIBatchHook().create_job(model="gemini-2.5-flash", src=["x"])
    # The cancel is held 3 s by the server; meanwhile (once it has arrived) the job succeeds.
    fast_emulator.add_fault("delay", method="POST", path=r":cancel$", delay_seconds=3.0, count=1)
    store = fast_emulator.app.store

    def finish_when_the_cancel_arrives() -> None:
        for _ in range(3000):
            if store.requests["gemini.batches.cancel"]:
                fast_emulator.finish_job(job.name)
                return
            time.sleep(0.01)

    finisher = threading.Thread(target=finish_when_the_cancel_arrives)
    finisher.start()
    cancel = {"class": "GenAIBatchCancelJobOperator", "task_id": "c", "name": job.name}
    result = run_dag({"dag_id": "cancel_race", "tasks": [cancel]})
    finisher.join()
    assert result.state == "success", result.output[-3000:]
    assert result.value("c")["state"] == "JOB_STATE_SUCCEEDED"
    assert "ended before it could be cancelled" in result.output
