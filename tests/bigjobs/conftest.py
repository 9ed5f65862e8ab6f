"""Fixtures of the big-jobs tests: DAG files built by ``tests.bigjobs.dags`` and run with ``dag.test()``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import DagRunResult


@pytest.fixture
def run_built_dag(run_dag_file: Any) -> Any:
    """``run_built_dag(builder, dag_id, test_kwargs=None, **params) -> DagRunResult``: a DAG file calling
    ``tests.bigjobs.dags.<builder>`` with ``{"dag_id": dag_id, **params}``, run with ``dag.test(**test_kwargs)``."""
    from tests.operators.dag_factory import dag_file_source

    def run(builder: str, dag_id: str, test_kwargs: dict[str, Any] | None = None, **params: Any) -> DagRunResult:
        source = dag_file_source({**params, "dag_id": dag_id}, f"tests.bigjobs.dags:{builder}")
        result: DagRunResult = run_dag_file(dag_id, source, **(test_kwargs or {}))
        return result

    return run
