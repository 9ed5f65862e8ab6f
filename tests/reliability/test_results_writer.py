"""The results writer: a failed write keeps the previous results, a retry removes only its own leftovers, any
destination shape is written or refused before any download, and results are written in request order with bounded
memory (issue 15 items 4, 6, 7).

Everything runs against the emulator over real sockets; the writer's reordering is also fed ``BatchResult``
objects built out of order, through the same code the operator runs.
"""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_genai_batch.client.results import BatchResult
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.operators import GenAIBatchWriteResultsOperator
from airflow_provider_genai_batch.operators._destinations import TempNaming, resolve_destination
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.operators._ordering import IndexedSpool
from airflow_provider_genai_batch.operators.results import write_results
from tests.conftest import VERTEX_CONN_ID, set_connection

PREVIOUS = b'{"previous": "results"}\n\x00 kept byte for byte\n'
PROMPTS = [{"contents": f"prompt {i}", "metadata": {"key": f"k{i}"}} for i in range(6)]
NO_RETRY_VERTEX = "genai_batch_vertex_noretry"


def task_context(try_number: int = 1, task_id: str = "save", run_id: str = "run-1") -> dict[str, Any]:
    """What the writer reads from a context: the task instance's identity and try."""
    ti = SimpleNamespace(dag_id="dag", task_id=task_id, run_id=run_id, map_index=-1, try_number=try_number)
    return {"ti": ti}


@pytest.fixture
def vertex_job(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> str:
    """A finished Vertex job of PROMPTS (results in a GCS predictions object); connections without retries."""
    vertex = json.loads(json.dumps({"conn_type": "genai_batch", "host": emulator.base_url}))
    vertex["extra"] = {
        "backend": "vertex",
        "project": "test-project",
        "location": "us-central1",
        "access_token": "emulator-token",
        "gcs_staging_prefix": "gs://staging-bucket/staging",
        "storage_base_url": emulator.base_url,
        "max_retries": 0,
    }
    set_connection(monkeypatch, NO_RETRY_VERTEX, vertex)
    job = GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID).create_job(model="gemini-2.5-flash", src=PROMPTS)
    emulator.finish_job(job.name)
    return job.name


def predictions_object(emulator: EmulatorHandle) -> str:
    (name,) = [n for n in emulator.list_objects("staging-bucket") if n.endswith("predictions.jsonl")]
    return name


def writer(destination: str, conn_id: str = NO_RETRY_VERTEX, name: str = "") -> GenAIBatchWriteResultsOperator:
    return GenAIBatchWriteResultsOperator(
        task_id="save", name=name, destination=destination, genai_batch_conn_id=conn_id
    )


def destination_forms(path: Path) -> dict[str, str]:
    return {"local": str(path), "file_url": f"file://{path}"}


# --- item 4: a failed write leaves the previous object as it was -------------------------------------------------


@pytest.mark.parametrize("form", ["local", "file_url"])
@pytest.mark.parametrize("failure", ["malformed_line", "dropped_download"])
def test_a_failure_mid_stream_keeps_the_previous_results(
    emulator: EmulatorHandle, vertex_job: str, tmp_path: Path, form: str, failure: str
) -> None:
    out = tmp_path / "results.jsonl"
    out.write_bytes(PREVIOUS)
    if failure == "malformed_line":
        name = predictions_object(emulator)
        lines = emulator.get_object("staging-bucket", name).splitlines(keepends=True)
        emulator.put_object("staging-bucket", name, b"".join([*lines[:3], b"{not json\n", *lines[3:]]))
    else:
        emulator.add_fault("drop", method="GET", path=r"predictions\.jsonl", count=None)
    with pytest.raises(Exception, match=r"not JSON|disconnected|connection") as caught:
        writer(destination_forms(out)[form], name=vertex_job).execute(task_context())  # type: ignore[arg-type]
    assert not isinstance(caught.value, OperatorInputError)
    assert out.read_bytes() == PREVIOUS
    assert [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]  # no temporary file left either


@pytest.mark.parametrize("form", ["local", "file_url"])
def test_a_complete_write_replaces_the_previous_results(
    emulator: EmulatorHandle, vertex_job: str, tmp_path: Path, form: str
) -> None:
    out = tmp_path / "results.jsonl"
    out.write_bytes(PREVIOUS)
    counts = writer(destination_forms(out)[form], name=vertex_job).execute(task_context())  # type: ignore[arg-type]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(6))
    assert [line["response"]["candidates"][0]["content"]["parts"][0]["text"] for line in lines] == [
        f"echo: prompt {i}" for i in range(6)
    ]
    assert counts["results"] == 6 and counts["bytes"] == out.stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]


