"""Build test DAGs from a JSON-able spec, so a DAG file in the dags folder can be regenerated identically.

``dag.test()`` needs the DAG file inside the dags folder (it parses the folder into the DB); the test writes
a two-line file that calls :func:`build_dag` with the same spec, imports it, and runs ``dag.test()``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from airflow.sdk import DAG

import airflow_provider_genai_batch.operators as operators
import airflow_provider_genai_batch.sensors as sensors

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _operator_class(name: str) -> Any:
    return getattr(operators, name, None) or getattr(sensors, name)


def build_dag(spec_json: str) -> DAG:
    """A DAG whose tasks run in the order given: ``{"dag_id", "tasks": [{"class", "task_id", **kwargs}]}``.

    A task with ``"expand": {...}`` is mapped (``partial(**kwargs).expand(**expand)``).
    """
    spec = json.loads(spec_json)
    with DAG(
        spec["dag_id"],
        schedule=None,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        default_args={"retries": spec.get("retries", 0), "retry_delay": dt.timedelta(seconds=0)},
    ) as dag:
        previous = None
        for task in spec["tasks"]:
            params = dict(task)
            operator_class = _operator_class(params.pop("class"))
            expand = params.pop("expand", None)
            operator = operator_class.partial(**params).expand(**expand) if expand else operator_class(**params)
            if previous is not None:
                previous >> operator
            previous = operator
    return dag


def dag_file_source(spec: dict[str, Any]) -> str:
    """The DAG file's text."""
    return (
        "# An airflow DAG (Airflow's safe mode parses only files mentioning both words).\n"
        "from tests.operators.dag_factory import build_dag\n"
        f"dag = build_dag({json.dumps(json.dumps(spec, sort_keys=True))})\n"
    )
