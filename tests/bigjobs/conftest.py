"""Fixtures of the big-jobs tests: DAG files built by ``tests.bigjobs.dags`` and run with ``dag.test()``."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.conftest import DagRunResult


@pytest.fixture
def fast_emulator(emulator: EmulatorHandle) -> EmulatorHandle:
    """The emulator with jobs that end in well under a second."""
    emulator.configure(job_seconds=0.2, pending_seconds=0.05)
    return emulator


@pytest.fixture
def run_built_dag(dags_folder: Path, airflow_db: None, capfd: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """``run_built_dag(builder, **params) -> DagRunResult``: a DAG file calling
    ``tests.bigjobs.dags.<builder>(dag_id, params_json)``."""
    written: list[Path] = []

    def run(builder: str, dag_id: str, **params: Any) -> DagRunResult:
        path = dags_folder / f"{dag_id}.py"
        path.write_text(
            "# An airflow DAG (Airflow's safe mode parses only files mentioning both words).\n"
            f"from tests.bigjobs.dags import {builder}\n"
            f"dag = {builder}({dag_id!r}, {json.dumps(json.dumps(params))})\n"
        )
        written.append(path)
        spec = importlib.util.spec_from_file_location(f"dag_{dag_id}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag_run = module.dag.test()
        captured = capfd.readouterr()
        return DagRunResult(dag_run, captured.out + captured.err)

    yield run
    for path in written:
        path.unlink(missing_ok=True)
