"""Property-based tests (hypothesis) of the wire parsing, the state mapping, the polling policy, trigger events
and the retry delays.

- Arbitrary JSON-ish answers never crash ``parse_job``/``parse_list`` with anything but a typed error.
- Well-formed answers always parse, and their int64 counts come back exactly.
- No string maps to a terminal success unless it is exactly a success state.
- The polling policy waits within its bounds, is never DONE for a non-success state, and the deadline always ends
  the wait, within one floor interval and a bounded number of polls.
- A trigger event with any payload resumes a task as a success only when its status is exactly ``success``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_genai_batch.client import GenAIBatchError, InvalidResponseError, JobState, RequestCounts
from airflow_provider_genai_batch.client.models import TERMINAL_STATES, BatchJob, JobError
from airflow_provider_genai_batch.client.transport import RetryPolicy
from airflow_provider_genai_batch.client.wire import gemini, vertex
from airflow_provider_genai_batch.policy.events import EVENT_STATUSES, InvalidTriggerEventError, validate_event
from airflow_provider_genai_batch.policy.polling import (
    DecisionKind,
    PartialFailurePolicy,
    PollingSchedule,
    decide,
    decide_for_job,
)

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SUCCESS_NAMES = ("SUCCEEDED", "PARTIALLY_SUCCEEDED")
STATE_NAMES = [state.value.removeprefix("JOB_STATE_") for state in JobState] + ["DONE", "SUCCESS", "WEIRD"]
PREFIXES = ["", "JOB_STATE_", "BATCH_STATE_", "job_state_", "batch_state_", "Job_State_"]

# --- strategies -----------------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
int64_strings = st.integers(min_value=0, max_value=2**62).map(str)

# Strings that look like states: any number of (mixed-case) prefixes around a known name, with whitespace.
state_like = st.builds(
    lambda prefixes, name, lower, pad: pad + "".join(prefixes) + (name.lower() if lower else name) + pad,
    st.lists(st.sampled_from(PREFIXES), max_size=3),
    st.sampled_from(STATE_NAMES),
    st.booleans(),
    st.sampled_from(["", " ", "\t"]),
)
any_state_string = st.one_of(state_like, st.text(max_size=30))


def _maybe(keys: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=keys)


def _field(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes any JSON value."""
    return st.one_of(strategy, json_values)


gemini_stats = _maybe(
    {
        k: _field(int64_strings)
        for k in ("requestCount", "successfulRequestCount", "failedRequestCount", "pendingRequestCount")
    }
)
gemini_output = _maybe(
    {
        "responsesFile": _field(st.just("files/batch-1")),
        "inlinedResponses": _field(
            _maybe(
                {
                    "inlinedResponses": _field(
                        st.lists(
                            _maybe(
                                {
                                    "response": _field(st.just({"candidates": []})),
                                    "error": _field(st.just({"code": 400})),
                                }
                            ),
                            max_size=2,
                        )
                    )
                }
            )
        ),
    }
)
gemini_metadata = _maybe(
    {
        "state": _field(state_like),
        "displayName": _field(st.text(max_size=10)),
        "model": _field(st.just("models/gemini-2.5-flash")),
        "createTime": _field(st.just("2025-01-01T00:00:00Z")),
        "batchStats": _field(gemini_stats),
        "output": _field(gemini_output),
        "inputConfig": _field(_maybe({"fileName": _field(st.just("files/x"))})),
    }
)
gemini_bodies = _maybe(
    {
        "name": _field(st.just("batches/abc")),
        "metadata": _field(gemini_metadata),
        "response": _field(gemini_output),
        "error": _field(_maybe({"code": _field(st.integers()), "message": _field(st.text(max_size=5))})),
        "done": json_values,
    }
)
vertex_bodies = _maybe(
    {
        "name": _field(st.just("projects/p/locations/l/batchPredictionJobs/42")),
        "state": _field(state_like),
        "displayName": _field(st.text(max_size=10)),
        "createTime": _field(st.just("2025-01-01T00:00:00Z")),
        "completionStats": _field(
            _maybe({k: _field(int64_strings) for k in ("successfulCount", "failedCount", "incompleteCount")})
        ),
        "outputInfo": _field(_maybe({"gcsOutputDirectory": _field(st.just("gs://b/o"))})),
        "inputConfig": _field(
            _maybe({"gcsSource": _field(_maybe({"uris": _field(st.lists(st.just("gs://b/i"), max_size=2))}))})
        ),
        "outputConfig": _field(
            _maybe({"gcsDestination": _field(_maybe({"outputUriPrefix": _field(st.just("gs://b"))}))})
        ),
        "labels": _field(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)),
        "error": _field(_maybe({"code": _field(st.integers()), "message": _field(st.text(max_size=5))})),
    }
)


