"""Completion policies through Airflow (``dag.test()``) against the emulator over sockets, both backends, worker
and deferred: open rows are resubmitted once as follow-up jobs and merged in input order by the results writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.links.genai_batch import JOB_NAME_XCOM_KEY
from tests.conftest import VERTEX_CONN_ID

N = 8
MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]
BACKENDS = ["gemini", "vertex"]


def _source(tmp_path: Path, backend: str) -> Any:
    """Gemini: a list of requests; Vertex: a local JSONL file (staged by the provider)."""
    if backend == "gemini":
        return [{"contents": f"prompt {i}", "metadata": {"key": f"k{i}"}} for i in range(N)]
    path = tmp_path / "requests.jsonl"
    lines = [
        {"request": {"contents": [{"role": "user", "parts": [{"text": f"prompt {i}"}]}]}, "key": f"k{i}"}
        for i in range(N)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def _dag(
    dag_id: str,
    src: Any,
    out: Path,
    *,
    backend: str,
    deferrable: bool,
    policy: str,
    retries: int = 0,
    max_failure_ratio: float = 0.0,
) -> str:
    conn = f", genai_batch_conn_id={VERTEX_CONN_ID!r}" if backend == "vertex" else ""
    return f"""# An airflow DAG (Airflow's safe mode parses only files mentioning both words).
import datetime as dt
from airflow.sdk import DAG
from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchWriteResultsOperator
from airflow_provider_genai_batch.policy.completion import CompletionPolicy

with DAG({dag_id!r}, schedule=None, start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), catchup=False,
         render_template_as_native_obj=True,
         default_args={{"retries": {retries}, "retry_delay": dt.timedelta(seconds=0)}}) as dag:
    create = GenAIBatchCreateJobOperator(
        task_id="create", model="gemini-2.5-flash", src={src!r}, deferrable={deferrable},
        poll_interval=0.1, min_poll_interval=0.1, max_failure_ratio={max_failure_ratio},
        completion={policy}{conn},
    )
    save = GenAIBatchWriteResultsOperator(
        task_id="save", name="{{{{ ti.xcom_pull('create') }}}}", destination={str(out)!r}{conn},
    )
    create >> save
