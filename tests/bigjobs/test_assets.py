"""Asset events of the create, results and combine operators carry the job's bookkeeping as their extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.bigjobs.test_usage import expected_usage
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID


def asset_extras(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
        )
        return [dict(row.extra or {}) for row in rows]


@pytest.mark.slow
def test_create_and_results_asset_extras(run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path) -> None:
    prompts = ["one two", "three"]
    params = {"model": "gemini-2.5-flash", "src": prompts, "conn_id": GEMINI_CONN_ID, "destination": str(tmp_path)}
    result = run_built_dag(
        "create_then_save",
        "assets_create_save",
        **params,
        create_asset="genai-batch://jobs/assets_create_save",
        asset="file:///results/assets_create_save.jsonl",
    )
    assert result.state == "success", result.output[-3000:]
    name = result.value("create")["job_name"]
    [created] = asset_extras("genai-batch://jobs/assets_create_save")
    assert created["job_name"] == name and created["state"] == "JOB_STATE_SUCCEEDED"
    assert created["request_counts"]["succeeded"] == 2
    [saved] = asset_extras("file:///results/assets_create_save.jsonl")
    assert saved["job_name"] == name and saved["state"] == "JOB_STATE_SUCCEEDED"
    assert (saved["results"], saved["succeeded"], saved["failed"]) == (2, 2, 0)
    assert saved["usage"] == expected_usage(prompts)
    assert saved["destination"] == str(tmp_path / "results.jsonl")


def test_combine_asset_extra(run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path) -> None:
    prompts = [f"p {i}" for i in range(5)]
    result = run_built_dag(
        "sharded",
        "assets_combine",
        src=prompts,
        conn_id=GEMINI_CONN_ID,
        destination=str(tmp_path / "all.jsonl"),
        max_shard_requests=2,
        asset="file:///results/assets_combine.jsonl",
    )
    assert result.state == "success", result.output[-3000:]
    [extra] = asset_extras("file:///results/assets_combine.jsonl")
    assert len(extra["job_names"]) == 3
    assert extra["results"] == 5 and extra["usage"] == expected_usage(prompts)


@pytest.mark.slow
def test_combine_asset_extra_reports_the_worst_shard_state(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """One shard of three PARTIALLY_SUCCEEDED: the combined asset event says so, not SUCCEEDED.

    Six prompts make three 2-row shards: dag.test() runs mapped tasks in no fixed order, and a 1-row shard whose
    only row fails ends FAILED on Vertex (and in the emulator), not PARTIALLY_SUCCEEDED.
    """
    fast_emulator.add_outcome("PARTIALLY_SUCCEEDED", failed_requests=[0], backend="vertex", count=1)
    result = run_built_dag(
        "sharded",
        "assets_combine_partial",
        src=[f"p {i}" for i in range(6)],
        conn_id=VERTEX_CONN_ID,
        limits="vertex",
        destination=str(tmp_path / "all.jsonl"),
        max_shard_requests=2,
        max_active=1,
        max_failure_ratio=0.5,  # the partial shard's 1 failed row of 2
        asset="file:///results/assets_combine_partial.jsonl",
    )
    assert result.state == "success", result.output[-3000:]
    states = [shard["state"] for shard in result.value("combine")["shards"]]
    assert sorted(states) == ["JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_SUCCEEDED", "JOB_STATE_SUCCEEDED"]
    [extra] = asset_extras("file:///results/assets_combine_partial.jsonl")
    assert extra["state"] == "JOB_STATE_PARTIALLY_SUCCEEDED"
    assert extra["failed"] == 1 and extra["results"] == 6


@pytest.mark.parametrize(
    ("states", "worst"),
    [
        (["SUCCEEDED", "SUCCEEDED"], "SUCCEEDED"),
        (["SUCCEEDED", "PARTIALLY_SUCCEEDED", "SUCCEEDED"], "PARTIALLY_SUCCEEDED"),
        (["PARTIALLY_SUCCEEDED", "EXPIRED", "SUCCEEDED"], "EXPIRED"),
        (["CANCELLED", "FAILED"], "CANCELLED"),
        (["SUCCEEDED", "RUNNING", "PARTIALLY_SUCCEEDED"], "RUNNING"),
        (["FAILED", "RUNNING"], "FAILED"),
    ],
)
def test_worst_state_order(states: list[str], worst: str) -> None:
    from airflow_provider_genai_batch.client.models import JobState
    from airflow_provider_genai_batch.operators.sharding import worst_state

    assert worst_state([JobState.parse(s) for s in states]) == JobState.parse(worst)


def test_importing_operators_imports_no_openlineage() -> None:
    # Airflow's provider manager reads every installed provider's get_provider_info; nothing else may load
    allowed = {"airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info"}
    code = (
        "import sys, airflow_provider_genai_batch.operators\n"
        f"print(sorted(m for m in sys.modules if 'openlineage' in m and m not in {allowed!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[]"
