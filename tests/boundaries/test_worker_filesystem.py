"""Boundary: whoever can write files on a worker. A symbolic link planted where the provider writes (a temporary
name, the final name, a shard's name) is never followed out of the folder; a destination the worker cannot
write, or whose file system is not installed, fails naming the destination and the fix, before any result is
read where that can be known in advance.

Airflow runs the DAGs (``dag.test()``); jobs and results go over sockets to the emulator. The run's logical date
is fixed, so the test knows the task instances' identities and can plant links at the names they would use
(the names of the versions before these fixes were predictable from that identity alone).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_genai_batch.client.results import BatchResult
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.operators._destinations import TempNaming, resolve_destination
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.operators._shard_refs import run_token, shard_file_name
from airflow_provider_genai_batch.operators.results import write_results
from tests.bigjobs.test_sharding import PROMPTS, request_line
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID

LOGICAL_DATE = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
PRECIOUS = b"a file outside the results folder, which no task may touch\n"


def run_id() -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    return str(DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=LOGICAL_DATE, run_after=LOGICAL_DATE))


def task_instance(dag_id: str, task_id: str, try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id(), map_index=-1, try_number=try_number)
    return {"ti": ti}


def fixed_date() -> dict[str, Any]:
    return {"logical_date": LOGICAL_DATE, "run_after": LOGICAL_DATE}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside every folder the DAG writes, and a directory beside it."""
    folder = tmp_path / "outside"
    (folder / "dir").mkdir(parents=True)
    victim = folder / "victim.txt"
    victim.write_bytes(PRECIOUS)
    return victim


def assert_untouched(victim: Path) -> None:
    assert victim.read_bytes() == PRECIOUS
    assert list((victim.parent / "dir").iterdir()) == []


def answers(out: Path) -> list[str]:
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(len(lines)))
    return [line["response"]["candidates"][0]["content"]["parts"][0]["text"] for line in lines]


@pytest.mark.parametrize("task_id", ["save", "combine"])
def test_a_link_planted_at_the_writers_temporary_name_is_never_followed(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, outside: Path, task_id: str
) -> None:
    """Links at every temporary name the results writer (``save``) or the combine operator used to derive from
    its task instance point at a file outside the folder: the file is untouched, the results are written."""
    results = tmp_path / "results"
    results.mkdir()
    dag_id = f"planted_temp_link_{task_id}"
    naming = TempNaming.for_context(task_instance(dag_id, task_id))
    for suffix in ("part", "sorted"):
        (results / naming.name("results.jsonl", suffix)).symlink_to(outside)
    src = [{"contents": p, "metadata": {"key": f"k{i}"}} for i, p in enumerate(PROMPTS[:5])]
    params: dict[str, Any] = {"src": src, "conn_id": GEMINI_CONN_ID, "destination": str(results / "results.jsonl")}
    if task_id == "save":
        result = run_built_dag("create_then_save", dag_id, fixed_date(), model="gemini-2.5-flash", **params)
    else:
        result = run_built_dag("sharded", dag_id, fixed_date(), max_shard_requests=2, **params)
    assert result.state == "success", result.output[-3000:]
    assert_untouched(outside)
    assert answers(results / "results.jsonl") == [f"echo: {p}" for p in PROMPTS[:5]]


@pytest.mark.parametrize("target", ["file", "dir"])
def test_a_link_at_the_final_name_is_replaced_not_followed(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, outside: Path, target: str
) -> None:
    """``results.jsonl`` is a link to a file or a directory outside the folder: the link itself is replaced by
    the results file; nothing is written where it pointed."""
    results = tmp_path / "results"
    results.mkdir()
    final = results / "results.jsonl"
    final.symlink_to(outside if target == "file" else outside.parent / "dir")
    result = run_built_dag(
        "create_then_save", f"final_name_link_{target}", model="gemini-2.5-flash", src=PROMPTS[:3],
        conn_id=GEMINI_CONN_ID, destination=str(final),
    )  # fmt: skip
    assert result.state == "success", result.output[-3000:]
    assert_untouched(outside)
    assert not final.is_symlink() and answers(final) == [f"echo: {p}" for p in PROMPTS[:3]]