# --- item 7: a retry removes its own leftovers, nothing else ---------------------------------------------------


@pytest.mark.parametrize("form", ["local", "file_url"])
def test_a_retry_removes_only_its_own_leftovers(
    emulator: EmulatorHandle, vertex_job: str, tmp_path: Path, form: str
) -> None:
    out = tmp_path / "results.jsonl"
    own_first_try = TempNaming.for_context(task_context(try_number=1))
    mine = [tmp_path / own_first_try.name("results.jsonl", suffix) for suffix in ("part", "sorted")]
    other_writer = TempNaming.for_context(task_context(task_id="other_task")).name("results.jsonl", "part")
    survivors = {
        tmp_path / other_writer: b'{"another writer": "mid-write"}\n',
        tmp_path / ".results.jsonl.bak": b"the user's own backup\n",
        tmp_path / ".results.jsonl.tmp123": b"someone else's temporary file\n",
    }
    for path in mine:
        path.write_bytes(b'{"killed mid-wri')
    for path, data in survivors.items():
        path.write_bytes(data)
    writer(destination_forms(out)[form], name=vertex_job).execute(task_context(try_number=2))  # type: ignore[arg-type]
    assert not any(path.exists() for path in mine)
    assert {path: path.read_bytes() for path in survivors} == survivors
    assert len(out.read_text().splitlines()) == 6


def test_temporary_names_embed_the_task_instance_and_try() -> None:
    first, retry = TempNaming.for_context(task_context(1)), TempNaming.for_context(task_context(2))
    other_run = TempNaming.for_context(task_context(1, run_id="run-2"))
    assert first.owner == retry.owner != other_run.owner
    assert first.name("out.jsonl", "part") == f".out.jsonl.gbw-{first.owner}-t1.part"
    assert set(retry.earlier("out.jsonl")) == {first.name("out.jsonl", "part"), first.name("out.jsonl", "sorted")}
    assert list(first.earlier("out.jsonl")) == []


