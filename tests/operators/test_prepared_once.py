"""A create is prepared once and a local JSONL input read at most twice, operator to HTTP, against the emulator.

Three real observations, no stand-ins:

- an audit hook (``sys.addaudithook``) counts the opens of the input file while a DAG runs the create operator
  (one to validate and hash it, one to upload it);
- ``/proc/self/io`` ``rchar`` counts the bytes a separate process reads while it runs the same submission path
  (the emulator lives in this process, so its socket reads do not count there);
- a recording wrapper around ``creation.bigquery_dest_name`` (it calls the real function and keeps what it
  returned) shows that a Vertex create without ``dest`` derives its ``_dest_`` table once, the one the job has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client import creation
from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID

MODEL = "gemini-2.5-flash"
BACKENDS = [pytest.param(GEMINI_CONN_ID, id="gemini"), pytest.param(VERTEX_CONN_ID, id="vertex")]
_WATCHED: dict[str, int] = {}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _WATCHED and isinstance(args[0], str | os.PathLike):
        path = os.fspath(args[0])
        if path in _WATCHED:
            _WATCHED[path] += 1


sys.addaudithook(_audit)  # cannot be removed: it only counts paths a test put in _WATCHED


@pytest.fixture
def opens() -> Iterator[dict[str, int]]:
    """Open counts of the paths a test adds (``opens[str(path)] = 0``)."""
    yield _WATCHED
    _WATCHED.clear()


def request_lines(count: int, pad: int = 0) -> bytes:
    text = "x" * pad
    return b"".join(
        json.dumps(
            {"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"{i}{text}"}]}]}}
        ).encode()
        + b"\n"
        for i in range(count)
    )


def create_spec(dag_id: str, conn_id: str, **kwargs: Any) -> dict[str, Any]:
    task = {
        "class": "GenAIBatchCreateJobOperator",
        "task_id": "create",
        "model": MODEL,
        "genai_batch_conn_id": conn_id,
        "wait_for_completion": False,
        **kwargs,
    }
    return {"dag_id": dag_id, "tasks": [task]}


@pytest.mark.parametrize("conn_id", BACKENDS)
def test_a_local_jsonl_is_opened_twice_and_prepared_once(
    run_dag: Any,
    emulator: EmulatorHandle,
    tmp_path: Path,
    opens: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str,
) -> None:
    import airflow_provider_genai_batch.hooks.genai_batch as hook_module

    prepared: list[Any] = []
    real_prepare = hook_module.prepare_create

    def recording_prepare(*args: Any, **kwargs: Any) -> Any:
        result = real_prepare(*args, **kwargs)
        prepared.append(result)
        return result

    monkeypatch.setattr(hook_module, "prepare_create", recording_prepare)
    source = tmp_path / "requests.jsonl"
    source.write_bytes(request_lines(50))
    opens[str(source)] = 0
    result = run_dag(create_spec(f"prepared_once_{conn_id}", conn_id, src=str(source)))
    assert result.state == "success", result.output[-3000:]
    assert opens[str(source)] == 2  # validate-and-hash, upload
    assert len(prepared) == 1
    assert emulator.stats()["jobs_created"] == 1
    job = emulator.stats()["jobs"][0]
    assert job["request_count"] == 50
    assert job["display_name"] == prepared[0].display_name  # the prepared object is what was sent
    assert job["display_name"].endswith(result.value("create")["idempotency_key"])


def test_a_retried_ambiguous_create_sends_the_prepared_request_again(
    run_dag: Any, emulator: EmulatorHandle, tmp_path: Path, opens: dict[str, int]
) -> None:
    """A 503 on the create (not applied; the transport does not re-send a create): the look-ups find nothing
    and the same prepared create is sent again. The file is validated once and uploaded once per create."""
    source = tmp_path / "requests.jsonl"
    source.write_bytes(request_lines(3))
    opens[str(source)] = 0
    emulator.add_fault("status", method="POST", path=":batchGenerateContent$", status=503, count=1)
    result = run_dag(create_spec("prepared_once_retry", GEMINI_CONN_ID, src=str(source)))
    assert result.state == "success", result.output[-3000:]
    stats = emulator.stats()
    assert stats["jobs_created"] == 1 and stats["faults_fired"]["total"] == 1
    assert opens[str(source)] == 3  # validate-and-hash once, then one upload per create sent
    assert stats["requests"]["files.upload.start"] == 2


def test_vertex_derives_one_bigquery_destination_and_sends_it(
    run_dag: Any, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    derived: list[str] = []
    real = creation.bigquery_dest_name

    def recording(source_uri: str) -> str:
        name = real(source_uri)
        derived.append(name)
        return name

    monkeypatch.setattr(creation, "bigquery_dest_name", recording)
    rows = [{"request": {"contents": [{"role": "user", "parts": [{"text": t}]}]}} for t in ("p", "q")]
    emulator.put_table("bq://test-project.inputs.prompts", rows)
    result = run_dag(create_spec("vertex_one_dest", VERTEX_CONN_ID, src="bq://test-project.inputs.prompts"))
    assert result.state == "success", result.output[-3000:]
    assert len(derived) == 1 and derived[0].startswith("bq://test-project.inputs.prompts_dest_")
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    job = GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID).get_job(result.value("create")["job_name"])
    assert job.dest is not None and job.dest.bigquery_uri == derived[0]


_MEASURE = textwrap.dedent(
    """
    import json, logging, sys
    from types import SimpleNamespace
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from airflow_provider_genai_batch.operators._submission import CreateRequest, submit_create

    def rchar():
        with open("/proc/self/io") as io:
            return int(next(line for line in io if line.startswith("rchar:")).split()[1])

    hook = GenAIBatchHook(genai_batch_conn_id=sys.argv[1])
    hook.get_conn()  # connection read, client built, before the count starts
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)
    request = CreateRequest(model="gemini-2.5-flash", src=sys.argv[2], config=None, display_name=None)
    before = rchar()
    submission = submit_create(hook, {"ti": ti}, request, log=logging.getLogger("measure"))
    print(json.dumps({"read": rchar() - before, "job": submission.job.name}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
@pytest.mark.parametrize("conn_id", BACKENDS)
def test_bytes_read_from_disk_are_at_most_twice_the_file(
    emulator: EmulatorHandle, tmp_path: Path, conn_id: str
) -> None:
    source = tmp_path / "big.jsonl"
    source.write_bytes(request_lines(4000, pad=2000))  # about 8 MB
    size = source.stat().st_size
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, conn_id, str(source)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert emulator.stats()["jobs_created"] == 1
    # Two passes (validate-and-hash, upload), plus a little for what else the process reads (responses, modules).
    assert 2 * size <= measured["read"] <= 2 * size + 2 * 1024 * 1024, (measured, size)
