"""JobWatch: the one set of decisions after each read, shared by the worker loop, the trigger and the sensor.

The worker loop is driven here against the emulator over real HTTP with a recorded sleep and clock; the trigger
runs the same decisions (tests/triggers), so both sequences are checked against the same expectations.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_provider_genai_batch.client.errors import NotFoundError, RateLimitError
from airflow_provider_genai_batch.client.models import BatchJob, JobState
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.operators._waiting import wait_for_job
from airflow_provider_genai_batch.operators.exceptions import GenAIBatchPollingError
from airflow_provider_genai_batch.policy.completion import StuckWatch
from airflow_provider_genai_batch.policy.polling import DecisionKind, PartialFailurePolicy, PollingSchedule
from airflow_provider_genai_batch.policy.waiting import JobWatch
from tests.conftest import GEMINI_CONN_ID

LOG = logging.getLogger("test_waiting")


def watch(deadline: float | None = 1000.0, budget: int = 3, **schedule: float) -> JobWatch:
    return JobWatch(
        "batches/a",
        started_at=0.0,
        deadline=deadline,
        schedule=PollingSchedule(**schedule),
        partial=PartialFailurePolicy(),
        max_consecutive_poll_errors=budget,
        log=LOG,
    )


def job(state: str, **stats: int) -> BatchJob:
    return BatchJob.model_validate({"name": "batches/a", "state": state, "batchStats": stats or None})


def rate_limited() -> RateLimitError:
    return RateLimitError(429, "RESOURCE_EXHAUSTED", "slow down")


class TestJobState:
    @pytest.mark.parametrize("state", list(JobState))
    def test_every_state_is_exactly_one_of_waiting_success_failure(self, state: JobState) -> None:
        kinds = [state.is_success, state.is_failure, not state.is_terminal]
        assert kinds.count(True) == 1

    def test_reattachable_is_neither_dead_nor_being_cancelled(self) -> None:
        assert {s for s in JobState if not s.is_reattachable} == {
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.EXPIRED,
            JobState.CANCELLING,
        }

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("BATCH_STATE_RUNNING", JobState.RUNNING), (JobState.FAILED, JobState.FAILED), (None, JobState.UNSPECIFIED)],
    )
    def test_coerce(self, raw: object, expected: JobState) -> None:
        assert JobState.coerce(raw) is expected


class TestObserve:
    def test_a_running_job_waits_on_the_schedule_and_logs_progress(self, caplog: pytest.LogCaptureFixture) -> None:
        w = watch()
        with caplog.at_level(logging.INFO, logger="test_waiting"):
            decision = w.observe(job("JOB_STATE_RUNNING", requestCount=4, successfulRequestCount=1), now=200.0)
        assert decision.kind is DecisionKind.WAIT and decision.wait_seconds == 10.0  # 5 % of 200 s
        assert "batches/a: RUNNING, 1/4 requests done (25.0%)" in caplog.text

    def test_a_finished_job_is_done_and_kept(self) -> None:
        w = watch()
        finished = job("JOB_STATE_SUCCEEDED")
        assert w.observe(finished, now=10.0).kind is DecisionKind.DONE
        assert w.job is finished

    def test_transient_errors_back_off_then_give_up_at_the_budget(self) -> None:
        w = watch(budget=3, min_interval=2.0, max_interval=60.0)
        waits = [w.observe(rate_limited(), now=1.0) for _ in range(2)]
        assert [d.wait_seconds for d in waits] == [2.0, 4.0]  # doubling from the schedule's floor
        last = w.observe(rate_limited(), now=1.0)
        assert last.kind is DecisionKind.FAILED and last.poll_error
        assert "polling failed (transient, 3 in a row)" in last.reason

    def test_a_successful_read_resets_the_budget(self) -> None:
        w = watch(budget=2)
        w.observe(rate_limited(), now=1.0)
        w.observe(job("JOB_STATE_RUNNING"), now=2.0)
        assert w.observe(rate_limited(), now=3.0).kind is DecisionKind.WAIT

    def test_a_permanent_error_gives_up_at_once(self) -> None:
        decision = watch().observe(NotFoundError(404, "NOT_FOUND", "no such job"), now=1.0)
        assert decision.poll_error and "permanent, 1 in a row" in decision.reason

    def test_an_error_past_the_deadline_gives_up(self) -> None:
        assert watch(deadline=10.0).observe(rate_limited(), now=11.0).poll_error

    def test_backoff_never_oversleeps_the_deadline(self) -> None:
        w = watch(deadline=10.0, budget=9, min_interval=1.0, max_interval=600.0)
        waits = [w.observe(rate_limited(), now=7.0).wait_seconds for _ in range(5)]
        assert max(waits) == 3.0

    def test_no_deadline_never_times_out(self) -> None:
        decision = watch(deadline=None).observe(job("JOB_STATE_PENDING"), now=10**9)
        assert decision.kind is DecisionKind.WAIT and decision.wait_seconds == 600.0


class Recorder:
    """A clock that advances by each recorded sleep (no real waiting)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def worker_watch(name: str, recorder: Recorder, deadline: float, budget: int = 3) -> JobWatch:
    return JobWatch(
        name,
        started_at=recorder.now,
        deadline=deadline,
        schedule=PollingSchedule(min_interval=1.0, max_interval=30.0),
        partial=PartialFailurePolicy(),
        max_consecutive_poll_errors=budget,
        log=LOG,
    )


