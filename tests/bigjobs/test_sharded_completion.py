"""Completion policies on sharded jobs (split / mapped create / combine) and on inputs a follow-up is cut from
remotely (``gs://`` shards on Vertex AI, ``files/`` on Gemini), through Airflow (``dag.test()``) against the
emulator: each shard's open rows are resubmitted once, and the combine writes every row once, in input order,
saying which attempt answered it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.policy.completion import CompletionPolicy
from tests.bigjobs.test_gcs_sharding import BUCKET, SHARD_PREFIX, SOURCE, put_source, uploads
from tests.bigjobs.test_sharding import PROMPTS, request_line
from tests.bigjobs.test_usage import expected_usage
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID
from tests.operators.test_completion import _dag as single_create_dag

#: Each shard's jobs carry their map index (mapped tasks run in no fixed order, even under ``dag.test()``).
DISPLAY_NAME = "shard-{{ ti.map_index }}-"
MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]
CONNS = [pytest.param(GEMINI_CONN_ID, id="gemini"), pytest.param(VERTEX_CONN_ID, id="vertex")]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _shard_outcomes(emulator: EmulatorHandle) -> None:
    """Each shard's jobs are named ``shard-<map index>-`` (``DISPLAY_NAME``). Shard 0 (rows 0-3): row 1 fails
    with 429 and row 3 with 400, its follow-up (row 1) answers; shard 1 (rows 4-7) expires after 2 rows, its
    follow-up (all 4) answers; shard 2 (rows 8-9) answers at once."""
    emulator.add_outcome(failed_requests={1: 429, 3: 400}, match_display_name="shard-0-")
    emulator.add_outcome("EXPIRED", expired_done=2, match_display_name="shard-1-")


def _check_merged(out: Path, manifest: dict[str, Any]) -> None:
    lines = _lines(out)
    assert [line["index"] for line in lines] == list(range(10))  # every row once, in input order
    assert [line["attempt"] for line in lines] == [1, 2, 1, 1, 2, 2, 2, 2, 1, 1]
    assert [line["key"] for line in lines] == [f"k{i}" for i in range(10)]
    assert lines[3]["error"]["code"] == 400 and "response" not in lines[3]
    for line in lines:
        if line["index"] != 3:  # each answer is its own row's, attributed back across attempts and shards
            text = line["response"]["candidates"][0]["content"]["parts"][0]["text"]
            assert text == f"echo: {PROMPTS[line['index']]}"
    assert manifest["results"] == 10 and manifest["succeeded"] == 9 and manifest["failed"] == 1
    assert manifest["given_up"] == 0
    completion = manifest["completion"]
    assert completion["rows"] == {"total": 10, "answered": 9, "failed": 1, "given_up": 0}
    assert completion["jobs"] == 5 and completion["attempts"] == 2
    assert [[a["rows"] for a in shard["attempts"]] for shard in manifest["shards"]] == [[4, 1], [4, 4], [2]]
    assert completion["job_names"] == [a["job_name"] for s in manifest["shards"] for a in s["attempts"]]
    assert len(set(completion["job_names"])) == 5
    answered = [PROMPTS[i] for i in range(10) if i != 3]
    # Usage adds up over the attempts that answered (the 400 row and the expired attempt used no tokens).
    assert manifest["usage"]["total"]["total_tokens"] == expected_usage(answered)["total_tokens"]


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("conn_id", CONNS)
def test_each_shards_open_rows_are_resubmitted_once_and_combined_in_order(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, conn_id: str, deferrable: bool
) -> None:
    """Local JSONL shards (stamped by the split): a follow-up's lines are re-stamped with their positions in it."""
    _shard_outcomes(fast_emulator)
    src = tmp_path / "prompts.jsonl"
    src.write_bytes(b"".join(request_line(p, f"k{i}") for i, p in enumerate(PROMPTS)))
    out = tmp_path / "combined.jsonl"
    result = run_built_dag(
        "sharded",
        f"sharded_completion_{conn_id}_{deferrable}",
        src=str(src),
        conn_id=conn_id,
        limits="vertex" if conn_id == VERTEX_CONN_ID else "gemini",
        destination=str(out),
        max_shard_requests=4,
        max_active=1,
        max_failure_ratio=0.25,
        deferrable=deferrable,
        completion={"max_attempts": 3},
        display_name=DISPLAY_NAME,
    )
    assert result.state == "success", result.output[-4000:]
    assert fast_emulator.stats()["jobs_created"] == 5
    _check_merged(out, result.value("combine"))


