"""Inputs refused before any request (``src`` nested too deep or a too big Python literal; control characters in
display names; Vertex labels over the limit once the key label is counted), Vertex job names kept with their own
project and region, and the sensor's poll-error budget (issue 15 items 8, 10, 11, 12; issue 16.5).

Everything runs against the emulator over real sockets.
"""

from __future__ import annotations

import json
import tracemalloc
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_genai_batch.client.creation import prepare_create
from airflow_provider_genai_batch.client.errors import InvalidInputError, NotFoundError
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator
from airflow_provider_genai_batch.operators._inputs import MAX_LITERAL_CHARS, OperatorInputError, decode_json_source
from airflow_provider_genai_batch.policy.idempotency import labels_with_key
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID, set_connection
from tests.reliability.conftest import vertex_settings

PROMPTS = [{"contents": f"prompt {i}", "metadata": {"key": f"k{i}"}} for i in range(6)]
NO_RETRY_GEMINI = "genai_batch_noretry"


def task_context(try_number: int = 1, task_id: str = "save", run_id: str = "run-1") -> dict[str, Any]:
    """What the writer reads from a context: the task instance's identity and try."""
    ti = SimpleNamespace(dag_id="dag", task_id=task_id, run_id=run_id, map_index=-1, try_number=try_number)
    return {"ti": ti}


# --- items 8 and 10: src input handling ------------------------------------------------------------------------


def test_deeply_nested_src_is_refused_naming_the_field() -> None:
    def nested(depth: int) -> list[dict[str, Any]]:
        value: Any = "leaf"
        for _ in range(depth):
            value = {"parts": [value]}
        return [{"contents": "fine"}, {"contents": [value]}]

    with pytest.raises(OperatorInputError, match="nested more than 100 levels") as caught:
        decode_json_source(nested(5000))  # what the create operators call first on src
    assert caught.value.field.startswith("src[1].contents[0].parts[0].parts[0]")
    with pytest.raises(OperatorInputError, match="nested more than") as caught:
        decode_json_source("[" * 100_000 + "]" * 100_000)  # deeper than json.loads can recurse
    assert caught.value.field == "src"
    # A templated src renders to a string at run time: the operator refuses it before any call.
    operator = GenAIBatchCreateJobOperator(task_id="t", model="gemini-2.5-flash", src=json.dumps(nested(150)))
    with pytest.raises(OperatorInputError, match=r"nested more than 100 levels") as caught:
        operator.execute(task_context())  # type: ignore[arg-type]
    assert caught.value.field.startswith("src[1].contents[0].parts[0]")
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(150):
        schema = {"type": "object", "properties": {"x": schema}}
    config = json.dumps({"response_schema": schema})  # a templated config renders to a string
    operator = GenAIBatchCreateJobOperator(task_id="t", model="gemini-2.5-flash", src=["hi"], config=config)
    with pytest.raises(OperatorInputError, match="nested more than") as caught:
        operator.execute(task_context())  # type: ignore[arg-type]
    assert caught.value.field.startswith("config.response_schema.properties.x.properties.x")


def test_a_big_python_literal_src_is_refused_with_a_bounded_cost_and_json_stays_fast() -> None:
    requests = [{"contents": f"request {i}", "metadata": {"key": str(i)}} for i in range(100_000)]
    literal, as_json = str(requests), json.dumps(requests)
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        with pytest.raises(OperatorInputError, match=r"tojson.*or pass a file") as caught:
            decode_json_source(literal)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.field == "src"
    assert (peak - baseline) < 2**20  # refused before parsing: nothing near the 135x of literal_eval
    assert decode_json_source(as_json) == requests
    small = str(requests[:100])
    assert len(small) < MAX_LITERAL_CHARS and decode_json_source(small) == requests[:100]


# --- item 6: the sensor's poll error budget --------------------------------------------------------------------


