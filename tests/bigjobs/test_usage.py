"""Token usage summed while results stream, and the estimated cost, against the emulator's usageMetadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.results import BatchResult
from airflow_provider_genai_batch.client.usage import UsageTotals, check_prices, estimate_cost, merge_usage
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.emulator.responses import FAIL_MARKER
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID

PROMPTS = ["one", "two words", "three words here", f"{FAIL_MARKER} never answered", "a b c d e"]
PRICES = {"gemini-2.5-flash": {"input": 0.5, "output": 2.0}}


def expected_usage(prompts: list[str]) -> dict[str, int]:
    """The emulator's formula (emulator/responses.py): words of the prompt, words of "echo: <prompt>"."""
    answered = [p for p in prompts if FAIL_MARKER not in p]
    prompt = sum(len(p.split()) for p in answered)
    candidates = sum(len(f"echo: {p}".split()) for p in answered)
    return {
        "requests": len(answered),
        "prompt_tokens": prompt,
        "candidates_tokens": candidates,
        "thoughts_tokens": 0,
        "cached_tokens": 0,
        "total_tokens": prompt + candidates,
    }


def test_totals_per_model_with_thoughts_and_cached_tokens() -> None:
    usage = UsageTotals(default_model="models/gemini-2.5-pro")
    meta = {
        "promptTokenCount": 100,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "cachedContentTokenCount": 40,
        "totalTokenCount": 150,
    }
    results = [
        BatchResult(0, response={"usageMetadata": meta, "modelVersion": "gemini-2.5-flash-001"}),
        BatchResult(1, response={"usageMetadata": meta}),  # no modelVersion: the job's model
        BatchResult(2, response={"candidates": []}),  # no usage: nothing counted
        BatchResult(3),  # a per-request error
        BatchResult(4, response={"usageMetadata": {"promptTokenCount": "7", "totalTokenCount": True}}),
    ]
    assert [r.index for r in usage.track(results)] == [0, 1, 2, 3, 4]
    data = usage.to_dict()
    assert data["by_model"]["gemini-2.5-flash-001"] == {
        "requests": 1,
        "prompt_tokens": 100,
        "candidates_tokens": 20,
        "thoughts_tokens": 30,
        "cached_tokens": 40,
        "total_tokens": 150,
    }
    pro = data["by_model"]["gemini-2.5-pro"]
    assert (pro["requests"], pro["total_tokens"]) == (2, 150)  # malformed counts ignored, the response counted
    assert data["total"]["requests"] == 3 and data["total"]["total_tokens"] == 300
    prices = {"gemini-2.5-flash": {"input": 1.0, "output": 10.0, "cached": 0.25}}
    cost = estimate_cost(data, prices)
    # (100 - 40) * 1 + 40 * 0.25 + (20 + 30) * 10 per million, priced by the longest matching prefix
    assert cost["by_model"] == {"gemini-2.5-flash-001": pytest.approx((60 + 10 + 500) / 1e6)}
    assert cost["unpriced_models"] == ["gemini-2.5-pro"]
    merged = merge_usage([data, data, None])
    assert merged["total"]["thoughts_tokens"] == 4 * 30
    assert merged["by_model"]["gemini-2.5-pro"]["requests"] == 4


@pytest.mark.parametrize(
    ("prices", "field", "problem"),
    [
        ({}, "prices", "non-empty dict"),
        ({"m": {"input": 1}}, "prices.m", "no 'output' price"),
        ({"m": {"input": 1, "output": -2}}, "prices.m.output", "number >= 0"),
        ({"m": {"input": 1, "output": float("nan")}}, "prices.m.output", "number >= 0"),
        ({"m": {"input": True, "output": 1}}, "prices.m.input", "number >= 0"),
        ({"m": {"input": 1, "output": 1, "batch": 1}}, "prices.m", "unknown keys"),
        ({"m": 3}, "prices.m", "must be a dict"),
    ],
)
def test_bad_price_maps_name_the_field(prices: Any, field: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_prices(prices)
    assert caught.value.field == field
    assert problem in str(caught.value)


@pytest.mark.parametrize("conn_id", [GEMINI_CONN_ID, VERTEX_CONN_ID], ids=["gemini", "vertex"])
def test_results_operator_returns_usage_and_cost(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, conn_id: str
) -> None:
    out = tmp_path / "results.jsonl"
    src = [{"contents": p, "metadata": {"key": f"k{i}"}} for i, p in enumerate(PROMPTS)]
    params = {"model": "gemini-2.5-flash", "src": src, "conn_id": conn_id, "destination": str(out)}
    result = run_built_dag("create_then_save", f"usage_{conn_id}", **params, prices=PRICES, max_failure_ratio=1.0)
    assert result.state == "success", result.output[-3000:]
    saved = result.value("save")
    expected = expected_usage(PROMPTS)
    assert saved["usage"] == {"by_model": {"gemini-2.5-flash": expected}, "total": expected}
    cost = (expected["prompt_tokens"] * 0.5 + expected["candidates_tokens"] * 2.0) / 1e6
    assert saved["estimated_cost"] == {
        "by_model": {"gemini-2.5-flash": pytest.approx(cost)},
        "total": pytest.approx(cost),
        "unpriced_models": [],
    }
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    from_file = sum(line["response"]["usageMetadata"]["totalTokenCount"] for line in lines if "response" in line)
    assert from_file == expected["total_tokens"]
    assert f"{expected['total_tokens']} total" in result.output  # the task log


def test_bad_prices_fail_before_any_call(run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path) -> None:
    params = {"model": "gemini-2.5-flash", "src": ["hi"], "conn_id": GEMINI_CONN_ID, "destination": str(tmp_path)}
    result = run_built_dag("create_then_save", "usage_bad_prices", **params, prices={"gemini-2.5-flash": {"in": 1}})
    assert result.task_states["save"] == "failed"
    assert "prices.gemini-2.5-flash" in result.output
    assert not list(tmp_path.iterdir())