def test_gcs_shards_get_follow_up_objects_beside_them(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """gs:// shards (Vertex AI): each follow-up's rows are written next to its shard as ``.attempt-02.jsonl``,
    stamped with their positions in it, and the job reads that object."""
    put_source(fast_emulator)
    _shard_outcomes(fast_emulator)
    out = tmp_path / "combined.jsonl"
    result = run_built_dag(
        "sharded",
        "sharded_completion_gcs",
        src=SOURCE,
        conn_id=VERTEX_CONN_ID,
        limits="vertex",
        destination=str(out),
        max_shard_requests=4,
        max_active=1,
        max_failure_ratio=0.25,
        completion={"max_attempts": 3},
        display_name=DISPLAY_NAME,
    )
    assert result.state == "success", result.output[-4000:]
    manifest = result.value("combine")
    _check_merged(out, manifest)
    shards = [ref["src"] for ref in result.value("split")]
    followups = sorted(
        name for name in fast_emulator.list_objects(BUCKET, SHARD_PREFIX) if name.endswith(".attempt-02.jsonl")
    )
    expected = [shards[n].removeprefix(f"gs://{BUCKET}/").removesuffix(".jsonl") + ".attempt-02.jsonl" for n in (0, 1)]
    assert followups == expected
    first = [json.loads(line) for line in fast_emulator.get_object(BUCKET, followups[0]).splitlines()]
    assert [line["metadata"] for line in first] == [{"key": "k1", "genai_batch_index": "0"}]
    second = [json.loads(line) for line in fast_emulator.get_object(BUCKET, followups[1]).splitlines()]
    assert [line["metadata"]["genai_batch_index"] for line in second] == ["0", "1", "2", "3"]


def test_a_gemini_files_input_gets_a_follow_up_file(
    run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A ``files/`` input: attempt 2's rows are downloaded, cut and uploaded as a new file."""
    requests = [{"contents": p, "metadata": {"key": f"k{i}"}} for i, p in enumerate(PROMPTS[:6])]
    settings = ClientSettings(backend="gemini", api_key=fast_emulator.api_key, base_url=fast_emulator.base_url)
    with GenAIBatchClient(settings) as client:
        uploaded = client.files.upload(requests).name  # uploaded from requests: each line stamped
    fast_emulator.add_outcome("EXPIRED", expired_done=3)
    out = tmp_path / "results.jsonl"
    source = single_create_dag(
        "completion_files", uploaded, out, backend="gemini", deferrable=False, policy="CompletionPolicy(max_attempts=2)"
    )
    result = run_dag_file("completion_files", source)
    assert result.state == "success", result.output[-4000:]
    completion = result.value("create")["completion"]
    assert [a["rows"] for a in completion["attempts"]] == [6, 6]
    stats = fast_emulator.stats()
    assert stats["jobs_created"] == 2
    lines = _lines(out)
    assert [(line["index"], line["attempt"], line["key"]) for line in lines] == [(i, 2, f"k{i}") for i in range(6)]
    assert [line["response"]["candidates"][0]["content"]["parts"][0]["text"] for line in lines] == [
        f"echo: {p}" for p in PROMPTS[:6]
    ]


def test_a_bigquery_input_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(OperatorInputError) as caught:
        GenAIBatchCreateJobOperator(
            task_id="create", model="gemini-2.5-flash", src="bq://p.d.t", completion=CompletionPolicy()
        )
    assert caught.value.field == "completion"
    assert "BigQuery table (bq://p.d.t)" in str(caught.value)
    assert "bq extract" in str(caught.value) and "completion=None" in str(caught.value)
    GenAIBatchCreateJobOperator(task_id="plain", model="gemini-2.5-flash", src="bq://p.d.t")  # no policy: fine


def test_a_crash_after_a_gcs_follow_up_create_pays_no_second_job(
    run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A gs:// input (not a shard): try 1 writes the follow-up object, creates attempt 2, loses the response and
    cannot look it up, so the try fails. Try 2 cuts the same bytes (the object is left as it is) and finds
    attempt 2 by its derived key: two jobs in all, every row once."""
    put_source(fast_emulator)
    fast_emulator.add_outcome(failed_requests={3: 429})
    fast_emulator.add_fault("apply_then_drop", method="POST", path=r"/batchPredictionJobs$", skip=1, count=1)
    fast_emulator.add_fault("status", method="GET", path=r"/batchPredictionJobs$", status=403, skip=3, count=3)
    out = tmp_path / "results.jsonl"
    source = single_create_dag(
        "completion_gcs_crash",
        SOURCE,
        out,
        backend="vertex",
        deferrable=False,
        policy="CompletionPolicy(max_attempts=3)",
        retries=1,
    )
    result = run_dag_file("completion_gcs_crash", source)
    assert result.state == "success", result.output[-4000:]
    assert result.try_numbers["create"] == 2
    stats = fast_emulator.stats()
    assert stats["jobs_created"] == 2 and stats["faults_fired"]["total"] == 4
    completion = result.value("create")["completion"]
    assert [a["rows"] for a in completion["attempts"]] == [10, 1]
    followups = [n for n in fast_emulator.list_objects(BUCKET, "nightly/") if ".attempt-02." in n]
    assert len(followups) == 1 and ".run-" in followups[0]  # named for this create's task instance and attempt
    assert uploads(fast_emulator) == 1  # try 2 cut the same bytes: the object was left as it was
    lines = _lines(out)
    assert [(line["index"], line["attempt"]) for line in lines] == [(i, 2 if i == 3 else 1) for i in range(10)]


def test_a_follow_ups_generated_keys_are_the_rows_own(
    run_dag_file: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Requests without keys of their own: the client keys each by its position in its job, so a follow-up's
    results carry positions in the follow-up; the merged file gives each row its own index as key."""
    fast_emulator.add_outcome(failed_requests={2: 429, 4: 503})
    out = tmp_path / "results.jsonl"
    source = single_create_dag(
        "completion_generated_keys",
        [f"prompt {i}" for i in range(6)],
        out,
        backend="gemini",
        deferrable=False,
        policy="CompletionPolicy(max_attempts=2)",
    )
    result = run_dag_file("completion_generated_keys", source)
    assert result.state == "success", result.output[-4000:]
    lines = _lines(out)
    assert [(line["index"], line["key"], line["attempt"]) for line in lines] == [
        (i, str(i), 2 if i in (2, 4) else 1) for i in range(6)
    ]
