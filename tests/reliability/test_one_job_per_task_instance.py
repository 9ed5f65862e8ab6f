"""Exactly one job per task instance, also after a cleared run, with a list in another order, after the input
was rewritten, and after an ``execution_timeout`` with retries (issue 15 items 2, 3 and 5).

Everything runs through ``dag.test()`` against the emulator. Running ``dag.test()`` again with the same logical
date and ``run_after`` re-creates the run with the same run id; with :func:`runs_start_now` its ``start_date``
is the moment it runs (as the scheduler sets it for a cleared run), not the logical date ``dag.test()`` uses.
The emulator's clock is set behind the real one to make jobs look older than the re-run's start (the emulator
runs in this process: its store is at hand).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from tests.conftest import VERTEX_CONN_ID, set_clock_offset
from tests.timings import FAST

MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]
HOUR = 3600.0
LIST_ROUTE = "gemini.batches.list"


def create_task(**kwargs: Any) -> dict[str, Any]:
    return {"class": "GenAIBatchCreateJobOperator", "task_id": "create", "model": "gemini-2.5-flash", **FAST, **kwargs}


def spec(dag_id: str, *tasks: dict[str, Any], retries: int = 0) -> dict[str, Any]:
    return {"dag_id": dag_id, "tasks": list(tasks), "retries": retries}


def unrelated_jobs(count: int, conn_id: str = "genai_batch_default") -> None:
    """``count`` jobs of someone else in the same project."""
    hook = GenAIBatchHook(genai_batch_conn_id=conn_id)
    for index in range(count):
        hook.create_job(model="gemini-2.5-flash", src=[f"other {index}"], config={"display_name": f"other-{index}"})


def request_line(text: str) -> bytes:
    return json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}).encode() + b"\n"


def hours_ago(hours: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=hours)


def list_calls(emulator: EmulatorHandle) -> int:
    return int(emulator.stats()["requests"].get(LIST_ROUTE, 0))


class TestClearedRun:
    @pytest.mark.parametrize("deferrable", MODES)
    def test_a_cleared_run_with_25_jobs_in_between_reattaches(
        self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool, runs_start_now: None
    ) -> None:
        dag = spec(f"cleared_{deferrable}", create_task(src=["a question"], deferrable=deferrable))
        run_after = hours_ago(5)
        set_clock_offset(fast_emulator, -4 * HOUR)  # the first run and the 25 others happened 4 h ago
        first = run_dag(dag, logical_date=run_after)
        assert first.state == "success", first.output[-3000:]
        unrelated_jobs(25)
        set_clock_offset(fast_emulator, 0.0)  # the re-run starts now: its start_date is 4 h after those jobs
        second = run_dag(dag, logical_date=run_after)
        assert second.state == "success", second.output[-3000:]
        assert "found by idempotency key" in second.output  # the remote look-up, not a task state row
        assert fast_emulator.stats()["jobs_created"] == 26  # the first run's job and the 25 others: no second
        assert second.value("create")["reattached"] is True
        assert second.value("create")["job_name"] == first.value("create")["job_name"]
        # The reattached job is read again, not taken from the sparse list (no results location, stale counts there).
        for field in ("results", "request_counts", "state"):
            assert second.value("create")[field] == first.value("create")[field], field

    @pytest.mark.parametrize("deferrable", MODES)
    def test_an_oldest_first_list_still_finds_the_job(
        self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool, runs_start_now: None
    ) -> None:
        fast_emulator.configure(gemini_list_order="oldest_first")
        set_clock_offset(fast_emulator, -10 * HOUR)
        unrelated_jobs(130)  # older than the run: an oldest-first list shows them first (more than a page)
        set_clock_offset(fast_emulator, 0.0)
        dag = spec(f"reversed_{deferrable}", create_task(src=["a question"], deferrable=deferrable))
        run_after = hours_ago(1)
        first = run_dag(dag, logical_date=run_after)
        assert first.state == "success", first.output[-3000:]
        before = list_calls(fast_emulator)
        second = run_dag(dag, logical_date=run_after)
        assert second.state == "success", second.output[-3000:]
        assert fast_emulator.stats()["jobs_created"] == 131
        assert second.value("create")["reattached"] is True
        assert list_calls(fast_emulator) - before == 2  # pages of 100: the job is the 131st listed


class TestIncompleteLookUp:
    @pytest.mark.parametrize("deferrable", MODES)
    def test_a_failing_list_fails_the_try_and_creates_nothing(
        self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool
    ) -> None:
        fast_emulator.add_fault(
            "status", method="GET", path=r"/batches$", status=403, google_status="PERMISSION_DENIED", count=None
        )
        result = run_dag(spec(f"list_fails_{deferrable}", create_task(src=["q"], deferrable=deferrable)))
        assert result.state == "failed"
        assert fast_emulator.stats()["jobs_created"] == 0
        assert "LOOK-UP INCOMPLETE" in result.output
        assert "403" in result.output

    def test_a_spent_budget_fails_the_try_and_creates_nothing(
        self, run_dag: Any, fast_emulator: EmulatorHandle
    ) -> None:
        unrelated_jobs(120)
        result = run_dag(spec("budget_spent", create_task(src=["q"], lookup_max_jobs=50)))
        assert result.state == "failed"
        assert fast_emulator.stats()["jobs_created"] == 120
        assert "LOOK-UP INCOMPLETE" in result.output
        assert "read 50 jobs" in result.output

    def test_on_incomplete_lookup_create_creates_anyway(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        unrelated_jobs(120)
        task = create_task(src=["q"], lookup_max_jobs=50, on_incomplete_lookup="create")
        result = run_dag(spec("budget_spent_create", task))
        assert result.state == "success", result.output[-3000:]
        assert fast_emulator.stats()["jobs_created"] == 121
        assert "creating a job anyway" in result.output


class TestRewrittenInput:
    @pytest.mark.parametrize("deferrable", MODES)
    def test_local_file(self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool, tmp_path: Path) -> None:
        path = tmp_path / "requests.jsonl"
        path.write_bytes(request_line("first version"))
        dag = spec(f"local_rewritten_{deferrable}", create_task(src=str(path), deferrable=deferrable))
        run_after = hours_ago(1)
        first = run_dag(dag, logical_date=run_after)
        unchanged = run_dag(dag, logical_date=run_after)
        assert unchanged.value("create")["reattached"] is True
        assert fast_emulator.stats()["jobs_created"] == 1
        path.write_bytes(request_line("second version"))
        rewritten = run_dag(dag, logical_date=run_after)
        assert rewritten.state == "success", rewritten.output[-3000:]
        assert rewritten.value("create")["reattached"] is False
        assert rewritten.value("create")["job_name"] != first.value("create")["job_name"]
        assert fast_emulator.stats()["jobs_created"] == 2

    @pytest.mark.parametrize("deferrable", MODES)
    def test_gcs_object(self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool) -> None:
        fast_emulator.put_object("input-bucket", "in.jsonl", request_line("first version"))
        task = create_task(
            src="gs://input-bucket/in.jsonl",
            config={"dest": "gs://output-bucket/out"},
            genai_batch_conn_id=VERTEX_CONN_ID,
            deferrable=deferrable,
        )
        dag = spec(f"gcs_rewritten_{deferrable}", task)
        run_after = hours_ago(1)
        run_dag(dag, logical_date=run_after)
        unchanged = run_dag(dag, logical_date=run_after)
        assert unchanged.value("create")["reattached"] is True
        assert fast_emulator.stats()["jobs_created"] == 1
        fast_emulator.put_object("input-bucket", "in.jsonl", request_line("second version"))
        rewritten = run_dag(dag, logical_date=run_after)
        assert rewritten.state == "success", rewritten.output[-3000:]
        assert rewritten.value("create")["reattached"] is False
        assert fast_emulator.stats()["jobs_created"] == 2
        assert fast_emulator.stats()["requests"]["gcs.objects.get"] == 3  # one metadata read per run

    @pytest.mark.parametrize("deferrable", MODES)
    def test_files_api_file(
        self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool, tmp_path: Path
    ) -> None:
        from google import genai

        sdk = genai.Client(api_key=fast_emulator.api_key, http_options={"base_url": fast_emulator.base_url})
        path = tmp_path / "in.jsonl"
        path.write_bytes(request_line("first version"))
        sdk.files.upload(file=str(path), config={"name": "files/my-input", "mime_type": "application/jsonl"})
        dag = spec(f"files_rewritten_{deferrable}", create_task(src="files/my-input", deferrable=deferrable))
        run_after = hours_ago(1)
        run_dag(dag, logical_date=run_after)
        unchanged = run_dag(dag, logical_date=run_after)
        assert unchanged.value("create")["reattached"] is True
        assert fast_emulator.stats()["jobs_created"] == 1
        sdk.files.delete(name="files/my-input")
        path.write_bytes(request_line("second version"))
        sdk.files.upload(file=str(path), config={"name": "files/my-input", "mime_type": "application/jsonl"})
        rewritten = run_dag(dag, logical_date=run_after)
        assert rewritten.state == "success", rewritten.output[-3000:]
        assert rewritten.value("create")["reattached"] is False
        assert fast_emulator.stats()["jobs_created"] == 2


@pytest.fixture
def run_with_timeout(run_dag_file: Any) -> Any:
    """``run(spec, seconds) -> DagRunResult``: like ``run_dag``, with ``execution_timeout`` on the task "create"
    (a timedelta, which the JSON spec cannot carry)."""
    from tests.conftest import DagRunResult
    from tests.operators.dag_factory import dag_file_source

    def run(dag_spec: dict[str, Any], seconds: float) -> DagRunResult:
        source = (
            dag_file_source(dag_spec)
            + "import datetime\n"
            + f"dag.task_dict['create'].execution_timeout = datetime.timedelta(seconds={seconds!r})\n"
        )
        result: DagRunResult = run_dag_file(dag_spec["dag_id"], source)
        return result

    return run


class TestExecutionTimeout:
    def test_a_timed_out_try_with_retries_left_keeps_the_job_and_the_retry_reattaches(
        self, run_with_timeout: Any, fast_emulator: EmulatorHandle
    ) -> None:
        fast_emulator.configure(job_seconds=4.5)  # longer than one try's 3 s, shorter than two tries
        result = run_with_timeout(spec("timeout_retry", create_task(src=["slow"]), retries=1), 3.0)
        assert result.state == "success", result.output[-3000:]
        assert result.try_numbers["create"] == 2
        assert result.value("create")["reattached"] is True
        stats = fast_emulator.stats()
        assert stats["jobs_created"] == 1
        assert stats["requests"].get("gemini.batches.cancel", 0) == 0
        assert "the retry reattaches" in result.output

    def test_the_last_try_timing_out_cancels_the_job(
        self, run_with_timeout: Any, fast_emulator: EmulatorHandle
    ) -> None:
        fast_emulator.configure(job_seconds=30.0)
        result = run_with_timeout(spec("timeout_last_try", create_task(src=["slow"])), 1.5)
        assert result.state == "failed"
        stats = fast_emulator.stats()
        assert stats["jobs_created"] == 1
        assert stats["requests"]["gemini.batches.cancel"] == 1
