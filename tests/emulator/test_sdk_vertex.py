"""The official google-genai SDK drives the emulator's Vertex AI batch prediction: GCS and BigQuery jobs, list
with filters, cancel, delete, every terminal state, express mode and auth."""

from __future__ import annotations

import json
import re

import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.emulator.conftest import wait_done

MODEL = "gemini-2.5-flash"
NAME = re.compile(r"projects/my-proj/locations/us-central1/batchPredictionJobs/[1-9][0-9]{18}")


def _request(text: str) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def _put_input(emu: EmulatorHandle, name: str, texts: list[str]) -> str:
    data = "".join(json.dumps({"key": f"k{i}", "request": _request(t)}) + "\n" for i, t in enumerate(texts))
    emu.put_object("in-bucket", name, data.encode(), "application/jsonl")
    return f"gs://in-bucket/{name}"


def test_gcs_job_partially_succeeds_and_writes_predictions(vertex: genai.Client, emu: EmulatorHandle) -> None:
    src = _put_input(emu, "batch/in.jsonl", ["alpha", "EMULATOR_FAIL beta", "gamma"])
    job = vertex.batches.create(model=MODEL, src=src)
    assert job.name is not None and NAME.fullmatch(job.name)
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.display_name is not None and job.display_name.startswith("genai_batch_job_")
    assert job.model == f"projects/my-proj/locations/us-central1/publishers/google/models/{MODEL}"
    assert job.src is not None and job.src.gcs_uri == [src] and job.src.format == "jsonl"
    assert job.dest is not None and job.dest.gcs_uri == "gs://in-bucket/batch/in/dest"

    done = wait_done(lambda: vertex.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED
    assert done.error is None and done.start_time is not None and done.end_time is not None
    assert done.completion_stats is not None
    stats = done.completion_stats
    assert (stats.successful_count, stats.failed_count, stats.incomplete_count) == (2, 1, 0)
    assert done.output_info is not None and done.output_info.gcs_output_directory is not None
    directory = done.output_info.gcs_output_directory
    assert directory.startswith("gs://in-bucket/batch/in/dest/prediction-model-")

    prefix = directory.removeprefix("gs://in-bucket/")
    assert emu.list_objects("in-bucket", prefix) == [f"{prefix}/predictions.jsonl"]
    rows = [json.loads(line) for line in emu.get_object("in-bucket", f"{prefix}/predictions.jsonl").splitlines()]
    rows.sort(key=lambda row: str(row["key"]))  # written in a shuffled order, as Google may; the key says which
    assert [row["key"] for row in rows] == ["k0", "k1", "k2"]
    assert rows[0]["status"] == "" and rows[0]["request"] == _request("alpha")
    assert rows[0]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "echo: alpha"
    assert rows[0]["processed_time"].endswith("+00:00")
    assert rows[1]["status"].startswith('Bad Request: {"error": {"code": 400, ')  # Google's failed-row format
    assert "EMULATOR_FAIL" in rows[1]["status"] and rows[1]["response"] == {}


def test_counts_grow_while_running(vertex: genai.Client, emu: EmulatorHandle) -> None:
    src = _put_input(emu, "four.jsonl", ["a", "b", "c", "d"])
    emu.add_outcome(pending_seconds=0, job_seconds=100)
    job = vertex.batches.create(model=MODEL, src=src, config={"dest": "gs://out/run"})
    assert job.state == types.JobState.JOB_STATE_RUNNING and job.start_time is not None
    emu.advance_clock(50)
    half = vertex.batches.get(name=job.name or "")
    assert half.completion_stats is not None
    # Vertex reports incompleteCount -1 ("unknown") while a job runs.
    assert (half.completion_stats.successful_count, half.completion_stats.incomplete_count) == (2, -1)
    assert half.output_info is None
    emu.advance_clock(50)
    assert vertex.batches.get(name=job.name or "").state == types.JobState.JOB_STATE_SUCCEEDED


def test_gcs_output_is_sharded_past_vertex_shard_rows(vertex: genai.Client, emu: EmulatorHandle) -> None:
    emu.configure(vertex_shard_rows=2)
    _put_input(emu, "many/in-1.jsonl", ["a", "b", "c"])
    _put_input(emu, "many/in-2.jsonl", ["d", "e"])
    _put_input(emu, "many/other.jsonl", ["not matched"])
    job = vertex.batches.create(model=MODEL, src="gs://in-bucket/many/in-*.jsonl", config={"dest": "gs://out/x/"})
    done = wait_done(lambda: vertex.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.output_info is not None and done.output_info.gcs_output_directory is not None
    prefix = done.output_info.gcs_output_directory.removeprefix("gs://out/")
    names = emu.list_objects("out", prefix)
    assert names == [f"{prefix}/predictions_0000{i}.jsonl" for i in (1, 2, 3)]
    texts = [
        json.loads(line)["request"]["contents"][0]["parts"][0]["text"]
        for name in names
        for line in emu.get_object("out", name).splitlines()
    ]
    assert sorted(texts) == ["a", "b", "c", "d", "e"]  # rows come back shuffled, as Google may


def test_bigquery_job_reads_and_writes_tables(vertex: genai.Client, emu: EmulatorHandle) -> None:
    emu.put_table(
        "bq://proj.ds.requests",
        [
            {"id": 1, "request": _request("from bigquery")},
            {"id": 2, "request": json.dumps(_request("EMULATOR_FAIL as json text"))},
        ],
    )
    job = vertex.batches.create(model=MODEL, src="bq://proj.ds.requests", config={"dest": "bq://proj.out"})
    assert job.src is not None and job.src.bigquery_uri == "bq://proj.ds.requests" and job.src.format == "bigquery"
    done = wait_done(lambda: vertex.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED
    assert done.output_info is not None and done.output_info.bigquery_output_table is not None
    table = done.output_info.bigquery_output_table
    assert re.fullmatch(r"predictions_\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d_\d{3}Z", table)
    assert f"bq://proj.out.{table}" in emu.list_tables()
    rows = sorted(emu.get_table(f"bq://proj.out.{table}"), key=lambda row: row["id"])  # a table has no order
    assert [row["id"] for row in rows] == [1, 2]
    assert rows[0]["status"] == "" and rows[0]["response"]["candidates"][0]["content"]["parts"][0]["text"] == (
        "echo: from bigquery"
    )
    assert rows[1]["status"].startswith("Bad Request: ") and rows[1]["response"] == {}

    exact = vertex.batches.create(model=MODEL, src="bq://proj.ds.requests")  # SDK default: an exact table
    assert exact.dest is not None and exact.dest.bigquery_uri is not None
    wait_done(lambda: vertex.batches.get(name=exact.name or ""))
    assert len(emu.get_table(exact.dest.bigquery_uri)) == 2


def test_list_with_filters_and_pages(vertex: genai.Client, emu: EmulatorHandle) -> None:
    src = _put_input(emu, "in.jsonl", ["x"])
    emu.add_outcome("STUCK_PENDING", match_display_name="stuck", count=None)
    stuck = [vertex.batches.create(model=MODEL, src=src, config={"display_name": f"stuck-{i}"}) for i in range(3)]
    done = vertex.batches.create(model=MODEL, src=src, config={"display_name": "quick"})
    wait_done(lambda: vertex.batches.get(name=done.name or ""))

    everything = [j.name for j in vertex.batches.list(config={"page_size": 2})]
    assert everything == [done.name, *(j.name for j in reversed(stuck))]
    succeeded = list(vertex.batches.list(config={"filter": "state=JOB_STATE_SUCCEEDED", "page_size": 1}))
    assert [j.name for j in succeeded] == [done.name]
    by_name = list(vertex.batches.list(config={"filter": 'display_name="stuck-1" AND state=JOB_STATE_PENDING'}))
    assert [j.name for j in by_name] == [stuck[1].name]
    with pytest.raises(errors.ClientError) as bad:
        list(vertex.batches.list(config={"filter": "create_time>2020"}))
    assert bad.value.code == 400 and bad.value.status == "INVALID_ARGUMENT"


def test_cancel_goes_through_cancelling_then_delete(vertex: genai.Client, emu: EmulatorHandle) -> None:
    emu.configure(cancel_seconds=0.2)
    emu.add_outcome("STUCK_PENDING")
    job = vertex.batches.create(model=MODEL, src=_put_input(emu, "in.jsonl", ["x"]))
    with pytest.raises(errors.ClientError) as running:
        vertex.batches.delete(name=job.name or "")
    assert running.value.status == "FAILED_PRECONDITION"

    vertex.batches.cancel(name=job.name or "")
    assert vertex.batches.get(name=job.name or "").state == types.JobState.JOB_STATE_CANCELLING
    cancelled = wait_done(lambda: vertex.batches.get(name=job.name or ""))
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED
    assert cancelled.error is not None and cancelled.error.code == 1 and cancelled.output_info is None

    deleted = vertex.batches.delete(name=job.name or "")
    assert deleted.done is True and deleted.name is not None and "/operations/" in deleted.name
    with pytest.raises(errors.ClientError) as gone:
        vertex.batches.get(name=job.name or "")
    assert gone.value.code == 404


@pytest.mark.parametrize(
    ("final_state", "expected", "code"),
    [
        ("FAILED", types.JobState.JOB_STATE_FAILED, 13),
        ("EXPIRED", types.JobState.JOB_STATE_EXPIRED, 4),
        ("CANCELLED", types.JobState.JOB_STATE_CANCELLED, 1),
    ],
)
def test_failed_expired_cancelled_outcomes_parse(
    vertex: genai.Client, emu: EmulatorHandle, final_state: str, expected: types.JobState, code: int
) -> None:
    emu.add_outcome(final_state, error_message="planned failure")
    job = vertex.batches.create(model=MODEL, src=_put_input(emu, "in.jsonl", ["x", "y"]))
    done = wait_done(lambda: vertex.batches.get(name=job.name or ""))
    assert done.state == expected
    assert done.error is not None and done.error.code == code and done.error.message == "planned failure"
    assert done.output_info is None and done.completion_stats is not None
    assert done.completion_stats.incomplete_count == 2


def test_missing_input_fails_the_job_with_a_clear_error(vertex: genai.Client, emu: EmulatorHandle) -> None:
    job = vertex.batches.create(model=MODEL, src="gs://in-bucket/nothing-here.jsonl")
    done = wait_done(lambda: vertex.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_FAILED
    assert done.error is not None and done.error.message is not None
    assert "gs://in-bucket/nothing-here.jsonl" in done.error.message and not done.error.details

    no_table = vertex.batches.create(model=MODEL, src="bq://proj.ds.missing", config={"dest": "bq://proj.out"})
    missing = wait_done(lambda: vertex.batches.get(name=no_table.name or ""))
    assert missing.state == types.JobState.JOB_STATE_FAILED
    assert missing.error is not None and missing.error.message == "BigQuery table bq://proj.ds.missing was not found."

    emu.put_object("in-bucket", "bad.jsonl", b'{"request": {"contents": []}}\n\nnot json\n')
    bad = vertex.batches.create(model=MODEL, src="gs://in-bucket/bad.jsonl")
    failed = wait_done(lambda: vertex.batches.get(name=bad.name or ""))
    assert failed.error is not None and "gs://in-bucket/bad.jsonl line 3: invalid JSON" in (failed.error.message or "")


def test_all_rows_failing_fails_the_job_but_keeps_results(vertex: genai.Client, emu: EmulatorHandle) -> None:
    emu.add_outcome(failed_requests=[0, 1])
    job = vertex.batches.create(model=MODEL, src=_put_input(emu, "in.jsonl", ["x", "y"]))
    done = wait_done(lambda: vertex.batches.get(name=job.name or ""))
    assert done.state == types.JobState.JOB_STATE_FAILED
    assert done.completion_stats is not None and done.completion_stats.failed_count == 2
    assert done.output_info is not None and done.output_info.gcs_output_directory


def test_finish_job_ends_a_job_now(vertex: genai.Client, emu: EmulatorHandle) -> None:
    emu.add_outcome("STUCK_PENDING")
    job = vertex.batches.create(model=MODEL, src=_put_input(emu, "in.jsonl", ["x"]))
    summary = emu.finish_job(job.name or "", "SUCCEEDED")
    assert summary["state"] == "JOB_STATE_SUCCEEDED"
    done = vertex.batches.get(name=job.name or "")
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED and done.output_info is not None


def test_express_mode_uses_the_api_key(emu: EmulatorHandle) -> None:
    express = genai.Client(vertexai=True, api_key=emu.api_key, http_options={"base_url": emu.base_url})
    job = express.batches.create(model=MODEL, src=_put_input(emu, "in.jsonl", ["x"]))
    assert job.name is not None and job.name.startswith("projects/express-mode/locations/global/batchPredictionJobs/")
    assert wait_done(lambda: express.batches.get(name=job.name or "")).state == types.JobState.JOB_STATE_SUCCEEDED

    wrong = genai.Client(vertexai=True, api_key="wrong", http_options={"base_url": emu.base_url})
    with pytest.raises(errors.ClientError) as info:
        wrong.batches.get(name=job.name)
    assert info.value.code == 400


def test_unaccepted_token_is_401(emu: EmulatorHandle) -> None:
    emu.configure(accepted_tokens=["the-only-token"])
    client = genai.Client(
        vertexai=True,
        project="my-proj",
        location="us-central1",
        credentials=Credentials(token="another-token"),
        http_options={"base_url": emu.base_url},
    )
    with pytest.raises(errors.ClientError) as info:
        list(client.batches.list())
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"
