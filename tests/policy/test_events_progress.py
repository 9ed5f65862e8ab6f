"""Trigger events (built and validated in one place) and the progress/error-budget helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_genai_batch.policy.events import (
    InvalidTriggerEventError,
    JobEvent,
    event_for_decision,
    validate_event,
)
from airflow_provider_genai_batch.policy.polling import Decision, DecisionKind, decide
from airflow_provider_genai_batch.policy.progress import PollErrorBudget, progress_line


@dataclass
class Counts:
    total: int | None
    succeeded: int
    failed: int


class TestEvents:
    def test_round_trip(self) -> None:
        event = JobEvent(status="success", job_name="batches/a", state="JOB_STATE_SUCCEEDED", manifest={"x": 1})
        assert validate_event(event.to_payload()) == event

    @pytest.mark.parametrize(
        ("decision", "status"),
        [
            (decide("JOB_STATE_SUCCEEDED", 1, False), "success"),
            (decide("JOB_STATE_FAILED", 1, False), "error"),
            (decide("JOB_STATE_RUNNING", 1, True), "timeout"),
            (Decision(DecisionKind.FAILED, reason="the job is stuck: no progress", stuck=True), "stuck"),
        ],
    )
    def test_event_for_decision(self, decision: Decision, status: str) -> None:
        event = event_for_decision(decision, job_name="batches/a", state="S", manifest=None)
        assert event.status == status
        assert event.reason == decision.reason
        assert "manifest" not in event.to_payload()

    def test_a_stuck_event_round_trips_and_never_succeeds(self) -> None:
        event = JobEvent(status="stuck", job_name="batches/a", state="JOB_STATE_PENDING", reason="stuck")
        parsed = validate_event(event.to_payload())
        assert parsed == event and not parsed.succeeded

    def test_wait_has_no_event(self) -> None:
        with pytest.raises(ValueError):
            event_for_decision(Decision(DecisionKind.WAIT, 5), job_name="j", state=None, manifest=None)

    @pytest.mark.parametrize(
        "payload",
        [
            None,
            "success",
            ["success"],
            {},
            {"status": "SUCCESS", "job_name": "j"},
            {"status": "succeeded", "job_name": "j"},
            {"status": "done", "job_name": "j"},
            {"status": None, "job_name": "j"},
            {"status": "success"},
            {"status": "success", "job_name": ""},
            {"status": "success", "job_name": 5},
        ],
    )
    def test_unknown_events_never_succeed(self, payload: Any) -> None:
        with pytest.raises(InvalidTriggerEventError):
            validate_event(payload)

    def test_odd_optional_fields_are_dropped(self) -> None:
        event = validate_event({"status": "error", "job_name": "j", "state": 3, "reason": None, "manifest": []})
        assert (event.state, event.reason, event.manifest) == (None, "", None)
        assert not event.succeeded


class TestProgress:
    def test_with_counts(self) -> None:
        line = progress_line("batches/a", "JOB_STATE_RUNNING", Counts(100, 28, 2), elapsed_seconds=75.4)
        assert line == "batches/a: RUNNING, 30/100 requests done (30.0%), 2 failed, elapsed 75 s"

    def test_without_total(self) -> None:
        line = progress_line("j", "BATCH_STATE_RUNNING", Counts(None, 3, 0), elapsed_seconds=1)
        assert line == "j: RUNNING, 3 requests done, 0 failed, elapsed 1 s"

    def test_without_counts(self) -> None:
        assert progress_line("j", None, None, elapsed_seconds=0) == "j: UNSPECIFIED, elapsed 0 s"


class TestErrorBudget:
    def test_transient_errors_until_the_limit(self) -> None:
        budget = PollErrorBudget(max_consecutive=3)
        assert budget.record(transient=True)
        assert budget.record(transient=True)
        assert not budget.record(transient=True)

    def test_permanent_error_stops_at_once(self) -> None:
        assert not PollErrorBudget().record(transient=False)

    def test_reset(self) -> None:
        budget = PollErrorBudget(max_consecutive=2)
        budget.record(transient=True)
        budget.reset()
        assert budget.record(transient=True)

    def test_backoff_doubles_and_is_capped(self) -> None:
        budget = PollErrorBudget(base_backoff=1, max_backoff=5)
        waits = []
        for _ in range(5):
            budget.record(transient=True)
            waits.append(budget.backoff_seconds())
        assert waits == [1, 2, 4, 5, 5]
        assert budget.backoff_seconds(cap=0.5) == 0.5

    def test_limit_is_validated(self) -> None:
        with pytest.raises(ValueError, match="max_consecutive_poll_errors"):
            PollErrorBudget(max_consecutive=0)