@pytest.fixture
def no_retry_gemini(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> str:
    connection = {"conn_type": "genai_batch", "host": emulator.base_url, "password": emulator.api_key}
    connection["extra"] = {"max_retries": 0}  # type: ignore[assignment]
    set_connection(monkeypatch, NO_RETRY_GEMINI, connection)
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    return NO_RETRY_GEMINI


def sensor_dag(job_name: str, deferrable: bool, budget: int) -> dict[str, Any]:
    sensor = {
        "class": "GenAIBatchJobSensor",
        "task_id": "wait",
        "name": job_name,
        "genai_batch_conn_id": NO_RETRY_GEMINI,
        "deferrable": deferrable,
        "poke_interval": 0.05,
        "poll_interval": 0.1,
        "min_poll_interval": 0.05,
        "max_consecutive_poll_errors": budget,
    }
    return {"dag_id": f"poll_budget_sensor_{deferrable}_{budget}", "tasks": [sensor]}


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_sensor_tolerates_poll_errors_within_its_budget(
    run_dag: Any, emulator: EmulatorHandle, no_retry_gemini: str, deferrable: bool
) -> None:
    job = GenAIBatchHook(genai_batch_conn_id=GEMINI_CONN_ID).create_job(model="gemini-2.5-flash", src=["x"])
    emulator.add_fault("status", method="GET", path=r"/batches/[^/:]+$", status=503, count=2)
    result = run_dag(sensor_dag(job.name, deferrable, budget=3))
    assert result.state == "success", result.output[-3000:]
    assert result.value("wait")["state"] == "JOB_STATE_SUCCEEDED"
    assert emulator.stats()["faults_fired"]["total"] == 2
    assert "poll failed" in result.output


def test_sensor_in_poke_mode_fails_when_the_budget_is_spent(
    run_dag: Any, emulator: EmulatorHandle, no_retry_gemini: str
) -> None:
    job = GenAIBatchHook(genai_batch_conn_id=GEMINI_CONN_ID).create_job(model="gemini-2.5-flash", src=["x"])
    emulator.add_fault("status", method="GET", path=r"/batches/[^/:]+$", status=503, count=None)
    result = run_dag(sensor_dag(job.name, False, budget=3))
    assert result.task_states["wait"] == "failed"
    assert "polling failed (transient, 3 in a row)" in result.output
    assert emulator.stats()["faults_fired"]["total"] == 3


def test_sensor_fails_at_once_on_a_permanent_error(
    run_dag: Any, emulator: EmulatorHandle, no_retry_gemini: str
) -> None:
    result = run_dag(sensor_dag("batches/missing", True, budget=5))
    assert result.task_states["wait"] == "failed"
    assert "polling failed (permanent, 1 in a row)" in result.output


# --- item 11: Vertex names in another project or region --------------------------------------------------------


def test_vertex_names_keep_their_own_project_and_region(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.configure(job_seconds=3600)  # still running when cancelled, however slow the machine
    job = GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID).create_job(model="gemini-2.5-flash", src=PROMPTS)
    other = {
        "conn_type": "genai_batch",
        "host": emulator.base_url,
        "extra": {"backend": "vertex", "project": "other-project", "location": "europe-west4", "access_token": "t"},
    }
    set_connection(monkeypatch, "genai_batch_vertex_other", other)
    hook = GenAIBatchHook(genai_batch_conn_id="genai_batch_vertex_other")
    assert hook.get_job(job.name).name == job.name  # the name's project and region, not the connection's
    hook.cancel_job(job.name)
    assert emulator.stats()["cancels"]["vertex"] == 1
    with pytest.raises(NotFoundError):
        hook.get_job(job.name.rsplit("/", 1)[-1])  # a bare id is in the connection's project: not there
    for bad in ["projects/p/locations/evil.example.com#/batchPredictionJobs/1", "projects/P Q/locations/x/1"]:
        with pytest.raises(InvalidInputError, match="is not a Vertex batch prediction job name"):
            hook.get_job(bad)


# --- item 12: label count and display names --------------------------------------------------------------------


def test_vertex_label_limit_counts_the_idempotency_key_label(emulator: EmulatorHandle) -> None:
    key = "0" * 24
    settings = vertex_settings(emulator)
    own = {f"l{i}": "v" for i in range(63)}
    prepare_create(
        settings, model="gemini-2.5-flash", src="gs://bkt/in.jsonl", config={"labels": labels_with_key(own, key)}
    )
    too_many = {**own, "l63": "v"}
    with pytest.raises(InvalidInputError, match=r"65 labels.*64 given plus.*genai-batch-key") as caught:
        prepare_create(
            settings,
            model="gemini-2.5-flash",
            src="gs://bkt/in.jsonl",
            config={"labels": labels_with_key(too_many, key)},
        )
    assert caught.value.field == "config.labels" and "at most 63 labels of your own" in caught.value.fix
    operator = GenAIBatchCreateJobOperator(
        task_id="t",
        model="gemini-2.5-flash",
        src="gs://bkt/in.jsonl",
        config={"labels": too_many},
        genai_batch_conn_id=VERTEX_CONN_ID,
    )
    with pytest.raises(InvalidInputError, match="genai-batch-key"):
        operator.execute(task_context())  # type: ignore[arg-type]
    assert emulator.stats()["requests"] == {}  # refused before any call


@pytest.mark.parametrize("conn_id", [GEMINI_CONN_ID, VERTEX_CONN_ID], ids=["gemini", "vertex"])
@pytest.mark.parametrize("bad", ["line\nbreak", "tab\there", "esc\x1b[31m", "nul\x00", "del\x7f", "c1\x85c1", "\ud800"])
def test_control_characters_in_display_names_are_refused(emulator: EmulatorHandle, conn_id: str, bad: str) -> None:
    settings = vertex_settings(emulator) if conn_id == VERTEX_CONN_ID else None
    if settings is not None:
        with pytest.raises(InvalidInputError, match="control character") as caught:
            prepare_create(settings, model="gemini-2.5-flash", src="gs://bkt/in.jsonl", config={"display_name": bad})
        assert caught.value.field == "config.display_name"
    for kwargs in ({"display_name": bad}, {"config": {"display_name": bad}}):
        operator = GenAIBatchCreateJobOperator(
            task_id="t", model="gemini-2.5-flash", src=["hi"], genai_batch_conn_id=conn_id, **kwargs
        )
        with pytest.raises((OperatorInputError, InvalidInputError), match="control character"):
            operator.execute(task_context())  # type: ignore[arg-type]
    assert emulator.stats()["requests"] == {}