def test_links_planted_at_a_shards_names_are_never_followed(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, outside: Path
) -> None:
    """The split's temporary name (predictable before: ``.<name>.shard-00000.jsonl.part``) and its final shard
    name (predictable from the run) are links out of the shard folder: the split writes its own files."""
    source = tmp_path / "prompts.jsonl"
    source.write_bytes(b"".join(request_line(p, f"k{i}") for i, p in enumerate(PROMPTS)))
    shards = tmp_path / "shards"
    shards.mkdir()
    dag_id = "planted_shard_links"
    token = run_token(task_instance(dag_id, "split"))
    (shards / ".prompts.shard-00000.jsonl.part").symlink_to(outside)
    (shards / f".{shard_file_name('prompts', token, 0)}.part").symlink_to(outside)
    (shards / shard_file_name("prompts", token, 1)).symlink_to(outside)
    out = tmp_path / "combined.jsonl"
    result = run_built_dag(
        "sharded", dag_id, fixed_date(), src=str(source), conn_id=GEMINI_CONN_ID, shard_folder=str(shards),
        destination=str(out), max_shard_requests=4, max_active=1,
    )  # fmt: skip
    assert result.state == "success", result.output[-3000:]
    assert_untouched(outside)
    assert answers(out) == [f"echo: {p}" for p in PROMPTS]
    assert not (shards / shard_file_name("prompts", token, 1)).is_symlink()


def test_a_folder_removed_while_results_are_written_names_the_destination(tmp_path: Path) -> None:
    """The destination's folder disappears mid-write: the error names the destination the user gave (not only a
    temporary name), says what happened and how to fix it; nothing is left behind."""
    folder = tmp_path / "results"
    destination = resolve_destination(str(folder / "out.jsonl"), None)
    destination.prepare(TempNaming.for_context(task_instance("dag", "save")))

    def results() -> Any:
        yield BatchResult(0, "k0", response={"candidates": []})
        for entry in folder.iterdir():
            entry.unlink()
        folder.rmdir()
        yield BatchResult(1, "k1", response={"candidates": []})

    with pytest.raises(OSError, match="cannot write the results") as caught:
        write_results(destination, results())
    text = str(caught.value)
    assert str(folder / "out.jsonl") in text and "no longer exists" in text and "create the folder again" in text
    assert not folder.exists()


@pytest.mark.parametrize(
    ("url", "install"),
    [
        ("gs://results-bucket/nightly/out.jsonl", "apache-airflow-providers-google"),
        ("s3://results-bucket/nightly/out.jsonl", "apache-airflow-providers-amazon[s3fs]"),
    ],
    ids=["gs", "s3"],
)
def test_an_object_store_without_its_file_system_fails_when_the_task_starts(
    run_built_dag: Any, fast_emulator: EmulatorHandle, url: str, install: str
) -> None:
    """No package serves the destination's scheme on this worker: the results task fails as it starts, naming
    the scheme and what to install, before it reads the job or any result."""
    from airflow.sdk.io.fs import has_fs

    if has_fs(url.split("://")[0]):
        pytest.skip(f"{url.split('://')[0]}:// is served on this worker")
    result = run_built_dag(
        "create_then_save", f"missing_fs_{url[:2]}", model="gemini-2.5-flash", src=PROMPTS[:3],
        conn_id=VERTEX_CONN_ID, destination=url,
    )  # fmt: skip
    assert result.task_states == {"create": "success", "save": "failed"}
    assert f"destination: {url}" in result.output and install in result.output
    assert fast_emulator.stats()["requests"].get("gcs.objects.download", 0) == 0  # no result was read


def test_an_unknown_scheme_is_refused_before_any_call() -> None:
    with pytest.raises(OperatorInputError, match="no file system") as caught:
        resolve_destination("nosuchfs://bucket/out.jsonl", None)
    assert caught.value.field == "destination"
    assert os.path.basename(str(caught.value.fix))


def test_a_retry_removes_only_its_own_earlier_temporary_files(tmp_path: Path, outside: Path) -> None:
    """Leftovers of this task instance's first try go (a link among them is removed itself, its target kept);
    another task instance's temporary file, the current try's and a user's backup stay."""
    folder = tmp_path / "results"
    folder.mkdir()
    first = TempNaming.for_context(task_instance("dag", "save", try_number=1))
    retry = TempNaming.for_context(task_instance("dag", "save", try_number=2))
    other = TempNaming.for_context(task_instance("dag", "other_task", try_number=1))
    mine = [folder / f"{first.local_prefix('out.jsonl')}{'ab' * 8}.{suffix}" for suffix in ("part", "sorted")]
    link = folder / f"{first.local_prefix('out.jsonl')}{'cd' * 8}.part"
    kept = [
        folder / f"{other.local_prefix('out.jsonl')}{'ab' * 8}.part",
        folder / f"{retry.local_prefix('out.jsonl')}{'ef' * 8}.part",
        folder / ".out.jsonl.bak",
    ]
    for path in [*mine, *kept]:
        path.write_bytes(b"x")
    link.symlink_to(outside)
    resolve_destination(str(folder / "out.jsonl"), None).prepare(retry)
    assert not any(path.exists() or path.is_symlink() for path in [*mine, link])
    assert all(path.read_bytes() == b"x" for path in kept)
    assert_untouched(outside)
