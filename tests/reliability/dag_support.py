"""DAGs of independent tasks built from a JSON-able spec, and a failure callback that records each task's error.

``dag.test()`` needs the DAG file inside the dags folder: :func:`write_dag_file` writes a two-line file that
calls :func:`build_dag` with the same spec, and :func:`run_dag_file` imports it and runs ``dag.test()``. Every
task gets :func:`record_failure` as ``on_failure_callback``, which writes the exception's type, text, field and
fix to ``$GENAI_BATCH_RELIABILITY_FAILURES/<dag_id>.<task_id>.json``, so a test can assert on one task's error
among many that ran in a single ``dag.test()``.
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
FAILURES_DIR_ENV = "GENAI_BATCH_RELIABILITY_FAILURES"


def record_failure(context: Any) -> None:
    """``on_failure_callback``: the exception's class names, text and (when it has them) field and fix."""
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


def read_failures(folder: Path, dag_id: str) -> dict[str, dict[str, Any]]:
    """Every failure recorded for ``dag_id``, by task id."""
    records = (json.loads(path.read_text()) for path in folder.glob(f"{dag_id}.*.json"))
    return {record["task_id"]: record for record in records}


def _operator_class(name: str) -> Any:
    return getattr(operators, name, None) or getattr(sensors, name)


def build_dag(spec_json: str) -> DAG:
    """A DAG built from ``{"dag_id", "tasks": [{"class", "task_id", "upstream"?: [task ids], **kwargs}], "retries"?}``.

    Tasks are independent unless ``upstream`` names the tasks they run after.
    """
    spec = json.loads(spec_json)
    with DAG(
        spec["dag_id"],
        schedule=None,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        default_args={
            "retries": spec.get("retries", 0),
            "retry_delay": dt.timedelta(seconds=0),
            "on_failure_callback": record_failure,
        },
    ) as dag:
        operators_by_id: dict[str, Any] = {}
        for task in spec["tasks"]:
            params = dict(task)
            upstream = params.pop("upstream", [])
            operator = _operator_class(params.pop("class"))(**params)
            for task_id in upstream:
                operators_by_id[task_id] >> operator
            operators_by_id[operator.task_id] = operator
    return dag


def write_dag_file(dags_folder: Path, spec: dict[str, Any]) -> Path:
    """The DAG file for ``spec`` in the dags folder (Airflow's safe mode wants both words in it)."""
    path = dags_folder / f"{spec['dag_id']}.py"
    path.write_text(
        "# An airflow DAG built by the reliability suite.\n"
        "from tests.reliability.dag_support import build_dag\n"
        f"dag = build_dag({json.dumps(json.dumps(spec, sort_keys=True))})\n"
    )
    return path


def run_dag_file(path: Path, conf: dict[str, Any] | None = None) -> Any:
    """Import the DAG file and ``dag.test()`` it; return the finished DagRun."""
    module_spec = importlib.util.spec_from_file_location(f"reliability_{path.stem}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.dag.test(run_conf=conf)


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id: state}`` of a finished run (``task[i]`` for mapped tasks)."""
    return {key: state for key, (state, _) in task_tries(dag_run).items()}


def task_tries(dag_run: Any) -> dict[str, tuple[str, int]]:
    """``{task_id: (state, try_number)}`` of a finished run (``task[i]`` for mapped tasks)."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": (str(ti.state), int(ti.try_number))
            for ti in dag_run.get_task_instances(session=session)
        }


def read_xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """One XCom value of a finished run, deserialized (``None`` when absent)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key, map_index=map_index)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)