def _parse_or_typed_error(parse: Any, body: Any) -> None:
    try:
        job = parse(body)
    except InvalidResponseError:
        return
    assert isinstance(job, BatchJob) and job.name


# --- wire parsing ---------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(gemini_bodies)
def test_gemini_parse_job_raises_only_typed_errors(body: dict[str, Any]) -> None:
    _parse_or_typed_error(gemini.parse_job, body)


@PROPERTY_SETTINGS
@given(vertex_bodies)
def test_vertex_parse_job_raises_only_typed_errors(body: dict[str, Any]) -> None:
    _parse_or_typed_error(vertex.parse_job, body)


@PROPERTY_SETTINGS
@given(
    st.one_of(
        _maybe({"operations": json_values, "nextPageToken": json_values}), _maybe({"batchPredictionJobs": json_values})
    )
)
def test_parse_list_raises_only_typed_errors(body: dict[str, Any]) -> None:
    for parse in (gemini.parse_list, vertex.parse_list):
        try:
            jobs, token = parse(body)
        except InvalidResponseError:
            continue
        assert all(isinstance(job, BatchJob) for job in jobs)
        assert token is None or isinstance(token, str)


@PROPERTY_SETTINGS
@given(
    state=state_like,
    counts=st.fixed_dictionaries(
        {k: st.integers(0, 2**62) for k in ("requestCount", "successfulRequestCount", "failedRequestCount")}
    ),
    display=st.text(max_size=40),
)
def test_well_formed_gemini_jobs_parse_exactly(state: str, counts: dict[str, int], display: str) -> None:
    body = {
        "name": "batches/abc",
        "metadata": {"state": state, "displayName": display, "batchStats": {k: str(v) for k, v in counts.items()}},
    }
    job = gemini.parse_job(body)
    assert job.name == "batches/abc" and job.display_name == display
    assert job.batch_stats is not None
    assert job.batch_stats.request_count == counts["requestCount"]
    assert job.batch_stats.successful_request_count == counts["successfulRequestCount"]
    assert job.request_counts.failed == counts["failedRequestCount"]


@PROPERTY_SETTINGS
@given(
    state=state_like,
    counts=st.fixed_dictionaries(
        {k: st.integers(0, 2**62) for k in ("successfulCount", "failedCount", "incompleteCount")}
    ),
)
def test_well_formed_vertex_jobs_parse_exactly(state: str, counts: dict[str, int]) -> None:
    body = {
        "name": "projects/p/locations/l/batchPredictionJobs/42",
        "state": state,
        "completionStats": {k: str(v) for k, v in counts.items()},
    }
    job = vertex.parse_job(body)
    assert job.request_counts.succeeded == counts["successfulCount"]
    assert job.request_counts.total == sum(counts.values())


@PROPERTY_SETTINGS
@given(st.one_of(st.booleans(), st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())))
def test_counts_that_are_not_integers_are_rejected(value: Any) -> None:
    from airflow_provider_genai_batch.client.wire.common import int64

    with pytest.raises(InvalidResponseError):
        int64(value)