@pytest.fixture
def no_retry_hook(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> GenAIBatchHook:
    from tests.conftest import set_connection

    connection: dict[str, Any] = {"conn_type": "genai_batch", "host": emulator.base_url, "password": emulator.api_key}
    connection["extra"] = {"max_retries": 0}
    set_connection(monkeypatch, "no_retry_watch", connection)
    return GenAIBatchHook(genai_batch_conn_id="no_retry_watch")


class TestWorkerLoop:
    def test_transient_errors_are_slept_off_then_the_job_is_read(
        self, emulator: EmulatorHandle, no_retry_hook: GenAIBatchHook
    ) -> None:
        name = GenAIBatchHook(genai_batch_conn_id=GEMINI_CONN_ID).create_job(model="gemini-2.5-flash", src=["x"]).name
        emulator.finish_job(name, "SUCCEEDED")
        emulator.add_fault("status", method="GET", path=r"/batches/[^/:]+$", status=503, count=2)
        recorder = Recorder()
        decision, read = wait_for_job(
            no_retry_hook, worker_watch(name, recorder, 1000.0), sleep=recorder.sleep, clock=recorder.clock
        )
        assert decision.kind is DecisionKind.DONE and read.state is JobState.SUCCEEDED
        assert recorder.sleeps == [1.0, 2.0]

    def test_a_spent_budget_raises_the_polling_error(
        self, emulator: EmulatorHandle, no_retry_hook: GenAIBatchHook
    ) -> None:
        name = GenAIBatchHook(genai_batch_conn_id=GEMINI_CONN_ID).create_job(model="gemini-2.5-flash", src=["x"]).name
        emulator.add_fault("status", method="GET", path=r"/batches/[^/:]+$", status=503, count=None)
        recorder = Recorder()
        w = worker_watch(name, recorder, 1000.0)
        with pytest.raises(GenAIBatchPollingError, match=r"transient, 3 in a row.*a retry of the task reattaches"):
            wait_for_job(no_retry_hook, w, sleep=recorder.sleep, clock=recorder.clock)
        assert emulator.stats()["faults_fired"]["total"] == 3


class TestStuck:
    """A completion policy's ``StuckWatch`` inside the watch: a waiting job without progress becomes FAILED
    with ``stuck=True``; a terminal state and the deadline win over it."""

    @staticmethod
    def stuck_watch(stuck_after: float | None = None, pending_after: float | None = None) -> JobWatch:
        w = watch(deadline=10_000.0)
        w.stuck = StuckWatch(stuck_after=stuck_after, pending_after=pending_after)
        return w

    @staticmethod
    def read(state: str, created: str | None = None, /, **stats: int) -> BatchJob:
        body: dict[str, Any] = {"name": "batches/a", "state": state, "batchStats": stats or None}
        if created is not None:
            body["createTime"] = created
        return BatchJob.model_validate(body)

    def test_counts_unchanged_past_stuck_after_is_stuck(self) -> None:
        w = self.stuck_watch(stuck_after=100)
        running = {"requestCount": 4, "successfulRequestCount": 1}
        assert w.observe(self.read("JOB_STATE_RUNNING", **running), now=0.0).kind is DecisionKind.WAIT
        assert w.observe(self.read("JOB_STATE_RUNNING", **running), now=99.0).kind is DecisionKind.WAIT
        decision = w.observe(self.read("JOB_STATE_RUNNING", **running), now=100.0)
        assert (decision.kind, decision.stuck, decision.timed_out) == (DecisionKind.FAILED, True, False)
        assert "no progress for 100 s (stuck_after=100)" in decision.reason

    def test_progress_restarts_the_count(self) -> None:
        w = self.stuck_watch(stuck_after=100)
        w.observe(self.read("JOB_STATE_RUNNING", requestCount=4, successfulRequestCount=1), now=0.0)
        moved = w.observe(self.read("JOB_STATE_RUNNING", requestCount=4, successfulRequestCount=2), now=90.0)
        assert moved.kind is DecisionKind.WAIT
        same = w.observe(self.read("JOB_STATE_RUNNING", requestCount=4, successfulRequestCount=2), now=189.0)
        assert same.kind is DecisionKind.WAIT and not same.stuck
        assert w.observe(self.read("JOB_STATE_RUNNING", requestCount=4, successfulRequestCount=2), now=190.0).stuck

    def test_pending_counts_from_the_jobs_creation(self) -> None:
        # Created at epoch 1000 (server time); first look at 1030: pending_after=60 fires at 1060, not 1090.
        w = self.stuck_watch(pending_after=60)
        created = "1970-01-01T00:16:40Z"
        assert not w.observe(self.read("JOB_STATE_PENDING", created), now=1030.0).stuck
        decision = w.observe(self.read("JOB_STATE_PENDING", created), now=1060.0)
        assert decision.stuck and "still PENDING 60 s after its creation (pending_after=60)" in decision.reason

    def test_a_running_job_is_not_pending_stuck(self) -> None:
        w = self.stuck_watch(pending_after=60)
        w.observe(self.read("JOB_STATE_PENDING"), now=0.0)
        assert w.observe(self.read("JOB_STATE_RUNNING", requestCount=2), now=500.0).kind is DecisionKind.WAIT

    def test_a_terminal_state_wins_over_stuck(self) -> None:
        w = self.stuck_watch(stuck_after=1)
        w.observe(self.read("JOB_STATE_RUNNING"), now=0.0)
        decision = w.observe(self.read("JOB_STATE_SUCCEEDED"), now=50.0)
        assert decision.kind is DecisionKind.DONE and not decision.stuck

    def test_the_deadline_wins_over_stuck(self) -> None:
        w = self.stuck_watch(stuck_after=1)
        w.observe(self.read("JOB_STATE_RUNNING"), now=0.0)
        decision = w.observe(self.read("JOB_STATE_RUNNING"), now=10_000.0)
        assert decision.timed_out and not decision.stuck

    def test_without_a_stuck_watch_a_job_waits_forever(self) -> None:
        w = watch(deadline=None)
        for now in (0.0, 1e6, 1e7):
            assert w.observe(self.read("JOB_STATE_PENDING"), now=now).kind is DecisionKind.WAIT