# --- item 10: destinations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["local", "file_url"])
def test_destination_shapes(
    emulator: EmulatorHandle, vertex_job: str, tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing_parents = tmp_path / "a" / "b" / "out.jsonl"
    existing_dir = tmp_path / "existing"
    existing_dir.mkdir()
    cases = {
        destination_forms(missing_parents)[form]: missing_parents,  # parents are created
        destination_forms(existing_dir)[form]: existing_dir / "results.jsonl",  # inside the directory
        destination_forms(tmp_path / "new")[form] + "/": tmp_path / "new" / "results.jsonl",  # trailing slash
    }
    if form == "local":
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        cases["~/deep/out.jsonl"] = tmp_path / "home" / "deep" / "out.jsonl"  # ~ expanded
    for destination, written in cases.items():
        result = writer(destination, name=vertex_job).execute(task_context())  # type: ignore[arg-type]
        assert len(written.read_text().splitlines()) == 6, destination
        assert result["destination"].endswith(str(written)), result


@pytest.mark.parametrize("form", ["local", "file_url"])
def test_bad_destinations_fail_clearly_before_any_download(
    emulator: EmulatorHandle, vertex_job: str, tmp_path: Path, form: str
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    (tmp_path / "taken" / "results.jsonl").mkdir(parents=True)
    bad = {
        destination_forms(a_file / "out.jsonl")[form]: "a parent of",
        destination_forms(a_file / "x" / "out.jsonl")[form]: "is a file",
        destination_forms(tmp_path / "taken")[form] + "/": "is a directory",
    }
    for destination, problem in bad.items():
        with pytest.raises(OperatorInputError, match=problem) as caught:
            writer(destination, name=vertex_job).execute(task_context())  # type: ignore[arg-type]
        assert caught.value.field == "destination" and caught.value.fix
    for destination in ["", "   ", None]:
        with pytest.raises(OperatorInputError, match="must be a path or URL"):
            writer(destination, name=vertex_job).execute(task_context())  # type: ignore[arg-type]
    assert emulator.stats()["requests"].get("gcs.objects.download", 0) == 0
    assert a_file.read_text() == "not a directory"


# --- issue 16.5: results in request order, bounded memory -----------------------------------------------------


def shuffled_results(count: int, seed: int = 7) -> list[BatchResult]:
    results = [
        BatchResult(index=i, key=f"k{i}", response={"candidates": [{"content": {"parts": [{"text": f"r{i}"}]}}]})
        for i in range(count)
    ]
    random.Random(seed).shuffle(results)
    return results


@pytest.mark.parametrize("form", ["local", "file_url"])
def test_results_built_out_of_order_are_written_in_index_order(tmp_path: Path, form: str) -> None:
    out = tmp_path / "results.jsonl"
    out.write_bytes(PREVIOUS)
    destination = resolve_destination(destination_forms(out)[form], None)
    destination.prepare(TempNaming.for_context(task_context()))
    results = shuffled_results(500)
    assert [r.index for r in results] != list(range(500))
    counts = write_results(destination, results)
    lines = out.read_bytes().splitlines(keepends=True)
    assert [json.loads(line)["index"] for line in lines] == list(range(500))
    assert [json.loads(line)["key"] for line in lines] == [f"k{i}" for i in range(500)]
    assert counts == {
        "results": 500,
        "succeeded": 500,
        "failed": 0,
        "bytes": len(b"".join(lines)),
        "reordered": 1,
        "attribution": {"stamp": 500},
    }
    assert [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]


def test_results_in_order_are_not_reordered(tmp_path: Path) -> None:
    destination = resolve_destination(str(tmp_path / "r.jsonl"), None)
    destination.prepare(TempNaming.for_context(task_context()))
    counts = write_results(destination, sorted(shuffled_results(50), key=lambda r: r.index))
    assert counts["reordered"] == 0
    assert [json.loads(line)["index"] for line in (tmp_path / "r.jsonl").read_text().splitlines()] == list(range(50))


@pytest.mark.parametrize(
    "indices",
    [
        [5, 3, 9, 0],  # sparse but small: dense slots
        [10**12, 3, 10**9, 7],  # far apart: sorted fallback
        [2, 1, 1, 0, 2],  # repeated indices keep their arrival order
    ],
    ids=["dense", "sparse", "repeated"],
)
def test_spool_orders_any_indices_stably(tmp_path: Path, indices: list[int]) -> None:
    with open(tmp_path / "spool", "w+b") as handle:
        spool = IndexedSpool(handle)
        for arrival, index in enumerate(indices):
            spool.add(index, f"{index}:{arrival}\n".encode())
        with open(tmp_path / "out", "wb") as out:
            spool.copy_in_order(out)
    expected = [f"{index}:{arrival}" for arrival, index in sorted(enumerate(indices), key=lambda item: item[1])]
    assert (tmp_path / "out").read_text().splitlines() == expected


@pytest.mark.slow
def test_reordering_a_large_result_set_stays_in_bounded_memory(tmp_path: Path) -> None:
    count, stride = 200_000, 7919  # i * stride mod count visits every index once: a lazy permutation

    def results() -> Any:
        for i in range(count):
            index = (i * stride) % count
            yield BatchResult(index=index, key=f"k{index}", response={"text": "x" * 40})

    destination = resolve_destination(str(tmp_path / "big.jsonl"), None)
    destination.prepare(TempNaming.for_context(task_context()))
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        counts = write_results(destination, results())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts["results"] == count and counts["reordered"] == 1
    # 24 bytes a line of records plus 8 a slot: about 6.4 MB here; the lines themselves (about 16 MB) stay on disk.
    assert (peak - baseline) < 12 * 2**20, f"peak grew by {(peak - baseline) / 2**20:.1f} MiB"
    with open(tmp_path / "big.jsonl", "rb") as written:
        for expected, line in enumerate(written):
            assert line.startswith(b'{"index":%d,' % expected)
    assert expected == count - 1


def test_dag_writes_emulator_results_in_request_order(run_dag: Any, emulator: EmulatorHandle, tmp_path: Path) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    out = tmp_path / "ordered.jsonl"
    prompts = [{"contents": f"prompt {i}", "metadata": {"key": f"k{i}"}} for i in range(40)]
    tasks = [
        {
            "class": "GenAIBatchCreateJobOperator",
            "task_id": "create",
            "model": "gemini-2.5-flash",
            "src": prompts,
            "genai_batch_conn_id": VERTEX_CONN_ID,
            "poll_interval": 0.1,
            "min_poll_interval": 0.1,
        },
        {
            "class": "GenAIBatchWriteResultsOperator",
            "task_id": "save",
            "name": "{{ ti.xcom_pull(task_ids='create') }}",
            "destination": str(tmp_path) + "/",
            "genai_batch_conn_id": VERTEX_CONN_ID,
        },
    ]
    result = run_dag({"dag_id": "writer_ordered_results", "tasks": tasks})
    assert result.state == "success", result.output[-3000:]
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(40))
    assert [line["key"] for line in lines] == [f"k{i}" for i in range(40)]
    assert result.value("save")["destination"] == str(tmp_path / "results.jsonl")
    assert not out.exists()
