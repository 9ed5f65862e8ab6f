"""The completion policy's pure decisions: which rows a follow-up resubmits, and when a bound stops it."""

from __future__ import annotations

import pytest

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.policy.completion import (
    CompletionPolicy,
    RowLedger,
    Spend,
    StuckWatch,
    followup_key,
    is_retryable_row_error,
)


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        (429, "RESOURCE_EXHAUSTED", True),
        (500, "INTERNAL", True),
        (503, "UNAVAILABLE", True),
        (504, "DEADLINE_EXCEEDED", True),
        (None, "DEADLINE_EXCEEDED", True),
        (400, "INVALID_ARGUMENT", False),
        (403, "PERMISSION_DENIED", False),
        (404, "NOT_FOUND", False),
        (None, "INVALID_ARGUMENT", False),
    ],
)
def test_only_transient_row_errors_are_retryable(code: int | None, status: str, retryable: bool) -> None:
    assert is_retryable_row_error(code, status) is retryable


def test_answered_rows_are_never_reopened() -> None:
    ledger = RowLedger(5)
    ledger.absorb(1, range(5), [(0, None, None), (1, 429, None), (2, 400, None), (4, None, None)])
    assert ledger.open_rows() == [1, 3]
    ledger.absorb(2, [1, 3], [(0, None, None), (1, 503, "UNAVAILABLE")])
    assert ledger.open_rows() == [3]
    assert (ledger.answered, ledger.failed) == (3, 1)
    assert [ledger.attempt_of(row) for row in range(5)] == [1, 2, 1, 2, 1]


def test_next_step_resubmits_open_rows_until_a_bound() -> None:
    ledger = RowLedger(4)
    ledger.absorb(1, range(4), [(0, None, None), (1, None, None), (2, 429, None)])
    policy = CompletionPolicy(max_attempts=2)
    step = policy.next_step(ledger, attempt=1, elapsed=0.0, spent=Spend())
    assert (step.kind, step.rows) == ("resubmit", (2, 3))
    stop = policy.next_step(ledger, attempt=2, elapsed=0.0, spent=Spend())
    assert (stop.kind, stop.rows) == ("stop", (2, 3)) and "max_attempts" in stop.reason
    late = CompletionPolicy(deadline=60).next_step(ledger, attempt=1, elapsed=61.0, spent=Spend())
    assert late.kind == "stop" and "deadline" in late.reason


def test_budget_stops_when_the_follow_up_estimate_would_exceed_it() -> None:
    ledger = RowLedger(4)
    ledger.absorb(1, range(4), [(0, None, None), (1, None, None)])  # 100 tokens a row answered
    assert CompletionPolicy(max_tokens=400).next_step(ledger, attempt=1, elapsed=0, spent=Spend(200)).kind == "resubmit"
    step = CompletionPolicy(max_tokens=399).next_step(ledger, attempt=1, elapsed=0, spent=Spend(200))
    assert step.kind == "stop" and "token budget" in step.reason
    prices = {"gemini-2.5-flash": {"input": 1.0, "output": 1.0}}
    costly = CompletionPolicy(max_cost=0.5, prices=prices).next_step(ledger, attempt=1, elapsed=0, spent=Spend(0, 0.3))
    assert costly.kind == "stop" and "cost budget" in costly.reason


def test_done_when_nothing_is_open() -> None:
    ledger = RowLedger(2)
    ledger.absorb(1, range(2), [(0, None, None), (1, 400, "INVALID_ARGUMENT")])
    assert CompletionPolicy().next_step(ledger, attempt=1, elapsed=0, spent=Spend()).kind == "done"


def test_followup_keys_depend_on_parent_and_attempt() -> None:
    parent = "0123456789abcdef01234567"
    keys = {followup_key(parent, 2), followup_key(parent, 3), followup_key("f" * 24, 2)}
    assert len(keys) == 3 and followup_key(parent, 2) == followup_key(parent, 2)
    with pytest.raises(ValueError):
        followup_key(parent, 1)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"on_stuck": "panic"}, {"deadline": -1}, {"max_tokens": 0}, {"max_cost": 1.0}],
)
def test_bad_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        CompletionPolicy(**kwargs)  # type: ignore[arg-type]


def test_stuck_watch_reports_no_progress_and_long_pending() -> None:
    watch = StuckWatch(stuck_after=100, pending_after=None)
    assert watch.observe("JOB_STATE_RUNNING", (1,), 0) is None
    assert watch.observe("JOB_STATE_RUNNING", (2,), 90) is None
    assert watch.observe("JOB_STATE_RUNNING", (2,), 189) is None
    assert "no progress" in (watch.observe("JOB_STATE_RUNNING", (2,), 190) or "")
    pending = StuckWatch(stuck_after=None, pending_after=50)
    assert pending.observe("JOB_STATE_PENDING", (), 0) is None
    assert "PENDING" in (pending.observe("JOB_STATE_PENDING", (), 50) or "")


def test_a_pending_job_counts_from_its_creation_when_earlier_than_the_first_look() -> None:
    watch = StuckWatch(stuck_after=None, pending_after=60)
    assert watch.observe("JOB_STATE_QUEUED", (), 1000.0, pending_since=950.0) is None
    assert "still QUEUED 60 s after its creation" in (watch.observe("JOB_STATE_QUEUED", (), 1010.0) or "")
    # A creation time ahead of our clock (server skew) never shortens the wait: the first look counts.
    skewed = StuckWatch(stuck_after=None, pending_after=60)
    assert skewed.observe("JOB_STATE_PENDING", (), 1000.0, pending_since=5000.0) is None
    assert skewed.observe("JOB_STATE_PENDING", (), 1059.0, pending_since=5000.0) is None
    assert "after the first look" in (skewed.observe("JOB_STATE_PENDING", (), 1060.0, pending_since=5000.0) or "")


@pytest.mark.parametrize(
    ("policy", "watching"),
    [
        (None, False),
        (CompletionPolicy(on_stuck="wait", stuck_after=10), False),
        (CompletionPolicy(on_stuck="fail"), False),  # no threshold: nothing to watch
        (CompletionPolicy(on_stuck="fail", stuck_after=10), True),
        (CompletionPolicy(on_stuck="resubmit", pending_after=10), True),
    ],
)
def test_a_stuck_watch_only_when_the_policy_acts_on_one(policy: CompletionPolicy | None, watching: bool) -> None:
    assert (StuckWatch.for_policy(policy) is not None) is watching
