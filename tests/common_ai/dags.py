"""Common-ai batch DAGs from a JSON-able spec (their DAG files are written by ``tests/operators/dag_factory.py``).

A spec is ``{"dag_id", "style": "operator" | "decorator", "structured": bool, "retries": int, "task": {...}}``;
``task`` holds ``LLMBatchOperator`` keyword arguments (``requests`` for the operator; the decorated function
returns them for the decorator).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from airflow.sdk import DAG, task
from pydantic import BaseModel

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class Review(BaseModel):
    """The structured output the tests ask for."""

    label: str
    score: float


def build_dag(spec_json: str) -> DAG:
    """One ``LLMBatchOperator`` or ``@task.llm_batch`` task."""
    from airflow.providers.common.ai.operators.llm_batch import LLMBatchOperator

    spec = json.loads(spec_json)
    kwargs: dict[str, Any] = dict(spec["task"])
    if spec.get("structured"):
        kwargs["output_type"] = Review
    with DAG(
        spec["dag_id"],
        schedule=None,
        start_date=START,
        catchup=False,
        default_args={"retries": spec.get("retries", 0), "retry_delay": dt.timedelta(seconds=0)},
    ) as dag:
        if spec.get("style", "operator") == "operator":
            LLMBatchOperator(task_id="batch", **kwargs)
        else:
            prompts = kwargs.pop("requests")

            @task.llm_batch(task_id="batch", **kwargs)
            def batch() -> list[Any]:
                return list(prompts)

            batch()
    return dag
