"""The reliability suite's reading of finished runs: each task's recorded error, state, try and XCom; and its DAG
files of independent tasks, built by the suite's one DAG builder (``tests/operators/dag_factory.py``).

Every task of these DAGs gets ``record_failure`` as ``on_failure_callback``, which writes the exception's type,
text, field and fix to ``$GENAI_BATCH_RELIABILITY_FAILURES/<dag_id>.<task_id>.json``, so a test can assert on one
task's error among many that ran in a single ``dag.test()``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.operators import dag_factory
from tests.operators.dag_factory import FAILURES_DIR_ENV, record_failure

__all__ = [
    "FAILURES_DIR_ENV",
    "read_failures",
    "read_xcom",
    "record_failure",
    "run_dag_file",
    "task_states",
    "task_tries",
    "write_dag_file",
]


def read_failures(folder: Path, dag_id: str) -> dict[str, dict[str, Any]]:
    """Every failure recorded for ``dag_id``, by task id."""
    records = (json.loads(path.read_text()) for path in folder.glob(f"{dag_id}.*.json"))
    return {record["task_id"]: record for record in records}


def write_dag_file(dags_folder: Path, spec: dict[str, Any]) -> Path:
    """The DAG file for ``spec`` in the dags folder: independent tasks (unless ``upstream`` says otherwise), each
    recording its failure."""
    return dag_factory.write_dag_file(dags_folder, {**spec, "independent": True, "record_failures": True})


def run_dag_file(path: Path, conf: dict[str, Any] | None = None) -> Any:
    """Import the DAG file and ``dag.test()`` it; return the finished DagRun."""
    return dag_factory.dag_test_file(path, run_conf=conf)


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
