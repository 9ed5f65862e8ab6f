"""Argument checks: each names the parameter and the fix; cheap ones run in __init__."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchListJobsOperator
from airflow_provider_genai_batch.operators._inputs import (
    OperatorInputError,
    check_config,
    check_display_name,
    check_job_name,
    check_positive_seconds,
    check_ratio,
    decode_json_source,
)
from airflow_provider_genai_batch.operators.jobs import job_name_from


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "60", True, None])
def test_seconds(value: Any) -> None:
    with pytest.raises(OperatorInputError) as info:
        check_positive_seconds("poll_interval", value)
    assert info.value.field == "poll_interval"
    assert "poll_interval=60" in info.value.fix


def test_seconds_ok() -> None:
    assert check_positive_seconds("timeout", 5) == 5.0
    assert check_positive_seconds("timeout", None, allow_none=True) is None


@pytest.mark.parametrize("value", [-0.1, 1.1, "0.5", False])
def test_ratio(value: Any) -> None:
    with pytest.raises(OperatorInputError, match="max_failure_ratio"):
        check_ratio("max_failure_ratio", value)


@pytest.mark.parametrize("value", [None, "", "  ", 3, "gemini 2.5"])
def test_model(value: Any) -> None:
    operator = GenAIBatchCreateJobOperator(task_id="t", model=value, src=["x"])
    with pytest.raises(OperatorInputError) as info:
        operator._checked_inputs()
    assert info.value.field == "model"


def test_model_is_stripped_once_rendered() -> None:
    operator = GenAIBatchCreateJobOperator(task_id="t", model=" gemini-2.5-flash\n", src=["x"])
    assert operator._checked_inputs().model == "gemini-2.5-flash"


def test_job_names() -> None:
    assert check_job_name(" batches/a ") == "batches/a"
    assert job_name_from({"job_name": "batches/b", "state": "x"}) == "batches/b"
    with pytest.raises(OperatorInputError, match="name"):
        job_name_from({"other": 1})
    with pytest.raises(OperatorInputError):
        check_job_name("")


def test_config_forms() -> None:
    from airflow_provider_genai_batch.client.models import CreateBatchJobConfig

    assert check_config(None) is None
    assert check_config({"dest": "gs://b/o"}) == {"dest": "gs://b/o"}
    assert check_config('{"dest": "gs://b/o"}') == {"dest": "gs://b/o"}
    assert check_config(CreateBatchJobConfig(display_name="x")) == {"display_name": "x"}
    with pytest.raises(OperatorInputError, match="config"):
        check_config(["not", "a", "dict"])


def test_display_name() -> None:
    assert check_display_name(None) is None
    with pytest.raises(OperatorInputError, match="display_name"):
        check_display_name(5)


def test_rendered_sources_are_decoded() -> None:
    assert decode_json_source('[{"contents": "hi"}]') == [{"contents": "hi"}]
    assert decode_json_source("[{'contents': 'hi'}]") == [{"contents": "hi"}]
    assert decode_json_source("gs://b/x.jsonl") == "gs://b/x.jsonl"
    with pytest.raises(OperatorInputError, match="render_template_as_native_obj"):
        decode_json_source("[not json")


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"min_poll_interval": -1}, "min_poll_interval"),
        ({"timeout": 0}, "timeout"),
        ({"max_failure_ratio": 2}, "max_failure_ratio"),
        ({"max_consecutive_poll_errors": 0}, "max_consecutive_poll_errors"),
    ],
)
def test_create_operator_checks_cheap_arguments_at_once(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(OperatorInputError) as info:
        GenAIBatchCreateJobOperator(task_id="t", model="m", src=["x"], **kwargs)
    assert info.value.field == parameter


@pytest.mark.parametrize(("kwargs", "parameter"), [({"max_jobs": 0}, "max_jobs"), ({"page_size": -1}, "page_size")])
def test_list_operator_arguments(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(OperatorInputError, match=parameter):
        GenAIBatchListJobsOperator(task_id="t", **kwargs)


def test_default_conn_id_matches_the_hook() -> None:
    from airflow_provider_genai_batch.hooks.connection import DEFAULT_CONN_ID
    from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID as OPERATORS_DEFAULT

    assert OPERATORS_DEFAULT == DEFAULT_CONN_ID


def test_sensor_checks_its_error_budget_at_once() -> None:
    from airflow_provider_genai_batch.sensors import GenAIBatchJobSensor

    with pytest.raises(OperatorInputError, match="max_consecutive_poll_errors"):
        GenAIBatchJobSensor(task_id="s", name="batches/a", max_consecutive_poll_errors=0)


def test_config_display_name_must_be_a_string() -> None:
    from airflow_provider_genai_batch.client.errors import InvalidInputError
    from airflow_provider_genai_batch.operators._submission import job_config

    with pytest.raises(InvalidInputError) as info:
        job_config({"display_name": 5}, None, task_id="t", key="0" * 24, backend="gemini")
    assert info.value.field == "config.display_name"


def test_config_display_name_is_used_and_keyed() -> None:
    from airflow_provider_genai_batch.operators._submission import job_config

    config = job_config(
        {"displayName": "nightly", "labels": {"a": "b"}}, None, task_id="t", key="0" * 24, backend="vertex"
    )
    assert config == {"display_name": f"nightly--gbk-{'0' * 24}", "labels": {"a": "b", "genai-batch-key": "0" * 24}}
