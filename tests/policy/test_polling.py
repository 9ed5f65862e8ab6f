"""The shared polling policy: terminal mapping, partial failures, intervals, and a simulated day."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_genai_batch.client.models import JobState
from airflow_provider_genai_batch.policy.polling import (
    Decision,
    DecisionKind,
    PartialFailurePolicy,
    PollingSchedule,
    decide,
    failure_ratio,
)

ALL_STATES = [
    "JOB_STATE_UNSPECIFIED",
    "JOB_STATE_QUEUED",
    "JOB_STATE_PENDING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLING",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_PAUSED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_UPDATING",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
]
NON_TERMINAL = [
    "JOB_STATE_UNSPECIFIED",
    "JOB_STATE_QUEUED",
    "JOB_STATE_PENDING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_CANCELLING",
    "JOB_STATE_PAUSED",
    "JOB_STATE_UPDATING",
    "BATCH_STATE_RUNNING",
    "SOMETHING_NEW",
    "",
    None,
]


@dataclass
class Counts:
    total: int | None
    succeeded: int
    failed: int


class TestTerminalMapping:
    def test_succeeded_is_done(self) -> None:
        assert decide("JOB_STATE_SUCCEEDED", 10, False).kind is DecisionKind.DONE

    def test_gemini_spelling_is_understood(self) -> None:
        assert decide("BATCH_STATE_SUCCEEDED", 10, False).kind is DecisionKind.DONE

    @pytest.mark.parametrize("state", ["JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"])
    def test_failed_states_fail_with_reason(self, state: str) -> None:
        decision = decide(state, 10, False)
        assert decision.kind is DecisionKind.FAILED
        assert JobState.parse(state).short in decision.reason
        assert not decision.timed_out

    def test_job_error_is_in_reason(self) -> None:
        decision = decide("JOB_STATE_FAILED", 10, False, job_error="400 INVALID_ARGUMENT: bad model")
        assert "bad model" in decision.reason

    def test_terminal_state_wins_over_deadline(self) -> None:
        assert decide("JOB_STATE_SUCCEEDED", 10, True).kind is DecisionKind.DONE
        failed = decide("JOB_STATE_FAILED", 10, True)
        assert failed.kind is DecisionKind.FAILED and not failed.timed_out

    @pytest.mark.parametrize("state", NON_TERMINAL)
    def test_non_terminal_waits_under_deadline(self, state: str | None) -> None:
        assert decide(state, 10, False).kind is DecisionKind.WAIT

    @pytest.mark.parametrize("state", NON_TERMINAL)
    def test_non_terminal_at_deadline_is_a_timeout(self, state: str | None) -> None:
        decision = decide(state, 3600, True)
        assert decision.kind is DecisionKind.FAILED
        assert decision.timed_out
        assert decision.reason.startswith("timeout")

    def test_only_one_prefix_is_stripped(self) -> None:
        assert decide("JOB_STATE_BATCH_STATE_SUCCEEDED", 1, False).kind is DecisionKind.WAIT
        assert decide("BATCH_STATE_JOB_STATE_FAILED", 1, False).kind is DecisionKind.WAIT

    def test_enum_like_state_is_accepted(self) -> None:
        class FakeEnum:
            value = "JOB_STATE_SUCCEEDED"

        assert decide(FakeEnum(), 1, False).kind is DecisionKind.DONE


class TestPartialFailures:
    def test_partial_fails_by_default(self) -> None:
        decision = decide("JOB_STATE_PARTIALLY_SUCCEEDED", 1, False, counts=Counts(10, 9, 1))
        assert decision.kind is DecisionKind.FAILED
        assert "1 of 10 requests failed" in decision.reason
        assert "max_failure_ratio" in decision.reason

    def test_partial_within_ratio_is_done(self) -> None:
        policy = PartialFailurePolicy(max_failure_ratio=0.1)
        decision = decide("JOB_STATE_PARTIALLY_SUCCEEDED", 1, False, counts=Counts(10, 9, 1), partial=policy)
        assert decision.kind is DecisionKind.DONE

    def test_partial_above_ratio_fails(self) -> None:
        policy = PartialFailurePolicy(max_failure_ratio=0.1)
        decision = decide("JOB_STATE_PARTIALLY_SUCCEEDED", 1, False, counts=Counts(10, 8, 2), partial=policy)
        assert decision.kind is DecisionKind.FAILED

    def test_partial_with_unknown_counts_fails_unless_everything_is_accepted(self) -> None:
        assert decide("JOB_STATE_PARTIALLY_SUCCEEDED", 1, False).kind is DecisionKind.FAILED
        lenient = PartialFailurePolicy(max_failure_ratio=1.0)
        assert decide("JOB_STATE_PARTIALLY_SUCCEEDED", 1, False, partial=lenient).kind is DecisionKind.DONE

    def test_succeeded_gemini_job_with_failed_requests_is_checked(self) -> None:
        decision = decide("JOB_STATE_SUCCEEDED", 1, False, counts=Counts(4, 2, 2))
        assert decision.kind is DecisionKind.FAILED
        assert "2 of 4" in decision.reason

    def test_succeeded_with_tolerated_failures_is_done(self) -> None:
        policy = PartialFailurePolicy(max_failure_ratio=0.5)
        assert decide("JOB_STATE_SUCCEEDED", 1, False, counts=Counts(4, 2, 2), partial=policy).kind is (
            DecisionKind.DONE
        )

    def test_unknown_total_uses_succeeded_plus_failed(self) -> None:
        assert failure_ratio(Counts(None, 3, 1)) == 0.25
        assert failure_ratio(Counts(None, 0, 0)) is None
        assert failure_ratio(None) is None

    @pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", True, float("nan")])
    def test_ratio_is_validated(self, bad: object) -> None:
        with pytest.raises(ValueError, match="max_failure_ratio"):
            PartialFailurePolicy(max_failure_ratio=bad)  # type: ignore[arg-type]


class TestSchedule:
    def test_starts_short_and_grows_to_the_cap(self) -> None:
        schedule = PollingSchedule(min_interval=5, max_interval=60)
        assert schedule.interval(0) == 5
        assert schedule.interval(200) == 10
        assert schedule.interval(100_000) == 60

    def test_small_cap_lowers_the_floor(self) -> None:
        schedule = PollingSchedule(max_interval=0.2)
        assert schedule.interval(0) == 0.2
        assert schedule.interval(10_000) == 0.2

    @pytest.mark.parametrize("bad", [0, -1])
    def test_cap_must_be_positive(self, bad: float) -> None:
        with pytest.raises(ValueError, match="poll_interval"):
            PollingSchedule(max_interval=bad)

    def test_wait_is_shortened_by_the_deadline_but_not_below_the_floor(self) -> None:
        decision = decide("JOB_STATE_RUNNING", 10_000, False, seconds_to_deadline=30)
        assert decision.wait_seconds == 30
        decision = decide("JOB_STATE_RUNNING", 10_000, False, seconds_to_deadline=1)
        assert decision.wait_seconds == 5


def simulate(completes_at: float, schedule: PollingSchedule) -> tuple[int, float]:
    """Poll a job that finishes at ``completes_at`` seconds; return (calls, detection delay)."""
    now = 0.0
    calls = 0
    while True:
        calls += 1
        state = "JOB_STATE_SUCCEEDED" if now >= completes_at else "JOB_STATE_RUNNING"
        decision = decide(state, now, False, schedule=schedule)
        if decision.kind is DecisionKind.DONE:
            return calls, now - completes_at
        now += decision.wait_seconds


class TestSimulatedDay:
    def test_a_day_costs_at_most_300_calls(self) -> None:
        calls, _ = simulate(24 * 3600, PollingSchedule())
        assert calls <= 300

    @pytest.mark.parametrize(
        "completes_at", [1, 7, 59, 61, 300, 1199, 1201, 3600, 4 * 3600 + 17, 12_001, 20 * 3600, 24 * 3600]
    )
    def test_completion_is_seen_within_60s_or_5_percent(self, completes_at: float) -> None:
        _, delay = simulate(completes_at, PollingSchedule())
        assert delay <= max(60.0, 0.05 * completes_at)

    @given(st.floats(min_value=0, max_value=48 * 3600))
    def test_detection_bound_holds_for_any_completion_time(self, completes_at: float) -> None:
        calls, delay = simulate(completes_at, PollingSchedule())
        assert delay <= max(60.0, 0.05 * completes_at) + 1e-6
        assert calls <= 400  # 48 h


state_strategy = st.one_of(
    st.sampled_from(ALL_STATES),
    st.sampled_from([s.replace("JOB_STATE_", "BATCH_STATE_") for s in ALL_STATES]),
    st.text(max_size=30),
    st.none(),
)
counts_strategy = st.one_of(
    st.none(),
    st.builds(
        Counts,
        total=st.one_of(st.none(), st.integers(0, 10_000)),
        succeeded=st.integers(0, 10_000),
        failed=st.integers(0, 10_000),
    ),
)


class TestProperties:
    @given(
        state=state_strategy,
        elapsed=st.floats(min_value=0, max_value=10 * 86400),
        deadline=st.booleans(),
        counts=counts_strategy,
        ratio=st.floats(min_value=0, max_value=1),
    )
    def test_never_done_for_a_non_success_state(
        self, state: str | None, elapsed: float, deadline: bool, counts: Counts | None, ratio: float
    ) -> None:
        decision = decide(state, elapsed, deadline, counts=counts, partial=PartialFailurePolicy(ratio))
        if decision.kind is DecisionKind.DONE:
            assert JobState.parse(state).is_success

    @given(
        state=state_strategy,
        elapsed=st.floats(min_value=0, max_value=10 * 86400),
        cap=st.floats(min_value=0.01, max_value=3600),
        floor=st.floats(min_value=0.01, max_value=60),
        to_deadline=st.one_of(st.none(), st.floats(min_value=-100, max_value=86400)),
    )
    def test_waits_are_within_floor_and_cap(
        self, state: str | None, elapsed: float, cap: float, floor: float, to_deadline: float | None
    ) -> None:
        schedule = PollingSchedule(min_interval=floor, max_interval=cap)
        decision = decide(state, elapsed, False, schedule=schedule, seconds_to_deadline=to_deadline)
        if decision.kind is DecisionKind.WAIT:
            assert schedule.floor <= decision.wait_seconds <= cap

    @given(state=state_strategy, elapsed=st.floats(min_value=0, max_value=86400))
    def test_deadline_never_leaves_a_wait(self, state: str | None, elapsed: float) -> None:
        decision = decide(state, elapsed, True)
        assert decision.kind is not DecisionKind.WAIT

    @given(state=state_strategy, elapsed=st.floats(min_value=0, max_value=86400), deadline=st.booleans())
    def test_every_decision_has_a_reason(self, state: str | None, elapsed: float, deadline: bool) -> None:
        decision = decide(state, elapsed, deadline)
        assert isinstance(decision, Decision) and decision.reason