# --- state mapping --------------------------------------------------------------------------------------------


def canonical(raw: str) -> str:
    """What "exactly a state" means: one optional JOB_STATE_/BATCH_STATE_ prefix, any case, outer whitespace."""
    text = raw.strip().upper()
    for prefix in ("JOB_STATE_", "BATCH_STATE_"):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def is_exactly_success(raw: str, *, prefix_required: bool) -> bool:
    text = raw.strip().upper()
    names = [f"{p}{n}" for p in ("JOB_STATE_", "BATCH_STATE_") for n in SUCCESS_NAMES]
    if not prefix_required:
        names += list(SUCCESS_NAMES)
    return text in names


@PROPERTY_SETTINGS
@given(any_state_string)
def test_job_state_parse_is_success_only_for_a_success_state(raw: str) -> None:
    state = JobState.parse(raw)
    if state in (JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED):
        assert is_exactly_success(raw, prefix_required=True), raw
    job = BatchJob(name="batches/x", state=raw)
    assert job.done == (job.state in TERMINAL_STATES)


@dataclass(frozen=True)
class _Job:
    """A JobLike for the policy: a state, request counts and no error."""

    state: object
    request_counts: RequestCounts
    error: JobError | None = None


@PROPERTY_SETTINGS
@given(any_state_string, st.floats(0, 1e6), st.booleans())
def test_policy_on_parsed_states_is_done_only_for_success(raw: str, elapsed: float, deadline_passed: bool) -> None:
    """The path the product takes: a wire state parsed by the client, then the shared policy."""
    job = _Job(JobState.parse(raw), RequestCounts(total=1, succeeded=1))
    now = 1_000_000.0
    decision = decide_for_job(
        job, started_at=now - elapsed, deadline=now - 1 if deadline_passed else now + 3600, now=now
    )
    if decision.kind is DecisionKind.DONE:
        assert is_exactly_success(raw, prefix_required=True), raw


@PROPERTY_SETTINGS
@given(any_state_string)
def test_policy_on_raw_strings_is_done_only_for_success(raw: str) -> None:
    decision = decide(raw, 10.0, False, counts=RequestCounts(total=1, succeeded=1))
    if decision.kind is DecisionKind.DONE:
        assert is_exactly_success(raw, prefix_required=False), raw


# --- polling policy -------------------------------------------------------------------------------------------

schedules = st.builds(
    PollingSchedule,
    min_interval=st.floats(0.01, 600),
    max_interval=st.floats(0.01, 86_400),
    growth=st.floats(0, 1),
)
waiting_states = st.sampled_from(
    [s for s in JobState if s not in TERMINAL_STATES] + ["WEIRD", "", "JOB_STATE_DONE", "BATCH_STATE_PENDING"]
)
failed_states = st.sampled_from([JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED, "BATCH_STATE_FAILED"])


@PROPERTY_SETTINGS
@given(schedules, waiting_states, st.floats(0, 1e7), st.one_of(st.none(), st.floats(-1e3, 1e7)))
def test_waits_stay_within_bounds(
    schedule: PollingSchedule, state: object, elapsed: float, to_deadline: float | None
) -> None:
    decision = decide(state, elapsed, False, schedule=schedule, seconds_to_deadline=to_deadline)
    assert decision.kind is DecisionKind.WAIT and not decision.timed_out
    assert schedule.floor <= decision.wait_seconds <= schedule.max_interval
    assert math.isfinite(decision.wait_seconds)
    if to_deadline is not None:
        assert decision.wait_seconds <= max(to_deadline, schedule.floor)


@PROPERTY_SETTINGS
@given(schedules, waiting_states, st.floats(0, 1e7))
def test_the_deadline_ends_every_wait(schedule: PollingSchedule, state: object, elapsed: float) -> None:
    decision = decide(state, elapsed, True, schedule=schedule)
    assert decision.kind is DecisionKind.FAILED and decision.timed_out


