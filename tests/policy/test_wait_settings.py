"""WaitSettings: the wait parameters of the create operators, the sensor and the trigger as one value, checked once,
its defaults those of every public signature, its trigger kwargs plain JSON."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from typing import Any

import pytest

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.operators.create import (
    GenAIBatchCreateEmbeddingsJobOperator,
    GenAIBatchCreateJobOperator,
)
from airflow_provider_genai_batch.policy.polling import DecisionKind, decide
from airflow_provider_genai_batch.policy.wait_settings import CREATE_WAIT, DEFAULT_WAIT, WaitSettings
from airflow_provider_genai_batch.sensors.genai_batch import GenAIBatchJobSensor
from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger

FIELDS = [field.name for field in fields(WaitSettings)]


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (GenAIBatchCreateJobOperator, CREATE_WAIT),
        (GenAIBatchCreateEmbeddingsJobOperator, CREATE_WAIT),
        (GenAIBatchJobSensor, DEFAULT_WAIT),
        (GenAIBatchJobTrigger, DEFAULT_WAIT),
    ],
)
def test_every_public_signature_keeps_the_wait_parameters_with_the_one_set_of_defaults(
    cls: type, expected: WaitSettings
) -> None:
    parameters = inspect.signature(cls.__init__).parameters
    defaults = {name: parameters[name].default for name in FIELDS}
    assert WaitSettings(**defaults) == expected
    assert defaults == dict(expected.to_kwargs())


def test_the_defaults() -> None:
    assert DEFAULT_WAIT.to_kwargs() == {
        "poll_interval": 600.0,
        "min_poll_interval": 5.0,
        "max_failure_ratio": 0.0,
        "max_consecutive_poll_errors": 5,
        "cancel_on_kill": False,
        "webhook_fallback_interval": 1800.0,
    }
    assert CREATE_WAIT.cancel_on_kill is True  # a job the task created is the task's to cancel


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"poll_interval": 0}, "poll_interval", "must be a number of seconds > 0, got 0"),
        ({"poll_interval": float("inf")}, "poll_interval", "must be a number of seconds > 0"),
        ({"min_poll_interval": "5"}, "min_poll_interval", "must be a number of seconds > 0, got '5'"),
        ({"max_failure_ratio": 1.5}, "max_failure_ratio", "must be a number within [0, 1], got 1.5"),
        ({"max_consecutive_poll_errors": 0}, "max_consecutive_poll_errors", "must be an integer >= 1, got 0"),
        ({"max_consecutive_poll_errors": True}, "max_consecutive_poll_errors", "must be an integer >= 1"),
        ({"cancel_on_kill": "false"}, "cancel_on_kill", "must be True or False, got 'false'"),
        ({"webhook_fallback_interval": -1}, "webhook_fallback_interval", "must be a number of seconds > 0"),
    ],
)
def test_a_bad_value_names_the_field_the_problem_and_the_fix(changes: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        WaitSettings(**changes)
    assert caught.value.field == field
    assert problem in caught.value.problem
    assert caught.value.fix


@pytest.mark.parametrize(
    "build",
    [
        lambda: GenAIBatchCreateJobOperator(task_id="t", model="gemini-2.5-flash", src=["a"], poll_interval=-5),
        lambda: GenAIBatchJobSensor(task_id="t", name="batches/a", poll_interval=-5),
        lambda: GenAIBatchJobTrigger(genai_batch_conn_id="c", job_name="j", deadline=1.0, poll_interval=-5),
    ],
)
def test_operators_sensor_and_trigger_refuse_a_bad_value_when_built(build: Any) -> None:
    """Checked when the DAG file is parsed (no connection exists here: nothing is read or sent)."""
    with pytest.raises(InvalidInputError, match="poll_interval"):
        build()


def test_trigger_kwargs_are_plain_json_and_round_trip() -> None:
    wait = WaitSettings(poll_interval=60, min_poll_interval=2, max_failure_ratio=0.25, cancel_on_kill=True)
    kwargs = wait.to_kwargs()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert WaitSettings.from_kwargs(json.loads(json.dumps(kwargs))) == wait
    assert WaitSettings.from_kwargs({"job_name": "j", "poll_interval": 60}) == WaitSettings(poll_interval=60)


def test_numbers_are_normalized_so_equal_settings_compare_equal() -> None:
    assert WaitSettings(poll_interval=60) == WaitSettings(poll_interval=60.0)
    assert isinstance(WaitSettings(poll_interval=60).poll_interval, float)


class TestArmedSchedule:
    """With a webhook receiver armed, polls are at least ``webhook_fallback_interval`` apart, but a wait still
    ends at the deadline."""

    def test_unarmed_is_the_adaptive_schedule(self) -> None:
        wait = WaitSettings()
        assert wait.schedule_for(webhook_armed=False) == wait.schedule
        assert wait.schedule.interval(0) == 5.0 and wait.schedule.interval(24 * 3600) == 600.0

    def test_armed_waits_the_fallback_interval_from_the_first_poll(self) -> None:
        armed = WaitSettings().schedule_for(webhook_armed=True)
        assert [armed.interval(e) for e in (0, 600, 24 * 3600)] == [1800.0, 1800.0, 1800.0]

    def test_a_poll_interval_above_the_fallback_still_caps_late_waits(self) -> None:
        armed = WaitSettings(poll_interval=3600, webhook_fallback_interval=60).schedule_for(webhook_armed=True)
        assert armed.interval(0) == 60.0 and armed.interval(48 * 3600) == 3600.0

    def test_the_deadline_shortens_an_armed_wait_to_the_adaptive_floor(self) -> None:
        armed = WaitSettings().schedule_for(webhook_armed=True)
        near = decide("JOB_STATE_RUNNING", 100.0, False, schedule=armed, seconds_to_deadline=42.0)
        assert (near.kind, near.wait_seconds) == (DecisionKind.WAIT, 42.0)
        at_floor = decide("JOB_STATE_RUNNING", 100.0, False, schedule=armed, seconds_to_deadline=1.0)
        assert at_floor.wait_seconds == 5.0  # never below the adaptive floor, as without webhooks
        assert armed.floor == 5.0 and armed.max_interval == 600.0  # the error back-off is the adaptive one

    def test_defer_timeout_is_past_the_deadline_by_a_poll_and_the_margin(self) -> None:
        assert WaitSettings(poll_interval=60).defer_timeout(100.0) == 100.0 + 60.0 + 300.0
        assert WaitSettings(poll_interval=60).defer_timeout(-5.0) == 60.0 + 300.0
