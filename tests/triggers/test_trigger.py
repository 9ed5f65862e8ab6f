"""GenAIBatchJobTrigger against the emulator over real HTTP: one event per terminal state, transient errors,
timeouts, serialization without secrets, and on_kill that cancels only a task that really ended."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_provider_genai_batch.client.models import BatchJob
from airflow_provider_genai_batch.compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks import client_cache
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.policy.events import validate_event
from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID
from tests.timings import FAST


@pytest.fixture(autouse=True)
async def _close_async_clients() -> Any:
    yield
    await client_cache.close_loop_clients()


def create_job(conn_id: str = GEMINI_CONN_ID, prompts: list[str] | None = None) -> BatchJob:
    hook = GenAIBatchHook(genai_batch_conn_id=conn_id)
    if conn_id == VERTEX_CONN_ID:
        return hook.create_job(model="gemini-2.5-flash", src=prompts or ["a", "b"], config={"display_name": "t"})
    return hook.create_job(model="gemini-2.5-flash", src=prompts or ["a", "b"])


def trigger_for(job_name: str, conn_id: str = GEMINI_CONN_ID, **kwargs: Any) -> GenAIBatchJobTrigger:
    params: dict[str, Any] = {"deadline": time.time() + 30, **FAST, **kwargs}
    return GenAIBatchJobTrigger(genai_batch_conn_id=conn_id, job_name=job_name, **params)


async def all_events(trigger: GenAIBatchJobTrigger) -> list[TriggerEvent]:
    return [event async for event in trigger.run()]


class TestSerialization:
    def test_round_trip_is_exact(self) -> None:
        trigger = GenAIBatchJobTrigger(
            genai_batch_conn_id="c",
            job_name="batches/a",
            deadline=1_900_000_000.5,
            started_at=1_800_000_000.0,
            poll_interval=30,
            min_poll_interval=2,
            max_failure_ratio=0.1,
            max_consecutive_poll_errors=3,
            cancel_on_kill=True,
            webhook_fallback_interval=900,
            webhook_armed=True,
        )
        classpath, kwargs = trigger.serialize()
        assert classpath == "airflow_provider_genai_batch.triggers.genai_batch.GenAIBatchJobTrigger"
        assert kwargs == {
            "genai_batch_conn_id": "c",
            "job_name": "batches/a",
            "deadline": 1_900_000_000.5,
            "started_at": 1_800_000_000.0,
            "poll_interval": 30,
            "min_poll_interval": 2,
            "max_failure_ratio": 0.1,
            "max_consecutive_poll_errors": 3,
            "cancel_on_kill": True,
            "webhook_fallback_interval": 900,
            "webhook_armed": True,
        }
        assert json.loads(json.dumps(kwargs)) == kwargs  # stored in the metadata DB: plain JSON types only
        rebuilt = GenAIBatchJobTrigger(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)

    def test_kwargs_of_a_trigger_serialized_before_the_webhook_fallback_rebuild(self) -> None:
        """kwargs stored by the previous release (no ``webhook_fallback_interval``, no ``webhook_armed``) rebuild a
        trigger with the defaults, not armed."""
        old = {"genai_batch_conn_id": "c", "job_name": "j", "deadline": 1.0, "started_at": 0.0, "poll_interval": 60}
        rebuilt = GenAIBatchJobTrigger(**old)
        _, kwargs = rebuilt.serialize()
        assert kwargs["webhook_fallback_interval"] == 1800.0 and "webhook_armed" not in kwargs
        assert not rebuilt.webhook_armed

    def test_stuck_thresholds_round_trip_only_when_set(self) -> None:
        trigger = GenAIBatchJobTrigger(
            genai_batch_conn_id="c", job_name="batches/a", deadline=1.0, started_at=0.0, stuck_after=60, pending_after=5
        )
        classpath, kwargs = trigger.serialize()
        assert (kwargs["stuck_after"], kwargs["pending_after"]) == (60.0, 5.0)
        assert GenAIBatchJobTrigger(**kwargs).serialize() == (classpath, kwargs)
        _, plain = GenAIBatchJobTrigger(genai_batch_conn_id="c", job_name="j", deadline=1.0).serialize()
        assert "stuck_after" not in plain and "pending_after" not in plain

    def test_started_at_defaults_to_now_and_is_then_fixed(self) -> None:
        before = time.time()
        _, kwargs = GenAIBatchJobTrigger(genai_batch_conn_id="c", job_name="j", deadline=before + 1).serialize()
        assert before <= kwargs["started_at"] <= time.time()

    def test_kwargs_hold_no_secret(self, emulator: EmulatorHandle) -> None:
        hook = GenAIBatchHook()
        hook.get_conn()  # the hook has read the key; the trigger must still not carry it
        _, kwargs = trigger_for("batches/a").serialize()
        text = json.dumps(kwargs)
        assert emulator.api_key not in text
        assert set(kwargs) <= {
            "genai_batch_conn_id",
            "job_name",
            "deadline",
            "started_at",
            "poll_interval",
            "min_poll_interval",
            "max_failure_ratio",
            "max_consecutive_poll_errors",
            "cancel_on_kill",
            "webhook_fallback_interval",
            "webhook_armed",
        }
        assert "emulator-token" not in repr(trigger_for("j", VERTEX_CONN_ID))

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"poll_interval": 0}, "poll_interval"),
            ({"max_failure_ratio": 3}, "max_failure_ratio"),
            ({"stuck_after": 0}, "stuck_after"),
            ({"pending_after": "1h"}, "pending_after"),
            ({"webhook_fallback_interval": 0}, "webhook_fallback_interval"),
            ({"webhook_armed": "yes"}, "webhook_armed"),
            ({"cancel_on_kill": "false"}, "cancel_on_kill"),
        ],
    )
    def test_bad_policy_fails_at_construction(self, kwargs: dict[str, Any], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            GenAIBatchJobTrigger(genai_batch_conn_id="c", job_name="j", deadline=1.0, **kwargs)


class TestTerminalStates:
    @pytest.mark.parametrize(
        ("final_state", "status", "state"),
        [
            ("SUCCEEDED", "success", "JOB_STATE_SUCCEEDED"),
            ("FAILED", "error", "JOB_STATE_FAILED"),
            ("CANCELLED", "error", "JOB_STATE_CANCELLED"),
            ("EXPIRED", "error", "JOB_STATE_EXPIRED"),
            ("PARTIALLY_SUCCEEDED", "error", "JOB_STATE_SUCCEEDED"),  # Gemini: SUCCEEDED with failed requests
        ],
    )
    async def test_gemini_exactly_one_event(
        self, fast_emulator: EmulatorHandle, final_state: str, status: str, state: str
    ) -> None:
        fast_emulator.add_outcome(final_state, error_message="the model is on fire")  # type: ignore[arg-type]
        job = create_job()
        events = await all_events(trigger_for(job.name))
        assert len(events) == 1
        event = validate_event(events[0].payload)
        assert (event.status, event.state, event.job_name) == (status, state, job.name)
        assert event.manifest is not None and event.manifest["job_name"] == job.name
        if final_state == "FAILED":
            assert "the model is on fire" in event.reason
        if final_state == "PARTIALLY_SUCCEEDED":
            assert "max_failure_ratio" in event.reason

    @pytest.mark.parametrize(
        ("final_state", "status", "state"),
        [
            ("SUCCEEDED", "success", "JOB_STATE_SUCCEEDED"),
            ("PARTIALLY_SUCCEEDED", "error", "JOB_STATE_PARTIALLY_SUCCEEDED"),
            ("FAILED", "error", "JOB_STATE_FAILED"),
            ("CANCELLED", "error", "JOB_STATE_CANCELLED"),
            ("EXPIRED", "error", "JOB_STATE_EXPIRED"),
        ],
    )
    async def test_vertex_exactly_one_event(
        self, fast_emulator: EmulatorHandle, final_state: str, status: str, state: str
    ) -> None:
        fast_emulator.add_outcome(final_state)  # type: ignore[arg-type]
        job = create_job(VERTEX_CONN_ID)
        events = await all_events(trigger_for(job.name, VERTEX_CONN_ID))
        assert len(events) == 1
        event = validate_event(events[0].payload)
        assert (event.status, event.state) == (status, state)

    async def test_partial_success_within_the_ratio_succeeds(self, fast_emulator: EmulatorHandle) -> None:
        fast_emulator.add_outcome("PARTIALLY_SUCCEEDED", failed_requests=[0])
        job = create_job(VERTEX_CONN_ID, prompts=["a", "b", "c", "d"])
        events = await all_events(trigger_for(job.name, VERTEX_CONN_ID, max_failure_ratio=0.25))
        event = validate_event(events[0].payload)
        assert event.status == "success"
        assert event.manifest is not None
        assert event.manifest["request_counts"] == {"total": 4, "succeeded": 3, "failed": 1, "pending": 0}
        assert event.manifest["results"]["kind"] == "gcs"

    async def test_manifest_carries_the_console_link_and_results(self, fast_emulator: EmulatorHandle) -> None:
        job = create_job()
        event = validate_event((await all_events(trigger_for(job.name)))[0].payload)
        assert event.manifest is not None
        assert event.manifest["console_url"] == "https://aistudio.google.com/batches"
        assert event.manifest["results"] == {
            "kind": "inline",
            "inline_count": 2,
            "file_name": None,
            "gcs_output_directory": None,
            "bigquery_table": None,
        }


class TestTimeAndErrors:
    async def test_timeout_at_the_wall_clock_deadline(self, fast_emulator: EmulatorHandle) -> None:
        fast_emulator.add_outcome("STUCK_PENDING")
        job = create_job()
        events = await all_events(trigger_for(job.name, deadline=time.time() + 0.3))
        event = validate_event(events[0].payload)
        assert len(events) == 1
        assert event.status == "timeout"
        assert event.state == "JOB_STATE_PENDING"
        assert fast_emulator.stats()["cancels"]["gemini"] == 0  # the trigger only reads

    @pytest.mark.parametrize("conn_id", [GEMINI_CONN_ID, VERTEX_CONN_ID])
    async def test_a_job_pending_past_pending_after_gives_one_stuck_event_and_is_not_cancelled(
        self, fast_emulator: EmulatorHandle, conn_id: str
    ) -> None:
        fast_emulator.add_outcome("STUCK_PENDING")
        job = create_job(conn_id)
        events = await all_events(trigger_for(job.name, conn_id, deadline=time.time() + 60, pending_after=0.2))
        assert len(events) == 1
        event = validate_event(events[0].payload)
        assert (event.status, event.state, event.job_name) == ("stuck", "JOB_STATE_PENDING", job.name)
        assert "still PENDING" in event.reason and "pending_after=0.2" in event.reason
        assert sum(fast_emulator.stats()["cancels"].values()) == 0  # the trigger only reads; the worker decides

    async def test_a_running_job_without_progress_gives_a_stuck_event(self, fast_emulator: EmulatorHandle) -> None:
        # A job heading to FAILED reports every request pending while it runs: its counts never move.
        fast_emulator.add_outcome("FAILED", job_seconds=600)
        job = create_job()
        events = await all_events(trigger_for(job.name, deadline=time.time() + 60, stuck_after=0.3))
        event = validate_event(events[0].payload)
        assert (event.status, event.state) == ("stuck", "JOB_STATE_RUNNING")
        assert "no progress" in event.reason

    async def test_deadline_already_past_still_reads_the_job_once(self, fast_emulator: EmulatorHandle) -> None:
        job = create_job()
        fast_emulator.finish_job(job.name)
        events = await all_events(trigger_for(job.name, deadline=time.time() - 10))
        assert validate_event(events[0].payload).status == "success"

    async def test_transient_errors_are_survived(
        self, fast_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from tests.conftest import gemini_connection, set_connection

        set_connection(monkeypatch, GEMINI_CONN_ID, {**gemini_connection(fast_emulator), "extra": {"max_retries": 0}})
        job = create_job()
        fast_emulator.add_fault("status", method="GET", path="/batches/", status=503, count=3)
        fast_emulator.add_fault("drop", method="GET", path="/batches/", count=1)
        trigger = trigger_for(job.name, max_consecutive_poll_errors=5)
        events = await all_events(trigger)
        assert validate_event(events[0].payload).status == "success"
        assert fast_emulator.stats()["faults_fired"]["total"] == 4

    async def test_too_many_transient_errors_give_up(
        self, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from tests.conftest import gemini_connection, set_connection

        set_connection(monkeypatch, GEMINI_CONN_ID, {**gemini_connection(emulator), "extra": {"max_retries": 0}})
        job = create_job()
        emulator.add_fault("status", method="GET", path="/batches/", status=429, count=None)
        trigger = trigger_for(job.name, max_consecutive_poll_errors=2)
        events = await all_events(trigger)
        event = validate_event(events[0].payload)
        assert len(events) == 1
        assert event.status == "error"
        assert event.state is None
        assert "RateLimitError" in event.reason and "2 in a row" in event.reason

    async def test_permanent_error_fails_at_once(self, emulator: EmulatorHandle) -> None:
        events = await all_events(trigger_for("batches/does-not-exist"))
        event = validate_event(events[0].payload)
        assert event.status == "error"
        assert "NotFoundError" in event.reason and "permanent" in event.reason
        assert emulator.stats()["requests"]["gemini.batches.get"] == 1

    async def test_progress_is_logged_at_each_poll(
        self, fast_emulator: EmulatorHandle, capsys: pytest.CaptureFixture[str]
    ) -> None:
        job = create_job()
        await all_events(trigger_for(job.name))
        out = capsys.readouterr()
        lines = [line for line in (out.out + out.err).splitlines() if job.name in line]
        assert any("requests done" in line and "elapsed" in line for line in lines)
        assert any(": SUCCEEDED" in line for line in lines)


needs_3_3 = pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="triggers get on_kill() from Airflow 3.3")


class TestOnKill:
    async def test_no_task_instance_means_no_cancel(self, fast_emulator: EmulatorHandle) -> None:
        fast_emulator.add_outcome("STUCK_PENDING")
        job = create_job()
        await trigger_for(job.name, cancel_on_kill=True).on_kill()
        assert fast_emulator.stats()["cancels"]["gemini"] == 0

    @needs_3_3
    @pytest.mark.parametrize(("task_state", "cancelled"), [("deferred", 0), ("failed", 1), ("success", 1), (None, 0)])
    async def test_cancels_only_when_the_task_really_ended(
        self, fast_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, task_state: str | None, cancelled: int
    ) -> None:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        fast_emulator.add_outcome("STUCK_PENDING")
        job = create_job()
        asked: list[dict[str, Any]] = []

        def get_task_states(**kwargs: Any) -> dict[str, Any]:
            asked.append(kwargs)
            return {"run-1": {"wait": task_state}} if task_state else {}

        monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(get_task_states))
        trigger = trigger_for(job.name, cancel_on_kill=True)
        trigger.task_instance = SimpleNamespace(  # type: ignore[assignment]
            dag_id="d", task_id="wait", run_id="run-1", map_index=-1, try_number=1
        )
        await trigger.on_kill()
        assert asked == [{"dag_id": "d", "task_ids": ["wait"], "run_ids": ["run-1"], "map_index": -1}]
        assert fast_emulator.stats()["cancels"]["gemini"] == cancelled

    @needs_3_3
    async def test_mapped_task_state_key(self, fast_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        fast_emulator.add_outcome("STUCK_PENDING")
        job = create_job()
        monkeypatch.setattr(
            RuntimeTaskInstance, "get_task_states", staticmethod(lambda **_: {"r": {"wait_3": "failed"}})
        )
        trigger = trigger_for(job.name, cancel_on_kill=True)
        trigger.task_instance = SimpleNamespace(dag_id="d", task_id="wait", run_id="r", map_index=3)  # type: ignore[assignment]
        await trigger.on_kill()
        assert fast_emulator.stats()["cancels"]["gemini"] == 1

    @pytest.mark.skipif(AIRFLOW_V_3_3_PLUS, reason="the version gate matters before 3.3")
    async def test_never_cancels_before_airflow_3_3(
        self, fast_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fast_emulator.add_outcome("STUCK_PENDING")
        job = create_job()
        trigger = trigger_for(job.name, cancel_on_kill=True)
        trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)  # type: ignore[assignment]
        await trigger.on_kill()
        assert fast_emulator.stats()["cancels"]["gemini"] == 0

    async def test_disabled_by_default(self, fast_emulator: EmulatorHandle) -> None:
        fast_emulator.add_outcome("STUCK_PENDING")
        job = create_job()
        trigger = trigger_for(job.name)
        trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)  # type: ignore[assignment]
        await trigger.on_kill()
        assert fast_emulator.stats()["cancels"]["gemini"] == 0

    async def test_cleanup_never_cancels(self, fast_emulator: EmulatorHandle) -> None:
        fast_emulator.add_outcome("STUCK_PENDING")
        job = create_job()
        await trigger_for(job.name, cancel_on_kill=True).cleanup()
        assert fast_emulator.stats()["cancels"]["gemini"] == 0
