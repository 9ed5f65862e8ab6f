"""The suite's one DAG builder: test DAGs built from a JSON-able spec, so the DAG file in the dags folder that
``dag.test()`` parses is two lines and regenerates the same DAG.

``dag.test()`` needs the DAG file inside the dags folder (it parses the folder into the DB). :func:`dag_file_source`
writes a file calling a builder with the spec: :func:`build_dag` (tasks of this provider's operators and sensors)
or a builder of a DAG shape of its own (``tests.bigjobs.dags``, ``tests.common_ai.dags``), called the same way.
The ``run_dag_file`` fixture of ``tests/conftest.py`` writes, imports and runs it.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

import airflow_provider_genai_batch.operators as operators
import airflow_provider_genai_batch.sensors as sensors

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
#: Where :func:`record_failure` writes each failed task's error (a folder; unset: nothing is recorded).
FAILURES_DIR_ENV = "GENAI_BATCH_RELIABILITY_FAILURES"


def record_failure(context: Any) -> None:
    """``on_failure_callback``: the exception's class names, text and (when it has them) field and fix, written to
    ``$GENAI_BATCH_RELIABILITY_FAILURES/<dag_id>.<task_id>.json``, so a test can assert on one task's error among
    many that ran in a single ``dag.test()``."""
    folder = os.environ.get(FAILURES_DIR_ENV)
    if not folder:
        return
    exc = context.get("exception")
    ti = context["ti"]
    record = {
        "task_id": ti.task_id,
        "type": type(exc).__name__,
        "mro": [cls.__name__ for cls in type(exc).__mro__],
        "message": str(exc),
        "field": getattr(exc, "field", None) or getattr(exc, "parameter", None),
        "fix": getattr(exc, "fix", None),
    }
    Path(folder, f"{ti.dag_id}.{ti.task_id}.json").write_text(json.dumps(record))


def _operator_class(name: str) -> Any:
    return getattr(operators, name, None) or getattr(sensors, name)


def build_dag(spec_json: str) -> DAG:
    """A DAG from ``{"dag_id", "tasks": [{"class", "task_id", **kwargs}], "retries"?, "independent"?,
    "record_failures"?}``.

    Tasks run in the order given, each after the one before; with ``"independent": true`` they are independent
    unless a task's ``"upstream": [task ids]`` names the tasks it runs after. A task with ``"expand": {...}`` is
    mapped (``partial(**kwargs).expand(**expand)``). ``"record_failures": true`` gives every task
    :func:`record_failure` as its ``on_failure_callback``.
    """
    spec = json.loads(spec_json)
    default_args: dict[str, Any] = {"retries": spec.get("retries", 0), "retry_delay": dt.timedelta(seconds=0)}
    if spec.get("record_failures"):
        default_args["on_failure_callback"] = record_failure
    chained = not spec.get("independent", False)
    with DAG(
        spec["dag_id"],
        schedule=None,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        default_args=default_args,
    ) as dag:
        built: dict[str, Any] = {}
        previous = None
        for task in spec["tasks"]:
            params = dict(task)
            operator_class = _operator_class(params.pop("class"))
            upstream = params.pop("upstream", [])
            expand = params.pop("expand", None)
            operator = operator_class.partial(**params).expand(**expand) if expand else operator_class(**params)
            for task_id in upstream:
                built[task_id] >> operator
            if chained and previous is not None:
                previous >> operator
            built[task["task_id"]] = previous = operator
    return dag


def dag_file_source(spec: dict[str, Any], builder: str = "tests.operators.dag_factory:build_dag") -> str:
    """The DAG file's text: ``dag = <builder>(<spec as JSON>)`` (``builder`` is ``module:function``)."""
    module, function = builder.split(":")
    return (
        "# An airflow DAG (Airflow's safe mode parses only files mentioning both words).\n"
        f"from {module} import {function}\n"
        f"dag = {function}({json.dumps(json.dumps(spec, sort_keys=True))})\n"
    )


def write_dag_file(
    dags_folder: Path, spec: dict[str, Any], builder: str = "tests.operators.dag_factory:build_dag"
) -> Path:
    """Write the DAG file of ``spec`` into the dags folder, as ``<dag_id>.py``."""
    path = dags_folder / f"{spec['dag_id']}.py"
    path.write_text(dag_file_source(spec, builder))
    return path


def dag_test_file(path: Path, **test_kwargs: Any) -> Any:
    """Import a DAG file and ``dag.test(**test_kwargs)`` its ``dag``; return the finished DagRun."""
    module_spec = importlib.util.spec_from_file_location(f"dag_{path.stem}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.dag.test(**test_kwargs)
