"""The create operators through Airflow (``dag.test()``) against the emulator, in both modes."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.links.genai_batch import JOB_NAME_XCOM_KEY, JOB_URL_XCOM_KEY
from tests.conftest import STAGING_BUCKET, VERTEX_CONN_ID
from tests.timings import FAST

PROMPTS = [{"contents": "alpha", "metadata": {"key": "a"}}, {"contents": "beta", "metadata": {"key": "b"}}]
MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]


def create_task(**kwargs: Any) -> dict[str, Any]:
    return {"class": "GenAIBatchCreateJobOperator", "task_id": "create", "model": "gemini-2.5-flash", **FAST, **kwargs}


def spec(dag_id: str, *tasks: dict[str, Any], retries: int = 0) -> dict[str, Any]:
    return {"dag_id": dag_id, "tasks": list(tasks), "retries": retries}


def request_line(text: str, key: str) -> bytes:
    body = {"request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}, "metadata": {"key": key}}
    return json.dumps(body).encode() + b"\n"


class TestSources:
    @pytest.mark.parametrize("deferrable", MODES)
    def test_gemini_inline(self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool) -> None:
        result = run_dag(spec(f"gemini_inline_{deferrable}", create_task(src=PROMPTS, deferrable=deferrable)))
        assert result.state == "success", result.output[-3000:]
        manifest = result.value("create")
        assert manifest["state"] == "JOB_STATE_SUCCEEDED"
        assert manifest["backend"] == "gemini"
        assert manifest["request_counts"] == {"total": 2, "succeeded": 2, "failed": 0, "pending": 0}
        assert manifest["results"]["kind"] == "inline" and manifest["results"]["inline_count"] == 2
        assert manifest["reattached"] is False
        assert manifest["idempotency_key"] and manifest["display_name"].endswith(manifest["idempotency_key"])
        assert manifest["display_name"].startswith("create--gbk-")
        assert result.value("create", JOB_NAME_XCOM_KEY) == manifest["job_name"]
        assert result.value("create", JOB_URL_XCOM_KEY) == "https://aistudio.google.com/batches"
        assert result.value("create", "_link_GenAIBatchJobLink") == "https://aistudio.google.com/batches"
        assert fast_emulator.stats()["jobs_created"] == 1
        assert "echo" not in json.dumps(manifest)  # results never in XCom

    @pytest.mark.parametrize("deferrable", MODES)
    def test_gemini_local_jsonl_is_uploaded(
        self, run_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, deferrable: bool
    ) -> None:
        source = tmp_path / "requests.jsonl"
        source.write_bytes(request_line("one", "k1") + request_line("two", "k2") + request_line("three", "k3"))
        result = run_dag(spec(f"gemini_file_{deferrable}", create_task(src=str(source), deferrable=deferrable)))
        assert result.state == "success", result.output[-3000:]
        manifest = result.value("create")
        assert manifest["results"]["kind"] == "file"
        assert manifest["request_counts"]["succeeded"] == 3
        assert fast_emulator.stats()["requests"]["files.upload.start"] == 1

    def test_gemini_uploaded_file_name(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

        file_name = GenAIBatchHook().upload_file(request_line("hello", "h"))
        result = run_dag(spec("gemini_files_name", create_task(src=file_name, deferrable=True)))
        assert result.state == "success", result.output[-3000:]
        assert result.value("create")["request_counts"]["succeeded"] == 1

    @pytest.mark.parametrize("deferrable", MODES)
    def test_vertex_gcs(self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool) -> None:
        fast_emulator.put_object("input-bucket", "in/requests.jsonl", request_line("x", "1") + request_line("y", "2"))
        task = create_task(
            src="gs://input-bucket/in/requests.jsonl",
            config={"dest": "gs://output-bucket/out", "labels": {"team": "ml"}},
            display_name="nightly {{ ds }}",
            genai_batch_conn_id=VERTEX_CONN_ID,
            deferrable=deferrable,
        )
        result = run_dag(spec(f"vertex_gcs_{deferrable}", task))
        assert result.state == "success", result.output[-3000:]
        manifest = result.value("create")
        assert manifest["backend"] == "vertex"
        assert manifest["state"] == "JOB_STATE_SUCCEEDED"
        assert manifest["results"]["kind"] == "gcs"
        assert manifest["results"]["gcs_output_directory"].startswith("gs://output-bucket/out/")
        assert re.fullmatch(r"nightly \d{4}-\d{2}-\d{2}--gbk-[0-9a-f]{24}", manifest["display_name"])
        assert manifest["console_url"].startswith(
            "https://console.cloud.google.com/vertex-ai/locations/us-central1/batch-predictions/"
        )
        job = fast_emulator.stats()["jobs"][0]
        assert job["labels"] == {"team": "ml", "genai-batch-key": manifest["idempotency_key"]}

    @pytest.mark.parametrize("deferrable", MODES)
    def test_vertex_bigquery(self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool) -> None:
        rows = [{"request": {"contents": [{"role": "user", "parts": [{"text": t}]}]}} for t in ("p", "q")]
        fast_emulator.put_table("bq://test-project.inputs.prompts", rows)
        task = create_task(
            src="bq://test-project.inputs.prompts",
            config={"dest": "bq://test-project.outputs"},
            genai_batch_conn_id=VERTEX_CONN_ID,
            deferrable=deferrable,
        )
        result = run_dag(spec(f"vertex_bq_{deferrable}", task))
        assert result.state == "success", result.output[-3000:]
        manifest = result.value("create")
        assert manifest["results"]["kind"] == "bigquery"
        assert manifest["results"]["bigquery_table"].startswith("bq://test-project.outputs.predictions_")

    @pytest.mark.parametrize("deferrable", MODES)
    def test_vertex_inline_is_staged(self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool) -> None:
        task = create_task(src=PROMPTS, genai_batch_conn_id=VERTEX_CONN_ID, deferrable=deferrable)
        result = run_dag(spec(f"vertex_inline_{deferrable}", task))
        assert result.state == "success", result.output[-3000:]
        assert fast_emulator.list_objects(STAGING_BUCKET, "staging/inputs/")
        assert result.value("create")["request_counts"]["succeeded"] == 2

    def test_src_from_an_upstream_xcom(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        upstream = {
            "class": "GenAIBatchListJobsOperator",
            "task_id": "prompts_source",
            "max_jobs": 1,
        }
        task = create_task(src="{{ [{'contents': 'from xcom ' ~ (ti.xcom_pull('prompts_source') | length)}] }}")
        result = run_dag(spec("xcom_src", upstream, task))
        assert result.state == "success", result.output[-3000:]
        assert result.value("create")["request_counts"]["succeeded"] == 1

    @pytest.mark.parametrize("deferrable", MODES)
    def test_embeddings(self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool) -> None:
        task = {
            "class": "GenAIBatchCreateEmbeddingsJobOperator",
            "task_id": "create",
            "model": "gemini-embedding-001",
            "src": ["hello", "world", "again"],
            "deferrable": deferrable,
            **FAST,
        }
        result = run_dag(spec(f"embeddings_{deferrable}", task))
        assert result.state == "success", result.output[-3000:]
        assert result.value("create")["request_counts"]["succeeded"] == 3


class TestExactlyOnce:
    @pytest.mark.parametrize("deferrable", MODES)
    def test_rerun_of_the_same_task_instance_reattaches(
        self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool
    ) -> None:
        same_run = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
        dag = spec(f"rerun_{deferrable}", create_task(src=PROMPTS, deferrable=deferrable))
        first = run_dag(dag, logical_date=same_run)
        second = run_dag(dag, logical_date=same_run)
        assert first.state == second.state == "success", second.output[-3000:]
        assert first.run_id == second.run_id
        assert second.value("create")["job_name"] == first.value("create")["job_name"]
        assert second.value("create")["reattached"] is True
        assert fast_emulator.stats()["jobs_created"] == 1

    def test_a_different_run_creates_a_new_job(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        dag = spec("two_runs", create_task(src=PROMPTS))
        run_dag(dag, logical_date=dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
        run_dag(dag, logical_date=dt.datetime(2025, 3, 2, tzinfo=dt.UTC))
        assert fast_emulator.stats()["jobs_created"] == 2

    def test_vertex_rerun_reattaches_by_label(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        same_run = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
        dag = spec("vertex_rerun", create_task(src=PROMPTS, genai_batch_conn_id=VERTEX_CONN_ID))
        run_dag(dag, logical_date=same_run)
        second = run_dag(dag, logical_date=same_run)
        assert second.value("create")["reattached"] is True
        assert fast_emulator.stats()["jobs_created"] == 1

    def test_failed_job_is_not_reattached(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        same_run = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
        fast_emulator.add_outcome("FAILED", error_message="quota exceeded for model")
        dag = spec("failed_then_new", create_task(src=PROMPTS))
        first = run_dag(dag, logical_date=same_run)
        assert first.task_states["create"] == "failed"
        second = run_dag(dag, logical_date=same_run)
        assert second.state == "success", second.output[-3000:]
        assert second.value("create")["reattached"] is False
        assert fast_emulator.stats()["jobs_created"] == 2

    @pytest.mark.parametrize("deferrable", MODES)
    def test_create_applied_then_response_dropped_makes_one_job(
        self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool
    ) -> None:
        fast_emulator.add_fault("apply_then_drop", method="POST", path="batchGenerateContent", count=1)
        result = run_dag(spec(f"dropped_{deferrable}", create_task(src=PROMPTS, deferrable=deferrable)))
        assert result.state == "success", result.output[-3000:]
        assert fast_emulator.stats()["faults_fired"]["total"] == 1
        assert fast_emulator.stats()["jobs_created"] == 1
        assert result.try_numbers["create"] == 1

    def test_vertex_create_applied_then_dropped(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        fast_emulator.add_fault("apply_then_drop", method="POST", path="batchPredictionJobs$", count=1)
        task = create_task(src=PROMPTS, genai_batch_conn_id=VERTEX_CONN_ID)
        result = run_dag(spec("vertex_dropped", task))
        assert result.state == "success", result.output[-3000:]
        assert fast_emulator.stats()["jobs_created"] == 1

    @pytest.mark.parametrize("deferrable", MODES)
    def test_retry_after_a_failed_try_reattaches(
        self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool
    ) -> None:
        # The first read of the job after the create is refused: try 1 fails, try 2 finds the job by its key.
        fast_emulator.add_fault("status", method="GET", path=r"/batches/[^/]+$", status=403, count=1)
        result = run_dag(spec(f"retry_{deferrable}", create_task(src=PROMPTS, deferrable=deferrable), retries=1))
        assert result.state == "success", result.output[-3000:]
        assert result.try_numbers["create"] == 2
        assert result.value("create")["reattached"] is True
        stats = fast_emulator.stats()
        assert stats["jobs_created"] == 1
        # Try 1: the look-up before the create and the duplicate check after it. Airflow 3.3+: try 2 reads the job
        # name from the task state store and skips the remote look-up.
        assert stats["requests"]["gemini.batches.list"] == (2 if AIRFLOW_V_3_3_PLUS else 3)

    def test_mapped_tasks_get_one_job_each(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        same_run = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
        task = {**create_task(), "expand": {"src": [[{"contents": "one"}], [{"contents": "two"}]]}}
        dag = spec("mapped", task)
        first = run_dag(dag, logical_date=same_run)
        assert first.state == "success", first.output[-3000:]
        run_dag(dag, logical_date=same_run)
        jobs = fast_emulator.stats()["jobs"]
        assert fast_emulator.stats()["jobs_created"] == 2
        assert len({job["display_name"] for job in jobs}) == 2

    def test_a_5xx_on_create_that_created_nothing_is_sent_again_in_the_same_try(
        self, run_dag: Any, fast_emulator: EmulatorHandle
    ) -> None:
        fast_emulator.add_fault("status", method="POST", path="batchGenerateContent", status=500, count=1)
        result = run_dag(spec("create_500", create_task(src=PROMPTS), retries=1))
        assert result.state == "success", result.output[-3000:]
        assert result.try_numbers["create"] == 1
        assert "may have reached the server" in result.output
        assert "the create was not applied; creating again" in result.output
        assert fast_emulator.stats()["jobs_created"] == 1

    def test_a_5xx_on_create_with_failing_look_ups_leaves_it_to_the_retry(
        self, run_dag: Any, fast_emulator: EmulatorHandle
    ) -> None:
        """When no look-up can tell whether the create was applied, nothing is created again in this try."""
        fast_emulator.add_fault("status", method="POST", path="batchGenerateContent", status=500, count=1)
        fast_emulator.add_fault("status", method="GET", path="/batches$", status=403, count=3, skip=1)
        result = run_dag(spec("create_500_lookups_fail", create_task(src=PROMPTS), retries=1))
        assert result.state == "success", result.output[-3000:]
        assert result.try_numbers["create"] == 2
        assert "no look-up could tell whether it was applied" in result.output
        assert fast_emulator.stats()["jobs_created"] == 1

    def test_force_rerun_submits_again(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        same_run = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
        dag = spec("forced", create_task(src=PROMPTS, force_rerun=True))
        run_dag(dag, logical_date=same_run)
        run_dag(dag, logical_date=same_run)
        assert fast_emulator.stats()["jobs_created"] == 2


class TestOutcomes:
    @pytest.mark.parametrize("deferrable", MODES)
    @pytest.mark.parametrize("final_state", ["FAILED", "EXPIRED", "CANCELLED"])
    def test_failed_jobs_fail_the_task_with_the_jobs_error(
        self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool, final_state: str
    ) -> None:
        fast_emulator.add_outcome(final_state, error_message="the quota ran out")  # type: ignore[arg-type]
        result = run_dag(spec(f"fails_{final_state}_{deferrable}", create_task(src=PROMPTS, deferrable=deferrable)))
        assert result.task_states["create"] == "failed"
        assert f"job ended in {final_state}" in result.output
        assert "GenAIBatchJobFailedError" in result.output
        if final_state == "FAILED":
            assert "the quota ran out" in result.output
        assert result.value("create", JOB_NAME_XCOM_KEY)  # the job name was pushed before the wait

    @pytest.mark.parametrize("deferrable", MODES)
    def test_gemini_failed_requests_follow_the_ratio(
        self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool
    ) -> None:
        prompts = [{"contents": "fine"}, {"contents": "EMULATOR_FAIL please"}]
        strict = run_dag(spec(f"strict_{deferrable}", create_task(src=prompts, deferrable=deferrable)))
        assert strict.task_states["create"] == "failed"
        assert "1 of 2 requests failed" in strict.output
        lenient = run_dag(
            spec(f"lenient_{deferrable}", create_task(src=prompts, deferrable=deferrable, max_failure_ratio=0.5))
        )
        assert lenient.state == "success", lenient.output[-3000:]
        assert lenient.value("create")["request_counts"]["failed"] == 1

    @pytest.mark.parametrize("deferrable", MODES)
    def test_timeout_cancels_the_job(self, run_dag: Any, fast_emulator: EmulatorHandle, deferrable: bool) -> None:
        fast_emulator.add_outcome("STUCK_PENDING")
        result = run_dag(spec(f"timeout_{deferrable}", create_task(src=PROMPTS, deferrable=deferrable, timeout=0.5)))
        assert result.task_states["create"] == "failed"
        assert "GenAIBatchTaskTimeoutError" in result.output  # a GenAIBatchJobTimeoutError that is not retried
        assert fast_emulator.stats()["cancels"]["gemini"] == 1

    def test_timeout_without_cancel(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        fast_emulator.add_outcome("STUCK_PENDING")
        task = create_task(src=PROMPTS, timeout=0.3, cancel_on_timeout=False)
        result = run_dag(spec("timeout_keep", task))
        assert result.task_states["create"] == "failed"
        assert fast_emulator.stats()["cancels"]["gemini"] == 0

    def test_no_wait_returns_at_once(self, run_dag: Any, fast_emulator: EmulatorHandle) -> None:
        fast_emulator.add_outcome("STUCK_PENDING")
        result = run_dag(spec("no_wait", create_task(src=PROMPTS, wait_for_completion=False)))
        assert result.state == "success", result.output[-3000:]
        assert result.value("create")["state"] == "JOB_STATE_PENDING"
        assert fast_emulator.stats()["requests"].get("gemini.batches.get", 0) == 0

    @pytest.mark.parametrize(
        ("task", "named"),
        [
            (create_task(src="gs://bucket-name/x.jsonl"), "src"),
            (create_task(src=[], deferrable=True), "src"),
            (create_task(src=PROMPTS, model=""), "model"),
            (create_task(src=PROMPTS, config={"dest": "gs://b/x"}), "config.dest"),
            (create_task(src=[{"contents": "x", "metadata": {"key": 1}}]), "metadata"),
        ],
    )
    def test_bad_input_fails_before_any_request(
        self, run_dag: Any, fast_emulator: EmulatorHandle, task: dict[str, Any], named: str
    ) -> None:
        result = run_dag(spec(f"bad_input_{abs(hash(json.dumps(task, sort_keys=True)))}", task))
        assert result.task_states["create"] == "failed"
        assert named in result.output
        assert fast_emulator.stats()["requests"] == {}


def test_on_kill_cancels_in_sync_mode(fast_emulator: EmulatorHandle) -> None:
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator

    fast_emulator.add_outcome("STUCK_PENDING")
    job = GenAIBatchHook().create_job(model="gemini-2.5-flash", src=["x"])
    operator = GenAIBatchCreateJobOperator(task_id="t", model="m", src=["x"])
    operator.on_kill()  # no job yet: nothing to cancel
    operator._job_name = job.name
    operator.on_kill()
    assert fast_emulator.stats()["cancels"]["gemini"] == 1
    keep = GenAIBatchCreateJobOperator(task_id="k", model="m", src=["x"], cancel_on_kill=False)
    keep._job_name = job.name
    keep.on_kill()
    assert fast_emulator.stats()["cancels"]["gemini"] == 1


def test_no_secret_in_logs_or_xcom(run_dag: Any, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import GEMINI_CONN_ID, gemini_connection, set_connection, vertex_connection

    api_key = "AIzaSy-distinctive-secret-4242"
    token = "ya29.distinctive-token-4242"
    emulator.configure(api_key=api_key, job_seconds=0.2, pending_seconds=0.05)
    set_connection(monkeypatch, GEMINI_CONN_ID, gemini_connection(emulator))
    vertex = vertex_connection(emulator)
    vertex["extra"]["access_token"] = token
    set_connection(monkeypatch, VERTEX_CONN_ID, vertex)
    tasks = [
        create_task(src=PROMPTS, deferrable=True),
        {**create_task(src=PROMPTS, genai_batch_conn_id=VERTEX_CONN_ID), "task_id": "vertex"},
    ]
    result = run_dag(spec("no_secrets", *tasks))
    assert result.state == "success", result.output[-3000:]
    everything = result.output + json.dumps(result.xcoms, default=str)
    assert api_key not in everything
    assert token not in everything
