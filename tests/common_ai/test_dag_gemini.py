"""``dag.test()`` runs common-ai's ``LLMBatchOperator`` and ``@task.llm_batch`` on ``google:`` models."""

from __future__ import annotations

from typing import Any

import pytest

from tests.common_ai.conftest import GEMINI_CONN, CommonAI

PROMPTS = ["one fine day", "EMULATOR_FAIL please", "three little birds"]
MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]


def task_kwargs(cai: CommonAI, *, deferrable: bool, model_id: str = "google:gemini-2.5-flash") -> dict[str, Any]:
    return {
        "requests": PROMPTS,
        "result_path": f"file://{cai.result_root}",
        "llm_conn_id": GEMINI_CONN,
        "model_id": model_id,
        "system_prompt": "be terse",
        "max_tokens": 64,
        "request_params": {"temperature": 0.2},
        "deferrable": deferrable,
        "poll_interval": 30,
    }


def check_text_manifest(cai: CommonAI, manifest: dict[str, Any], adapter: str) -> None:
    assert manifest["adapter"] == adapter
    assert manifest["request_count"] == 3
    assert manifest["counts"] == {
        "succeeded": 2,
        "errored": 1,
        "invalid_output": 0,
        "expired": 0,
        "cancelled": 0,
        "missing": 0,
    }
    assert manifest["terminal_reason"] == "partial"
    assert manifest["structured"] is False
    rows = cai.rows(manifest)
    prefix = manifest["custom_id_prefix"]
    assert [row["custom_id"] for row in rows] == [f"{prefix}-{i}" for i in range(3)]
    assert [row["status"] for row in rows] == ["success", "error", "success"]
    assert rows[0]["output"] == "echo: one fine day"
    assert rows[2]["output"] == "echo: three little birds"
    assert rows[0]["usage"] == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    assert rows[0]["finish_reason"] == "STOP"
    assert rows[1]["error"]["stage"] == "provider"
    assert rows[1]["error"]["message"]


@pytest.mark.parametrize("deferrable", MODES)
def test_operator_plain_text(run_cai_dag: Any, cai: CommonAI, deferrable: bool) -> None:
    result = run_cai_dag({"dag_id": f"cai_gemini_op_{deferrable}", "task": task_kwargs(cai, deferrable=deferrable)})
    assert result.state == "success", result.output[-3000:]
    check_text_manifest(cai, result.value("batch"), "google")
    stats = cai.emulator.stats()
    assert stats["jobs_created"] == 1
    job = stats["jobs"][0]
    assert job["backend"] == "gemini"
    assert "--gbk-" in (job["display_name"] or "")
    assert result.value("batch", "batch_id") == job["name"]


@pytest.mark.parametrize("deferrable", MODES)
def test_decorator_plain_text_legacy_prefix(run_cai_dag: Any, cai: CommonAI, deferrable: bool) -> None:
    kwargs = task_kwargs(cai, deferrable=deferrable, model_id="google-gla:gemini-2.5-flash")
    result = run_cai_dag({"dag_id": f"cai_gemini_deco_{deferrable}", "style": "decorator", "task": kwargs})
    assert result.state == "success", result.output[-3000:]
    check_text_manifest(cai, result.value("batch"), "google-gla")
    assert cai.emulator.stats()["jobs_created"] == 1


def test_expired_batch_lands_expired_rows_not_errors(run_cai_dag: Any, cai: CommonAI) -> None:
    cai.emulator.add_outcome("EXPIRED", backend="gemini")
    result = run_cai_dag({"dag_id": "cai_gemini_expired", "task": task_kwargs(cai, deferrable=True)})
    assert result.state == "success", result.output[-3000:]
    manifest = result.value("batch")
    assert manifest["terminal_reason"] == "expired"
    assert manifest["counts"]["expired"] == 3 and manifest["counts"]["errored"] == 0
    assert [row["status"] for row in cai.rows(manifest)] == ["expired"] * 3


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("style", ["operator", "decorator"])
def test_structured_output_validates_into_the_output_type(
    run_cai_dag: Any, cai: CommonAI, style: str, deferrable: bool
) -> None:
    """A pydantic ``output_type``: the request carries its JSON Schema (``responseJsonSchema``, JSON mode), the
    emulator answers JSON fitting it (``emulator/structured.py``), and every row lands validated."""
    kwargs = {**task_kwargs(cai, deferrable=deferrable), "requests": ["rate this", "and this please"]}
    result = run_cai_dag(
        {"dag_id": f"cai_gemini_structured_{style}_{deferrable}", "style": style, "structured": True, "task": kwargs}
    )
    assert result.state == "success", result.output[-3000:]
    manifest = result.value("batch")
    assert manifest["structured"] is True
    assert manifest["counts"]["succeeded"] == 2 and manifest["counts"]["invalid_output"] == 0
    assert manifest["terminal_reason"] == "succeeded"
    assert [row["output"] for row in cai.rows(manifest)] == [
        {"label": "echo: rate this", "score": 2.0},
        {"label": "echo: and this please", "score": 3.0},
    ]
    assert cai.emulator.stats()["jobs_created"] == 1
