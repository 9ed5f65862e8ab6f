"""Boundary: other tries of the same task instance. Retries and overlapping tries pay for one job.

Threat model actors: a retry of the task instance (after a failure, a lost worker or a timeout) and an
overlapping try (Airflow may start another try while a first one, whose heartbeat was lost, still runs).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_genai_batch.client.models import BatchJob
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator
from airflow_provider_genai_batch.operators._submission import CreateRequest, Submission, submit_create
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_timeout_with_retries_pays_for_one_job(run_dag: Any, emulator: EmulatorHandle, deferrable: bool) -> None:
    """Issue 20: ``timeout`` plus ``retries=2`` made 3 paid jobs in both modes (each try timed out, cancelled its
    job, and the next try submitted a new one). The timeout counts from the job's creation across tries: it
    cancels the one job and fails the task without retrying."""
    emulator.add_outcome("STUCK_PENDING", count=None)
    task = {
        "class": "GenAIBatchCreateJobOperator",
        "task_id": "create",
        "model": "gemini-2.5-flash",
        "src": ["a question"],
        "timeout": 1.0,
        "poll_interval": 0.2,
        "min_poll_interval": 0.1,
        "deferrable": deferrable,
    }
    result = run_dag({"dag_id": f"timeout_retries_{deferrable}", "tasks": [task], "retries": 2})
    assert result.state == "failed"
    assert emulator.stats()["jobs_created"] == 1
    assert result.try_numbers["create"] == 1
    assert "counts from the job's creation" in result.output
    jobs = emulator.stats()["jobs"]
    assert [job["state"] for job in jobs] == ["JOB_STATE_CANCELLED"]


def test_resubmit_on_timeout_is_the_explicit_way_to_pay_per_try(run_dag: Any, emulator: EmulatorHandle) -> None:
    emulator.add_outcome("STUCK_PENDING", count=None)
    task = {
        "class": "GenAIBatchCreateJobOperator",
        "task_id": "create",
        "model": "gemini-2.5-flash",
        "src": ["a question"],
        "timeout": 0.5,
        "poll_interval": 0.2,
        "min_poll_interval": 0.1,
        "resubmit_on_timeout": True,
    }
    result = run_dag({"dag_id": "timeout_resubmit", "tasks": [task], "retries": 1})
    assert result.state == "failed"
    assert result.try_numbers["create"] == 2
    assert emulator.stats()["jobs_created"] == 2


def test_the_deadline_counts_from_the_jobs_creation() -> None:
    operator = GenAIBatchCreateJobOperator(task_id="t", model="gemini-2.5-flash", src=["x"], timeout=3600)
    created = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
    job = BatchJob.model_validate(
        {"name": "batches/a", "state": "JOB_STATE_RUNNING", "createTime": created.isoformat()}
    )
    retry_start = created.timestamp() + 1800  # a retry, half an hour after the first try created the job
    assert operator._deadline(job, retry_start) == created.timestamp() + 3600
    per_try = GenAIBatchCreateJobOperator(
        task_id="t", model="gemini-2.5-flash", src=["x"], timeout=3600, resubmit_on_timeout=True
    )
    assert per_try._deadline(job, retry_start) == retry_start + 3600


@pytest.mark.parametrize("conn_id", [GEMINI_CONN_ID, VERTEX_CONN_ID], ids=["gemini", "vertex"])
def test_overlapping_tries_end_attached_to_one_surviving_job(emulator: EmulatorHandle, conn_id: str) -> None:
    """Issue 20: two overlapping tries of one task instance (a lost heartbeat) both looked up, found nothing and
    created: two paid jobs. Each try now checks its key again after its create: the earliest created job
    survives, the other is cancelled, and both tries continue with the survivor."""
    # Both creates are held 1.5 s by the server, so both look-ups run before either job exists.
    emulator.add_fault(
        "delay", method="POST", path=r"(:batchGenerateContent|/batchPredictionJobs)$", delay_seconds=1.5, count=2
    )
    emulator.add_outcome("STUCK_PENDING", count=None)
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="overlap", map_index=-1, try_number=1)
    request = CreateRequest(model="gemini-2.5-flash", src=["one question"], config=None, display_name=None)
    start = threading.Barrier(2)
    results: list[Submission | BaseException] = []

    def one_try(number: int) -> None:
        hook = GenAIBatchHook(genai_batch_conn_id=conn_id)
        hook.get_conn()
        start.wait()
        try:
            results.append(submit_create(hook, {"ti": ti}, request, log=logging.getLogger(f"try{number}")))
        except BaseException as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=one_try, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    submissions = [r for r in results if isinstance(r, Submission)]
    assert len(submissions) == 2, results
    assert emulator.stats()["jobs_created"] == 2  # both created: the overlap really happened
    survivor = {s.job.name for s in submissions}
    assert len(survivor) == 1, survivor
    states = {job["name"]: job["state"] for job in emulator.stats()["jobs"]}
    (name,) = survivor
    assert states.pop(name) == "JOB_STATE_PENDING"
    assert list(states.values()) in (["JOB_STATE_CANCELLED"], ["JOB_STATE_CANCELLING"])
