"""Boundary: another run of the same DAG. Two runs that share a shard folder (the same input file name, the same
``shard_folder``) never submit each other's shards, and a create submits only the bytes its own split wrote.

Each scenario is real: Airflow runs the DAG (``dag.test()``), a ``meanwhile`` task between this run's split and
its creates lets the other party act (another DAG run of the same DAG splits in another process, or a shard is
replaced), and the creates go over sockets to the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.bigjobs.test_gcs_sharding import BUCKET, SHARD_PREFIX, SOURCE
from tests.bigjobs.test_sharding import PROMPTS, check_combined, request_line
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID

OTHER_PROMPTS = [f"the other run's prompt {i}" for i in range(len(PROMPTS))]
OTHER_RUN_DATE = "2025-02-01T00:00:00+00:00"


def jsonl(prompts: list[str]) -> str:
    return b"".join(request_line(p, f"k{i}") for i, p in enumerate(prompts)).decode()


def start(emulator: EmulatorHandle, tmp_path: Path, backend: str) -> dict[str, Any]:
    """The input (this run's prompts) in place, and the DAG parameters of a three-shard run on ``backend``."""
    if backend == "gcs":
        emulator.put_object(BUCKET, "nightly/requests.jsonl", jsonl(PROMPTS).encode(), "application/jsonl")
        return {"src": SOURCE, "conn_id": VERTEX_CONN_ID, "limits": "vertex"}
    source = tmp_path / "prompts.jsonl"
    source.write_text(jsonl(PROMPTS))
    return {"src": str(source), "conn_id": GEMINI_CONN_ID, "shard_folder": str(tmp_path / "shards")}


def shard_texts(emulator: EmulatorHandle, tmp_path: Path, backend: str) -> list[str]:
    """The content of every shard file or object in the shared folder."""
    if backend == "gcs":
        names = [n for n in emulator.list_objects(BUCKET, SHARD_PREFIX) if "/" not in n[len(SHARD_PREFIX) :]]
        return [emulator.get_object(BUCKET, name).decode() for name in names]
    return [path.read_text() for path in sorted((tmp_path / "shards").iterdir())]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "gcs"])
def test_another_run_splitting_into_the_same_folder_never_changes_this_runs_answers(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, backend: str
) -> None:
    """Run 1 splits; run 2 (same file name, same shard folder, other prompts) splits in another process; run 1's
    creates then run. Run 1's combined answers are to run 1's prompts, every one, in order."""
    params = start(fast_emulator, tmp_path, backend)
    out = tmp_path / "combined.jsonl"
    other_run = {"other_run": OTHER_RUN_DATE, "src": params["src"], "data": jsonl(OTHER_PROMPTS)}
    result = run_built_dag(
        "sharded",
        f"two_runs_one_folder_{backend}",
        **params,
        destination=str(out),
        max_shard_requests=4,
        max_active=1,
        meanwhile={**other_run, "emulator_url": fast_emulator.base_url},
    )
    assert result.state == "success", result.output[-3000:]
    texts = shard_texts(fast_emulator, tmp_path, backend)
    assert any(OTHER_PROMPTS[0] in text for text in texts)  # run 2 really split into the same folder
    check_combined(out, result.value("combine"), PROMPTS)


@pytest.mark.parametrize("backend", ["local", "gcs"])
def test_a_replaced_shard_fails_its_create_before_any_call(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, backend: str
) -> None:
    """Whoever replaces a shard between the split and the create (valid requests, the same name): that shard's
    create fails, naming the shard and the change, before it uploads or creates anything; the others run."""
    params = start(fast_emulator, tmp_path, backend)
    replaced = jsonl(OTHER_PROMPTS[:4])
    result = run_built_dag(
        "sharded",
        f"replaced_shard_{backend}",
        **params,
        destination=str(tmp_path / "combined.jsonl"),
        max_shard_requests=4,
        max_active=1,
        meanwhile={"replace_shard": 0, "data": replaced, "emulator_url": fast_emulator.base_url},
    )
    assert result.state == "failed"
    assert result.task_states["combine"] == "upstream_failed"
    assert "shard 0" in result.output and "changed after the split wrote it" in result.output
    stats = fast_emulator.stats()
    assert stats["jobs_created"] == 2  # the two shards that were not touched
    if backend == "local":
        assert stats["requests"].get("files.upload.start", 0) == 2  # nothing of shard 0 was uploaded
    assert not (tmp_path / "combined.jsonl").exists()
    assert json.loads(replaced.splitlines()[0])["metadata"]["key"] == "k0"
