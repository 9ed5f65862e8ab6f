"""``example_dags/common_ai.py`` runs end to end with ``dag.test()`` against the emulator."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.common_ai.conftest import CommonAI
from tests.conftest import DagRunResult, set_connection

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "common_ai.py"


def test_common_ai(
    cai: CommonAI, dags_folder: Path, airflow_db: None, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    emulator = cai.emulator
    set_connection(
        monkeypatch,
        "pydanticai_default",
        {"conn_type": "pydanticai", "host": emulator.base_url, "password": emulator.api_key},
    )
    monkeypatch.setenv("GENAI_BATCH_COMMON_AI_RESULTS", f"file://{cai.result_root}")
    target = dags_folder / EXAMPLE.name
    shutil.copy(EXAMPLE, target)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    try:
        bag = DagBag(dag_folder=str(target))
        assert bag.import_errors == {}
        dag_run = bag.dags["genai_batch_common_ai"].test()
        captured = capfd.readouterr()
        result = DagRunResult(dag_run, captured.out + captured.err)
    finally:
        target.unlink(missing_ok=True)
    assert result.state == "success", result.output[-3000:]
    report = result.value("report")
    summaries, sentiments = report["summaries"], report["sentiments"]
    assert summaries["counts"]["succeeded"] == 3
    assert summaries["by_index"]["0"].startswith("echo: Summarize this review: Absolutely")
    # In JSON mode the emulator answers with JSON fitting the Sentiment schema: every row validates.
    assert sentiments["counts"]["succeeded"] == 3 and sentiments["counts"]["invalid_output"] == 0
    assert emulator.stats()["jobs_created"] == 2
