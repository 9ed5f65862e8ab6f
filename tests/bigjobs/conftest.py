"""Fixtures of the big-jobs tests: DAG files built by ``tests.bigjobs.dags`` and run with ``dag.test()``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import DagRunResult


@pytest.fixture
def run_built_dag(run_dag_file: Any) -> Any:
    """``run_built_dag(builder, dag_id, test_kwargs=None, **params) -> DagRunResult``: a DAG file calling
    ``tests.bigjobs.dags.<builder>(dag_id, params_json)``, run with ``dag.test(**test_kwargs)``."""

    def run(builder: str, dag_id: str, test_kwargs: dict[str, Any] | None = None, **params: Any) -> DagRunResult:
        source = (
            "# An airflow DAG (Airflow's safe mode parses only files mentioning both words).\n"
            f"from tests.bigjobs.dags import {builder}\n"
            f"dag = {builder}({dag_id!r}, {json.dumps(json.dumps(params))})\n"
        )
        result: DagRunResult = run_dag_file(dag_id, source, **(test_kwargs or {}))
        return result

    return run