"""


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_partial_then_expired_rows_are_resubmitted_once_and_merged_in_order(
    run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path, backend: str, deferrable: bool
) -> None:
    # Attempt 1: rows 1 and 4 fail retryably, row 6 with a 400. Attempt 2 (rows 1, 4) expires. Attempt 3 answers.
    fast_emulator.add_outcome(failed_requests={1: 429, 4: 503, 6: 400})
    fast_emulator.add_outcome("EXPIRED", expired_done=1)
    out = tmp_path / "results.jsonl"
    dag_id = f"completion_{backend}_{deferrable}"
    source = _dag(
        dag_id,
        _source(tmp_path, backend),
        out,
        backend=backend,
        deferrable=deferrable,
        policy="CompletionPolicy(max_attempts=3)",
        max_failure_ratio=0.2,
    )
    result = run_dag_file(dag_id, source)
    assert result.state == "success", result.output[-4000:]
    manifest = result.value("create")
    completion = manifest["completion"]
    assert [a["rows"] for a in completion["attempts"]] == [N, 2, 2]
    assert completion["rows"] == {"total": N, "answered": N - 1, "failed": 1, "given_up": 0}
    assert completion["failed_rows"] == [6]
    assert fast_emulator.stats()["jobs_created"] == 3
    lines = _lines(out)
    assert [line["index"] for line in lines] == list(range(N))
    attempts = {line["index"]: line["attempt"] for line in lines}
    assert attempts == {0: 1, 1: 3, 2: 1, 3: 1, 4: 3, 5: 1, 6: 1, 7: 1}
    assert lines[6]["error"]["code"] == 400 and "response" not in lines[6]
    assert all("echo" in json.dumps(line["response"]) for line in lines if line["index"] != 6)
    assert "prompt 4" in json.dumps(lines[4]["response"])  # row 4's answer, attributed back to its input position
    assert result.value("save")["results"] == N


def test_400_class_rows_are_not_resubmitted(run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path) -> None:
    fast_emulator.add_outcome(failed_requests={0: 400, 3: 404})
    out = tmp_path / "results.jsonl"
    source = _dag(
        "completion_400",
        _source(tmp_path, "gemini"),
        out,
        backend="gemini",
        deferrable=False,
        policy="CompletionPolicy(max_attempts=3)",
    )
    result = run_dag_file("completion_400", source)
    assert result.state == "failed"
    assert fast_emulator.stats()["jobs_created"] == 1
    assert "2 of 8 rows have no answer after 1 attempt(s)" in result.output
    assert "failed for good: [0, 3]" in result.output


@pytest.mark.parametrize("bound", ["max_attempts=2", "deadline=0.001", "max_tokens=1"])
def test_a_bound_stops_and_reports_the_missing_rows(
    run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path, bound: str
) -> None:
    fast_emulator.add_outcome(failed_requests={2: 429, 5: 500})
    fast_emulator.add_outcome(failed_requests={0: 429})  # attempt 2 (rows 2, 5): row 2 fails again
    out = tmp_path / "results.jsonl"
    dag_id = "completion_bound_" + bound.split("=")[0]
    source = _dag(
        dag_id,
        _source(tmp_path, "gemini"),
        out,
        backend="gemini",
        deferrable=False,
        policy=f"CompletionPolicy({bound})",
    )
    result = run_dag_file(dag_id, source)
    assert result.state == "failed"
    missing = "[2]" if bound == "max_attempts=2" else "[2, 5]"
    assert f"given up: {missing}" in result.output, result.output[-3000:]
    assert fast_emulator.stats()["jobs_created"] == (2 if bound == "max_attempts=2" else 1)
    manifest = result.value("create", "genai_batch_completion")
    assert manifest["completion"]["given_up_rows"] == json.loads(missing)


def test_a_crash_after_the_follow_up_create_pays_no_second_job(
    run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Try 1 creates attempt 2, loses the response and cannot look it up (the list fails), so the try fails.
    Try 2 reattaches to attempt 1 (ended) and finds attempt 2 by its derived key: two jobs in all."""
    fast_emulator.add_outcome(failed_requests={3: 429})
    # Creates: attempt 1 passes; attempt 2 is applied and its response dropped.
    fast_emulator.add_fault("apply_then_drop", method="POST", path=r":batchGenerateContent$", skip=1, count=1)
    # Lists: before attempt 1, after it, before attempt 2 pass; the 3 look-ups after the lost create fail.
    fast_emulator.add_fault("status", method="GET", path=r"/batches$", status=403, skip=3, count=3)
    out = tmp_path / "results.jsonl"
    source = _dag(
        "completion_crash",
        _source(tmp_path, "gemini"),
        out,
        backend="gemini",
        deferrable=False,
        policy="CompletionPolicy(max_attempts=3)",
        retries=1,
    )
    result = run_dag_file("completion_crash", source)
    assert result.state == "success", result.output[-4000:]
    assert result.try_numbers["create"] == 2
    assert fast_emulator.stats()["jobs_created"] == 2
    completion = result.value("create")["completion"]
    assert [a["rows"] for a in completion["attempts"]] == [N, 1]
    assert [line["attempt"] for line in _lines(out)] == [1, 1, 1, 2, 1, 1, 1, 1]


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stuck_attempt_is_cancelled_and_its_rows_resubmitted(
    run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path, backend: str, deferrable: bool
) -> None:
    """Attempt 1 never leaves PENDING: past ``pending_after`` it is cancelled (Vertex: CANCELLING, waited for) and
    its rows, all open, are attempt 2's. Every row is answered once, by attempt 2."""
    fast_emulator.add_outcome("STUCK_PENDING")
    out = tmp_path / "results.jsonl"
    dag_id = f"completion_stuck_resubmit_{backend}_{deferrable}"
    source = _dag(
        dag_id,
        _source(tmp_path, backend),
        out,
        backend=backend,
        deferrable=deferrable,
        policy="CompletionPolicy(max_attempts=2, on_stuck='resubmit', pending_after=0.3)",
    )
    result = run_dag_file(dag_id, source)
    assert result.state == "success", result.output[-4000:]
    completion = result.value("create")["completion"]
    assert [(a["rows"], a["state"]) for a in completion["attempts"]] == [
        (N, "JOB_STATE_CANCELLED"),
        (N, "JOB_STATE_SUCCEEDED"),
    ]
    assert completion["rows"] == {"total": N, "answered": N, "failed": 0, "given_up": 0}
    stats = fast_emulator.stats()
    assert stats["jobs_created"] == 2
    assert stats["cancels"][backend] == 1
    lines = _lines(out)
    assert [(line["index"], line["attempt"]) for line in lines] == [(i, 2) for i in range(N)]
    assert "Cancelling it to resubmit its rows (on_stuck='resubmit')" in result.output


@pytest.mark.parametrize("deferrable", MODES)
def test_a_stuck_attempt_fails_the_task_naming_the_job_and_what_to_do(
    run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path, deferrable: bool
) -> None:
    fast_emulator.add_outcome("STUCK_PENDING")
    out = tmp_path / "results.jsonl"
    dag_id = f"completion_stuck_fail_{deferrable}"
    source = _dag(
        dag_id,
        _source(tmp_path, "gemini"),
        out,
        backend="gemini",
        deferrable=deferrable,
        policy="CompletionPolicy(on_stuck='fail', pending_after=0.3)",
    )
    result = run_dag_file(dag_id, source)
    assert result.state == "failed"
    assert result.task_states["create"] == "failed"
    stats = fast_emulator.stats()
    assert stats["jobs_created"] == 1 and stats["cancels"]["gemini"] == 0  # left running, as the message says
    job_name = result.value("create", JOB_NAME_XCOM_KEY)
    assert "GenAIBatchJobStuckError" in result.output
    message = next(line for line in result.output.splitlines() if "on_stuck='fail'" in line)
    assert f"{job_name}: the job is stuck" in message
    assert "still PENDING" in message and "pending_after=0.3" in message
    assert f"PENDING, 0 of {N} requests succeeded, 0 failed" in message
    assert "on_stuck='resubmit'" in message and "raise stuck_after / pending_after" in message


def test_on_stuck_wait_keeps_waiting(run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path) -> None:
    """``on_stuck='wait'`` with a threshold: the job, slow to start, is waited for and nothing is cancelled."""
    fast_emulator.add_outcome(pending_seconds=1.0)
    out = tmp_path / "results.jsonl"
    source = _dag(
        "completion_stuck_wait",
        _source(tmp_path, "gemini"),
        out,
        backend="gemini",
        deferrable=False,
        policy="CompletionPolicy(on_stuck='wait', pending_after=0.1)",
    )
    result = run_dag_file("completion_stuck_wait", source)
    assert result.state == "success", result.output[-4000:]
    stats = fast_emulator.stats()
    assert stats["jobs_created"] == 1 and stats["cancels"]["gemini"] == 0