@PROPERTY_SETTINGS
@given(failed_states, st.floats(0, 1e7), st.booleans())
def test_failed_states_fail_whatever_the_deadline(state: object, elapsed: float, deadline: bool) -> None:
    decision = decide(state, elapsed, deadline)
    assert decision.kind is DecisionKind.FAILED and not decision.timed_out


@PROPERTY_SETTINGS
@given(
    st.sampled_from([JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED]),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.floats(0, 1),
)
def test_success_respects_the_failure_ratio(state: JobState, ok: int, failed: int, ratio: float) -> None:
    counts = RequestCounts(total=ok + failed, succeeded=ok, failed=failed)
    decision = decide(state, 1.0, False, counts=counts, partial=PartialFailurePolicy(ratio))
    total = ok + failed
    if total and failed / total > ratio:
        assert decision.kind is DecisionKind.FAILED
    elif total:
        assert decision.kind is DecisionKind.DONE


@PROPERTY_SETTINGS
@given(schedules, st.floats(0.1, 86_400), waiting_states)
def test_a_simulated_wait_ends_at_the_deadline(schedule: PollingSchedule, timeout: float, state: object) -> None:
    """Poll a job that never ends, sleeping what the policy says: the wait ends timed out, with the last poll
    before ``deadline + floor``, after at most ``timeout / floor + 2`` polls (one more for float rounding)."""
    assume(timeout / schedule.floor < 2_000)
    now, deadline, polls = 0.0, timeout, 0
    while True:
        polls += 1
        decision = decide(state, now, now >= deadline, schedule=schedule, seconds_to_deadline=deadline - now)
        if decision.kind is not DecisionKind.WAIT:
            break
        now += decision.wait_seconds
    assert decision.timed_out
    assert deadline <= now < deadline + schedule.floor + 1e-6
    assert polls <= math.ceil(timeout / schedule.floor) + 3  # +1 for float rounding of the summed waits


# --- trigger events and retry delays --------------------------------------------------------------------------

event_payloads = st.one_of(
    json_values,
    _maybe(
        {
            "status": st.one_of(st.sampled_from([*EVENT_STATUSES, "SUCCESS", "succeeded", "ok", ""]), json_values),
            "job_name": st.one_of(st.just("batches/abc"), json_values),
            "state": json_values,
            "reason": json_values,
            "manifest": json_values,
        }
    ),
)


@PROPERTY_SETTINGS
@given(event_payloads)
def test_only_a_success_status_resumes_as_success(payload: Any) -> None:
    try:
        event = validate_event(payload)
    except InvalidTriggerEventError:
        return
    assert event.status in EVENT_STATUSES
    assert event.succeeded == (isinstance(payload, dict) and payload.get("status") == "success")
    assert event.job_name and isinstance(event.job_name, str)


@PROPERTY_SETTINGS
@given(
    st.integers(0, 20),
    st.floats(0, 60),
    st.floats(0, 600),
    st.one_of(st.none(), st.floats(0, 10_000)),
    st.floats(0, 1, exclude_max=True),
)
def test_retry_delays_stay_within_bounds(
    attempt: int, initial: float, maximum: float, retry_after: float | None, rand: float
) -> None:
    policy = RetryPolicy(max_retries=20, initial_delay=initial, max_delay=maximum)
    delay = policy.delay(attempt, retry_after, rand=lambda: rand)
    assert delay >= 0
    if retry_after is not None:
        assert delay == min(retry_after, policy.max_retry_after)
    else:
        assert delay <= min(maximum, initial * 2.0**attempt) + 1e-9


def test_every_parse_error_is_a_genai_batch_error() -> None:
    """``InvalidResponseError`` is part of the one hierarchy (callers catch ``GenAIBatchError``)."""
    assert issubclass(InvalidResponseError, GenAIBatchError)
