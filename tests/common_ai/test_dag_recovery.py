"""Exactly once: a create whose response was dropped leaves one job, which the retry finds and lands."""

from __future__ import annotations

from typing import Any

import pytest

from tests.common_ai.conftest import GEMINI_CONN, VERTEX_CONN, CommonAI
from tests.common_ai.test_dag_gemini import check_text_manifest, task_kwargs

CASES = [
    pytest.param("google:gemini-2.5-flash", GEMINI_CONN, r":batchGenerateContent$", id="gemini"),
    pytest.param("google-cloud:gemini-2.5-flash", VERTEX_CONN, r"/batchPredictionJobs$", id="vertex"),
]


@pytest.mark.parametrize(("model_id", "conn_id", "create_path"), CASES)
def test_dropped_create_response_is_recovered_not_resubmitted(
    run_cai_dag: Any, cai: CommonAI, model_id: str, conn_id: str, create_path: str
) -> None:
    cai.emulator.add_fault("apply_then_drop", method="POST", path=create_path, count=1)
    kwargs = {**task_kwargs(cai, deferrable=False, model_id=model_id), "llm_conn_id": conn_id}
    result = run_cai_dag({"dag_id": f"cai_orphan_{conn_id}", "retries": 1, "task": kwargs})
    assert result.state == "success", result.output[-3000:]
    assert result.try_numbers["batch"] == 2
    assert "Recovered orphaned batch" in result.output
    check_text_manifest(cai, result.value("batch"), model_id.split(":")[0])
    stats = cai.emulator.stats()
    assert stats["faults_fired"]["total"] == 1
    assert stats["jobs_created"] == 1
