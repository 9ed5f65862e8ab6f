"""The bad-input corpus: table-driven cases across operators, hook, client, connections and API responses.

Every case must fail with a typed error that names the field (and, where the error type carries one, suggests a
fix), before any network call: the emulator records no create call (and, for input errors, no request at all).
Malformed API responses are served with respx at the transport level and must raise ``InvalidResponseError``
(or another typed error), never a bare ``AttributeError``/pydantic ``ValidationError``, and an unknown job state
must never be read as success.

Layers, and how each is driven:

- ``OPERATOR_INIT``: operator constructors (the checks that run at DAG parse time).
- ``OPERATOR_RUN``: one ``dag.test()`` of a DAG holding one independent task per case, against the emulator;
  each task's exception is recorded by an ``on_failure_callback`` (``dag_support.record_failure``).
- ``CLIENT``: ``GenAIBatchClient`` / ``ClientSettings`` against the emulator over a real socket.
- ``CONNECTION``: Airflow connections (``AIRFLOW_CONN_*``) through ``GenAIBatchHook``, sync and async.
- ``RESPONSES``: malformed API answers served by respx.

A case that a known product defect breaks is marked ``xfail(strict=True)`` with the defect's id from
RELIABILITY.md (none is open now: D1-D9 and D12 were found here and fixed).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_genai_batch.client import (
    ClientSettings,
    GenAIBatchClient,
    GenAIBatchError,
    InvalidInputError,
    InvalidResponseError,
    JobState,
)
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.operators import (
    GenAIBatchCreateEmbeddingsJobOperator,
    GenAIBatchCreateJobOperator,
    GenAIBatchListJobsOperator,
)
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.policy.polling import DecisionKind, decide_for_job
from airflow_provider_genai_batch.sensors import GenAIBatchJobSensor
from tests.conftest import (
    GEMINI_CONN_ID,
    STAGING_BUCKET,
    VERTEX_CONN_ID,
    VERTEX_LOCATION,
    VERTEX_PROJECT,
    gemini_connection,
    vertex_connection,
)
from tests.reliability.conftest import gemini_settings, vertex_settings
from tests.reliability.dag_support import (
    FAILURES_DIR_ENV,
    read_failures,
    run_dag_file,
    task_states,
    write_dag_file,
)

MODEL = "gemini-2.5-flash"
#: A recognisable API key: no error text may ever contain it.
API_KEY_MARKER = "AIzaRELIABILITY-corpus-key-0123456789"


def xfail(defect: str, why: str) -> pytest.MarkDecorator:
    """A strict xfail naming the defect (see RELIABILITY.md)."""
    return pytest.mark.xfail(strict=True, reason=f"{defect}: {why}")


def assert_names_field(exc: BaseException, expected_field: str) -> None:
    """The error names the field in its ``field``/``parameter`` and its text, and suggests a fix."""
    named = getattr(exc, "field", None) or getattr(exc, "parameter", None)
    assert isinstance(named, str) and expected_field in named, f"field {named!r} does not name {expected_field!r}"
    assert expected_field in str(exc)
    fix = getattr(exc, "fix", None)
    assert isinstance(fix, str) and fix.strip(), f"no fix suggested: {exc}"
    assert API_KEY_MARKER not in str(exc)


# =====================================================================================================================
# 1. Operator constructors
# =====================================================================================================================

OperatorFactory = Callable[[], object]


@dataclass(frozen=True)
class InitCase:
    id: str
    build: OperatorFactory
    parameter: str
    marks: tuple[pytest.MarkDecorator, ...] = ()


def _create(**kwargs: Any) -> OperatorFactory:
    return lambda: GenAIBatchCreateJobOperator(task_id="t", model=MODEL, src=["hi"], **kwargs)


def _sensor(**kwargs: Any) -> OperatorFactory:
    return lambda: GenAIBatchJobSensor(task_id="t", name="batches/abc", **kwargs)


INIT_CASES = [
    InitCase("create-poll-interval-zero", _create(poll_interval=0), "poll_interval"),
    InitCase("create-min-poll-interval-negative", _create(min_poll_interval=-1), "min_poll_interval"),
    InitCase("create-timeout-nan", _create(timeout=float("nan")), "timeout"),
    InitCase("create-timeout-string", _create(timeout="3600"), "timeout"),
    InitCase("create-ratio-above-one", _create(max_failure_ratio=1.5), "max_failure_ratio"),
    InitCase("create-ratio-bool", _create(max_failure_ratio=True), "max_failure_ratio"),
    InitCase("create-poll-errors-zero", _create(max_consecutive_poll_errors=0), "max_consecutive_poll_errors"),
    InitCase("create-poll-errors-bool", _create(max_consecutive_poll_errors=True), "max_consecutive_poll_errors"),
    InitCase(
        "embeddings-poll-interval-inf",
        lambda: GenAIBatchCreateEmbeddingsJobOperator(task_id="t", model=MODEL, src=["a"], poll_interval=float("inf")),
        "poll_interval",
    ),
    InitCase("list-max-jobs-zero", lambda: GenAIBatchListJobsOperator(task_id="t", max_jobs=0), "max_jobs"),
    InitCase("list-page-size-bool", lambda: GenAIBatchListJobsOperator(task_id="t", page_size=True), "page_size"),
    InitCase("sensor-poll-interval-string", _sensor(poll_interval="60"), "poll_interval"),
    InitCase("sensor-min-poll-interval-zero", _sensor(min_poll_interval=0), "min_poll_interval"),
    InitCase("sensor-ratio-negative", _sensor(max_failure_ratio=-0.1), "max_failure_ratio"),
    InitCase("sensor-poll-errors-zero", _sensor(max_consecutive_poll_errors=0), "max_consecutive_poll_errors"),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in INIT_CASES])
def test_operator_constructor(case: InitCase) -> None:
    with pytest.raises(OperatorInputError) as info:
        case.build()
    assert_names_field(info.value, case.parameter)


# =====================================================================================================================
# 2. Operators through dag.test(): one DAG, one independent task per case
# =====================================================================================================================

RUN_DAG_ID = "reliability_bad_input_corpus"
# Connections of the operator run besides genai_batch_default (Gemini) and genai_batch_vertex.
NOSTAGING_CONN = "rel_vertex_nostaging"
UNKNOWN_EXTRA_CONN = "rel_unknown_extra"
BAD_BACKEND_CONN = "rel_bad_backend"
BAD_KEY_JSON_CONN = "rel_bad_key_json"
NO_KEY_CONN = "rel_no_api_key"
MISSING_KEY_FILE_CONN = "rel_missing_key_file"


@dataclass(frozen=True)
class RunCase:
    id: str
    task: dict[str, Any]
    field: str
    error: str = "InvalidInputError"  # a class name in the exception's MRO
    marks: tuple[pytest.MarkDecorator, ...] = ()


def _c(case_id: str, field_name: str, error: str = "InvalidInputError", **task: Any) -> RunCase:
    """A create-operator case on the Gemini connection unless ``genai_batch_conn_id`` says otherwise."""
    spec = {"class": "GenAIBatchCreateJobOperator", "model": MODEL, "src": ["hi"], **task}
    return RunCase(case_id, spec, field_name, error)


def _v(case_id: str, field_name: str, error: str = "InvalidInputError", **task: Any) -> RunCase:
    """A create-operator case on the Vertex AI connection."""
    return _c(case_id, field_name, error, genai_batch_conn_id=VERTEX_CONN_ID, **task)


def _op(case_id: str, cls: str, field_name: str, error: str = "InvalidInputError", **task: Any) -> RunCase:
    return RunCase(case_id, {"class": cls, **task}, field_name, error)


OPERATOR_ERROR = "InvalidInputError"  # the one input error (OperatorInputError is its alias)
# Placeholders replaced by files written when the DAG runs.
MALFORMED_JSONL = "@malformed.jsonl"
NO_REQUEST_JSONL = "@no_request.jsonl"
EMPTY_JSONL = "@empty.jsonl"

RUN_CASES = [
    # --- models
    _c("model-with-space", "model", model="gemini 2.5 flash"),
    _c("model-empty", "model", OPERATOR_ERROR, model=""),
    _c("model-dotdot", "model", model="models/../etc"),
    _c("model-query", "model", model="gemini-2.5-flash?key=x"),
    _c("model-vertex-path-on-gemini", "model", model="publishers/google/models/gemini-2.5-flash"),
    _v("model-three-parts-on-vertex", "model", model="a/b/c"),
    # --- sources: empty, wrong kind per backend, malformed URIs, malformed requests
    _c("src-empty-string", "src", OPERATOR_ERROR, src=""),
    _c("src-empty-list", "src", OPERATOR_ERROR, src=[]),
    _c("src-gcs-on-gemini", "src", src="gs://bucket-a/in.jsonl"),
    _c("src-bigquery-on-gemini", "src", src="bq://proj.dataset.table"),
    _c("src-plain-text", "src", src="summarise this"),
    _c("src-single-request", "src", src={"contents": "hi"}),
    _c("src-bad-template-json", "src", OPERATOR_ERROR, src="[{'contents': "),
    _c("src-empty-prompt", "src[0].contents", src=[{"contents": ""}]),
    _c("src-int-request", "src[1]", src=["ok", 42]),
    _c("src-metadata-int", "src[0].metadata.key", src=[{"contents": "x", "metadata": {"key": 7}}]),
    _c("src-metadata-not-mapping", "src[0].metadata", src=[{"contents": "x", "metadata": "k"}]),
    _c("src-missing-local-file", "src", src="/nonexistent/dir/requests.jsonl"),
    _c("src-malformed-jsonl-line-3", "src line 3", src=MALFORMED_JSONL),
    _c("src-jsonl-without-request-line-2", "src line 2", src=NO_REQUEST_JSONL),
    _c("src-empty-jsonl", "src", src=EMPTY_JSONL),
    _v("src-gcs-bad-bucket", "src", src="gs://Bad_Bucket/in.jsonl"),
    _v("src-gcs-no-bucket", "src", src="gs://"),
    _v("src-bq-no-dataset", "src", src="bq://proj"),
    _v("src-bq-no-table", "src", src="bq://proj.dataset"),
    _v("src-file-on-vertex", "src", src="files/abc123"),
    _c("src-inline-on-vertex-without-staging", "gcs_staging_prefix", genai_batch_conn_id=NOSTAGING_CONN),
    # --- config: wrong types, wrong fields per backend, oversized values
    _c("config-a-list", "config", OPERATOR_ERROR, config=["dest"]),
    _c("config-dest-on-gemini", "config.dest", config={"dest": "gs://bucket-a/out"}),
    _c("config-labels-on-gemini", "config.labels", config={"labels": {"team": "x"}}),
    _c("display-name-int", "display_name", OPERATOR_ERROR, display_name=5),
    RunCase(
        "config-display-name-int",
        {"class": "GenAIBatchCreateJobOperator", "model": MODEL, "src": ["hi"], "config": {"display_name": 5}},
        "display_name",
    ),
    _v("config-dest-s3", "config.dest", src="gs://bucket-a/in.jsonl", config={"dest": "s3://b/out"}),
    _v(
        "config-label-key-uppercase",
        "config.labels.Team",
        src="gs://bucket-a/in.jsonl",
        config={"labels": {"Team": "a"}},
    ),
    _v(
        "config-label-value-oversized",
        "config.labels.team",
        src="gs://bucket-a/in.jsonl",
        config={"labels": {"team": "x" * 64}},
    ),
    _v("config-label-value-int", "config.labels", src="gs://bucket-a/in.jsonl", config={"labels": {"team": 5}}),
    _v(
        "config-webhook-on-vertex",
        "config.webhook_config",
        src="gs://bucket-a/in.jsonl",
        config={"webhook_config": {"uris": ["https://h"]}},
    ),
    # --- embeddings
    _op(
        "embeddings-on-vertex",
        "GenAIBatchCreateEmbeddingsJobOperator",
        "backend",
        model="gemini-embedding-001",
        src=["a"],
        genai_batch_conn_id=VERTEX_CONN_ID,
    ),
    _op(
        "embeddings-gcs-source",
        "GenAIBatchCreateEmbeddingsJobOperator",
        "src",
        model="gemini-embedding-001",
        src="gs://bucket-a/x.jsonl",
    ),
    _op(
        "embeddings-int-texts", "GenAIBatchCreateEmbeddingsJobOperator", "src", model="gemini-embedding-001", src=[1, 2]
    ),
    # --- job names for get / cancel / delete / results / sensor; list filter
    _op("get-empty-name", "GenAIBatchGetJobOperator", "name", OPERATOR_ERROR, name=""),
    _op("get-dotdot-name", "GenAIBatchGetJobOperator", "name", name="batches/../x"),
    _op("get-manifest-without-job-name", "GenAIBatchGetJobOperator", "name", OPERATOR_ERROR, name={"state": "x"}),
    _op("cancel-name-with-space", "GenAIBatchCancelJobOperator", "name", name="batches/has space"),
    _op(
        "delete-non-numeric-vertex-id",
        "GenAIBatchDeleteJobOperator",
        "name",
        name=f"projects/{VERTEX_PROJECT}/locations/{VERTEX_LOCATION}/batchPredictionJobs/abc",
        genai_batch_conn_id=VERTEX_CONN_ID,
    ),
    _op("list-filter-on-gemini", "GenAIBatchListJobsOperator", "filter", filter='labels.team="x"'),
    _op(
        "results-empty-destination",
        "GenAIBatchWriteResultsOperator",
        "destination",
        OPERATOR_ERROR,
        name="batches/abc",
        destination="",
    ),
    _op("results-bad-name", "GenAIBatchWriteResultsOperator", "name", name="not/a/job", destination="/tmp/x.jsonl"),
    _op(
        "sensor-bad-name",
        "GenAIBatchJobSensor",
        "name",
        name="batches/",
        poke_interval=0.1,
        timeout=5,
        deferrable=False,
    ),
    # --- bad connections, through the operator
    _c("conn-unknown-extra", "extra 'projct'", genai_batch_conn_id=UNKNOWN_EXTRA_CONN),
    _c("conn-bad-backend", "extra 'backend'", genai_batch_conn_id=BAD_BACKEND_CONN),
    _c("conn-malformed-key-json", "extra 'service_account_key'", genai_batch_conn_id=BAD_KEY_JSON_CONN),
    _c("conn-no-api-key", "api_key", genai_batch_conn_id=NO_KEY_CONN),
    _c("conn-missing-key-file", "service_account_key", genai_batch_conn_id=MISSING_KEY_FILE_CONN),
]


def _run_connections(emulator: EmulatorHandle) -> dict[str, dict[str, Any]]:
    vertex = vertex_connection(emulator)
    vertex_extra = {k: v for k, v in vertex["extra"].items() if k != "access_token"}
    return {
        GEMINI_CONN_ID: gemini_connection(emulator),
        VERTEX_CONN_ID: vertex,
        NOSTAGING_CONN: {**vertex, "extra": {k: v for k, v in vertex["extra"].items() if k != "gcs_staging_prefix"}},
        UNKNOWN_EXTRA_CONN: {**gemini_connection(emulator), "extra": {"projct": "p"}},
        BAD_BACKEND_CONN: {**gemini_connection(emulator), "extra": {"backend": "openai"}},
        BAD_KEY_JSON_CONN: {**vertex, "extra": {**vertex_extra, "service_account_key": '{"type": "service_account", '}},
        NO_KEY_CONN: {"conn_type": "genai_batch", "host": emulator.base_url},
        MISSING_KEY_FILE_CONN: {**vertex, "extra": {**vertex_extra, "service_account_key": "/nonexistent/key.json"}},
    }


def _materialise(value: Any, files: dict[str, Path]) -> Any:
    return str(files[value]) if isinstance(value, str) and value in files else value


@dataclass
class OperatorRun:
    """What the single dag.test() run of every operator case left behind."""

    states: dict[str, str]
    failures: dict[str, dict[str, Any]]
    stats: dict[str, Any]
    seconds: float


@pytest.fixture(scope="module")
def operator_run(
    genai_batch_emulator_server: EmulatorHandle,
    dags_folder: Path,
    airflow_db: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorRun]:
    emulator = genai_batch_emulator_server
    emulator.reset()
    work = tmp_path_factory.mktemp("corpus")
    files = {
        MALFORMED_JSONL: work / "malformed.jsonl",
        NO_REQUEST_JSONL: work / "no_request.jsonl",
        EMPTY_JSONL: work / "empty.jsonl",
    }
    good = '{"key": "a", "request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}}\n'
    files[MALFORMED_JSONL].write_text(good + good + '{"key": "c", "request": \n' + good)
    files[NO_REQUEST_JSONL].write_text(good + '{"key": "b", "contents": "x"}\n')
    files[EMPTY_JSONL].write_text("\n\n")
    tasks = [{**{k: _materialise(v, files) for k, v in case.task.items()}, "task_id": case.id} for case in RUN_CASES]
    failures_dir = work / "failures"
    failures_dir.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for conn_id, conn in _run_connections(emulator).items():
            patch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        patch.setenv(FAILURES_DIR_ENV, str(failures_dir))
        path = write_dag_file(dags_folder, {"dag_id": RUN_DAG_ID, "tasks": tasks})
        began = time.monotonic()
        try:
            dag_run = run_dag_file(path)
        finally:
            path.unlink(missing_ok=True)
        seconds = time.monotonic() - began
        yield OperatorRun(
            task_states(dag_run), read_failures(failures_dir, RUN_DAG_ID), dict(emulator.stats()), seconds
        )


def test_operator_run_made_no_request_at_all(operator_run: OperatorRun) -> None:
    """Every case failed before the network: no create, no upload, no request of any kind."""
    assert operator_run.stats["jobs_created"] == 0
    assert operator_run.stats["requests"] == {}
    assert len(operator_run.states) == len(RUN_CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in RUN_CASES])
def test_operator_execute(case: RunCase, operator_run: OperatorRun) -> None:
    assert operator_run.states[case.id] == "failed"
    failure = operator_run.failures[case.id]
    assert case.error in failure["mro"], failure
    assert failure["field"] and case.field in failure["field"], failure
    assert case.field in failure["message"]
    assert failure["fix"], failure
    assert not [job for job in operator_run.stats["jobs"] if (job["display_name"] or "").startswith(case.id)]


# =====================================================================================================================
# 3. The client (and its settings) against the emulator
# =====================================================================================================================


@dataclass
class Clients:
    gemini: GenAIBatchClient
    vertex: GenAIBatchClient
    vertex_nostaging: GenAIBatchClient
    tmp: Path

    def file(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path


@dataclass(frozen=True)
class ClientCase:
    id: str
    call: Callable[[Clients], object]
    field: str
    error: type[GenAIBatchError] = InvalidInputError
    marks: tuple[pytest.MarkDecorator, ...] = ()


def _gc(src: Any, model: str = MODEL, config: Any = None) -> Callable[[Clients], object]:
    return lambda c: c.gemini.batches.create(model=model, src=src, config=config)


def _vc(src: Any, model: str = MODEL, config: Any = None) -> Callable[[Clients], object]:
    return lambda c: c.vertex.batches.create(model=model, src=src, config=config)


GOOD_LINE = '{"key": "k", "request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}}\n'
GCS_IN = "gs://bucket-a/in.jsonl"


def _settings(**kwargs: Any) -> Callable[[Clients], object]:
    return lambda c: ClientSettings(**kwargs)


CLIENT_CASES = [
    # --- create: models
    ClientCase("create-model-int", _gc(["x"], model=5), "model"),  # type: ignore[arg-type]
    ClientCase("create-model-blank", _gc(["x"], model="   "), "model"),
    ClientCase("create-model-ampersand", _gc(["x"], model="gemini&x=1"), "model"),
    ClientCase("create-model-per-request-bad", _gc([{"contents": "x", "model": "bad model"}]), "src[0].model"),
    # --- create: sources
    ClientCase("create-src-none", _gc(None), "src"),
    ClientCase("create-src-float", _gc(3.5), "src"),
    ClientCase("create-src-bytes", _gc(b"raw bytes"), "src"),
    ClientCase("create-src-gcs-on-gemini", _gc(GCS_IN), "src"),
    ClientCase("create-src-bq-on-gemini", _gc("bq://proj.dataset.table"), "src"),
    ClientCase("create-src-gs-single-slash", _vc("gs:/bucket-a/x.jsonl"), "src"),
    ClientCase("create-src-bq-uppercase-project", _vc("bq://Proj.dataset.table"), "src"),
    ClientCase("create-src-second-uri-bad", _vc([GCS_IN, "gs://BAD/b.jsonl"]), "src[1]"),
    ClientCase("create-src-file-on-vertex", _vc("files/abc"), "src"),
    ClientCase(
        "create-src-inline-no-staging",
        lambda c: c.vertex_nostaging.batches.create(model=MODEL, src=["x"]),
        "gcs_staging_prefix",
    ),
    ClientCase("create-src-content-not-content", _gc(["ok", {"contents": [5]}]), "src[1].contents[0]"),
    ClientCase("create-src-request-without-contents", _gc([{"request": {}}]), "src[0].request.contents"),
    ClientCase("create-src-request-config-string", _gc([{"contents": "x", "config": "hot"}]), "src[0].config"),
    ClientCase("create-src-empty-contents-list", _gc([{"contents": []}]), "src[0].contents"),
    ClientCase(
        "create-src-malformed-jsonl",
        lambda c: c.gemini.batches.create(model=MODEL, src=c.file("m.jsonl", GOOD_LINE + "{oops\n")),
        "src line 2",
    ),
    ClientCase(
        "create-src-jsonl-int-key",
        lambda c: c.gemini.batches.create(model=MODEL, src=c.file("k.jsonl", '{"key": 5, "request": {}}\n')),
        "src line 1.key",
    ),
    ClientCase(
        "create-src-jsonl-array-line",
        lambda c: c.gemini.batches.create(model=MODEL, src=c.file("a.jsonl", GOOD_LINE + GOOD_LINE + "[1, 2]\n")),
        "src line 3",
    ),
    ClientCase(
        "create-src-jsonl-on-vertex-malformed",
        lambda c: c.vertex.batches.create(model=MODEL, src=c.file("v.jsonl", "not json\n")),
        "src line 1",
    ),
    # --- create: config
    ClientCase("create-config-string", _gc(["x"], config="display_name=x"), "config"),
    ClientCase(
        "create-config-display-name-oversized", _gc(["x"], config={"display_name": "x" * 129}), "config.display_name"
    ),
    ClientCase("create-config-display-name-blank", _gc(["x"], config={"display_name": "  "}), "config.display_name"),
    ClientCase("create-config-display-name-int", _gc(["x"], config={"display_name": 5}), "config.display_name"),
    ClientCase("create-config-webhook-string", _gc(["x"], config={"webhook_config": "x"}), "config.webhook_config"),
    ClientCase("create-config-dest-int", _vc(GCS_IN, config={"dest": 5}), "config.dest"),
    ClientCase("create-config-dest-bq-no-dataset", _vc(GCS_IN, config={"dest": "bq://proj"}), "config.dest"),
    ClientCase("create-config-no-dest-derivable", _vc("gs://bucket-a/in"), "config.dest"),
    ClientCase(
        "create-config-unknown-field",
        _vc(GCS_IN, config={"dset": "gs://bucket-a/out"}),
        "config.dset",
    ),
    # --- embeddings
    ClientCase(
        "embeddings-on-vertex",
        lambda c: c.vertex.batches.create_embeddings(model=MODEL, src=["a"]),
        "backend",
    ),
    ClientCase(
        "embeddings-empty-list", lambda c: c.gemini.batches.create_embeddings(model=MODEL, src=[]), "src.contents"
    ),
    ClientCase(
        "embeddings-empty-text", lambda c: c.gemini.batches.create_embeddings(model=MODEL, src=[""]), "src.contents[0]"
    ),
    ClientCase(
        "embeddings-file-name-int",
        lambda c: c.gemini.batches.create_embeddings(model=MODEL, src={"file_name": 5}),
        "src.file_name",
    ),
    # --- job names
    ClientCase("get-name-empty", lambda c: c.gemini.batches.get(name=""), "name"),
    ClientCase("get-name-none", lambda c: c.gemini.batches.get(name=None), "name"),  # type: ignore[arg-type]
    ClientCase("get-name-nested", lambda c: c.gemini.batches.get(name="batches/a/b"), "name"),
    ClientCase("get-name-oversized", lambda c: c.gemini.batches.get(name="batches/" + "x" * 200), "name"),
    ClientCase("get-name-encoded-slash", lambda c: c.gemini.batches.get(name="batches/..%2fx"), "name"),
    ClientCase("cancel-file-name-as-job", lambda c: c.gemini.batches.cancel(name="files/abc"), "name"),
    ClientCase("delete-name-with-query", lambda c: c.gemini.batches.delete(name="batches/a?alt=x"), "name"),
    ClientCase("vertex-get-gemini-name", lambda c: c.vertex.batches.get(name="batches/abc"), "name"),
    ClientCase(
        "vertex-get-non-numeric-id",
        lambda c: c.vertex.batches.get(name=f"projects/p/locations/{VERTEX_LOCATION}/batchPredictionJobs/abc"),
        "name",
    ),
    ClientCase("vertex-cancel-oversized-id", lambda c: c.vertex.batches.cancel(name="1" * 31), "name"),
    ClientCase("vertex-delete-empty", lambda c: c.vertex.batches.delete(name=""), "name"),
    ClientCase("results-of-bad-name", lambda c: list(c.gemini.batches.iter_results("batches/a b")), "name"),
    ClientCase("files-get-bad-name", lambda c: c.gemini.files.get(name="bad/name"), "file_name"),
    ClientCase("files-download-empty-name", lambda c: c.gemini.files.download(name=""), "file_name"),
    # --- list arguments
    ClientCase("list-page-size-zero", lambda c: list(c.gemini.batches.list(page_size=0)), "page_size"),
    ClientCase("list-page-size-oversized", lambda c: list(c.gemini.batches.list(page_size=1001)), "page_size"),
    ClientCase("list-filter-on-gemini", lambda c: list(c.gemini.batches.list(filter='state="x"')), "filter"),
    # --- settings
    ClientCase("settings-unknown-backend", _settings(backend="azure", api_key="k"), "backend"),
    ClientCase("settings-timeout-negative", _settings(api_key="k", timeout=-1), "timeout"),
    ClientCase("settings-max-retries-string", _settings(api_key="k", max_retries="many"), "max_retries"),
    ClientCase("settings-base-url-no-scheme", _settings(api_key="k", base_url="127.0.0.1:8085"), "base_url"),
    ClientCase("settings-unknown-field", _settings(api_kye="k"), "api_kye"),
    ClientCase("settings-gemini-without-key", _settings(backend="gemini"), "api_key"),
    ClientCase("settings-vertex-empty-location", _settings(backend="vertex", project="p", location=""), "location"),
    ClientCase(
        "settings-vertex-api-version", _settings(backend="vertex", project="p", api_version="v1beta"), "api_version"
    ),
    ClientCase(
        "settings-storage-url-no-scheme", _settings(api_key="k", storage_base_url="gs://bucket"), "storage_base_url"
    ),
    ClientCase(
        "client-key-json-and-path",
        lambda c: GenAIBatchClient(
            backend="vertex", project="p", service_account_key_json="{}", service_account_key_path="/k.json"
        ),
        "service_account_key",
    ),
    ClientCase(
        "client-key-json-malformed",
        lambda c: GenAIBatchClient(backend="vertex", project="p", service_account_key_json='{"private_key": '),
        "service_account_key_json",
    ),
]


@pytest.fixture
def clients(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[Clients]:
    with (
        GenAIBatchClient(gemini_settings(emulator, max_retries=0)) as gemini,
        GenAIBatchClient(vertex_settings(emulator, max_retries=0)) as vertex,
        GenAIBatchClient(vertex_settings(emulator, staging=False, max_retries=0)) as vertex_nostaging,
    ):
        yield Clients(gemini, vertex, vertex_nostaging, tmp_path)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CLIENT_CASES])
def test_client(case: ClientCase, clients: Clients, emulator: EmulatorHandle) -> None:
    with pytest.raises(case.error) as info:
        case.call(clients)
    assert_names_field(info.value, case.field)
    stats = emulator.stats()
    assert stats["jobs_created"] == 0
    assert stats["requests"] == {}, f"bad input reached the API: {stats['requests']}"


# =====================================================================================================================
# 4. Connections, through the hook (sync and async)
# =====================================================================================================================

CONN_ID = "rel_corpus_conn"


def _key_json(**fields: Any) -> str:
    base = {
        "type": "service_account",
        "client_email": "sa@p.iam.gserviceaccount.com",
        "token_uri": "http://127.0.0.1:9",
    }
    return json.dumps({**base, **fields})


@dataclass(frozen=True)
class ConnCase:
    id: str
    build: Callable[[EmulatorHandle], dict[str, Any]]
    field: str
    use_async: bool = False
    marks: tuple[pytest.MarkDecorator, ...] = ()


def _gemini_conn(extra: Any = None, **overrides: Any) -> Callable[[EmulatorHandle], dict[str, Any]]:
    def build(emulator: EmulatorHandle) -> dict[str, Any]:
        conn: dict[str, Any] = {"conn_type": "genai_batch", "host": emulator.base_url, "password": API_KEY_MARKER}
        if extra is not None:
            conn["extra"] = extra
        return {**conn, **overrides}

    return build


def _vertex_conn(**extra: Any) -> Callable[[EmulatorHandle], dict[str, Any]]:
    def build(emulator: EmulatorHandle) -> dict[str, Any]:
        base = {
            "backend": "vertex",
            "project": VERTEX_PROJECT,
            "gcs_staging_prefix": f"gs://{STAGING_BUCKET}/s",
            "storage_base_url": emulator.base_url,
        }
        return {"conn_type": "genai_batch", "host": emulator.base_url, "extra": {**base, **extra}}

    return build


def _gcp_conn(**extra: Any) -> Callable[[EmulatorHandle], dict[str, Any]]:
    return lambda emulator: {"conn_type": "google_cloud_platform", "host": emulator.base_url, "extra": extra}


BROKEN_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nAIzaRELIABILITYnotakey\n-----END PRIVATE KEY-----\n"

CONN_CASES = [
    ConnCase("unknown-extra", _gemini_conn({"projct": "p"}), "extra 'projct'"),
    ConnCase("unknown-prefixed-extra", _gemini_conn({"extra__genai_batch__projct": "p"}), "extra 'projct'"),
    ConnCase("bad-backend", _gemini_conn({"backend": "openai"}), "extra 'backend'"),
    ConnCase("backend-not-a-string", _gemini_conn({"backend": 5}), "extra 'backend'"),
    ConnCase(
        "key-json-malformed",
        _vertex_conn(service_account_key='{"type": "service_account", '),
        "extra 'service_account_key'",
    ),
    ConnCase("key-json-not-a-key", _vertex_conn(service_account_key='{"a": 1}'), "extra 'service_account_key'"),
    ConnCase("key-json-without-private-key", _vertex_conn(service_account_key=_key_json()), "service_account_key"),
    ConnCase(
        "key-json-broken-private-key",
        _vertex_conn(service_account_key=_key_json(private_key=BROKEN_PRIVATE_KEY)),
        "service_account_key",
    ),
    ConnCase(
        "key-json-user-credential",
        _vertex_conn(service_account_key=_key_json(type="authorized_user", private_key="x")),
        "service_account_key",
    ),
    ConnCase("key-path-missing", _vertex_conn(service_account_key="/nonexistent/sa.json"), "service_account_key"),
    ConnCase("key-not-a-string", _vertex_conn(service_account_key=5), "extra 'service_account_key'"),
    ConnCase("gemini-without-api-key", _gemini_conn(password=None), "api_key"),
    ConnCase("gemini-with-a-key-file", _gemini_conn({"service_account_key": "/k.json"}), "service_account_key"),
    ConnCase("vertex-without-project", _vertex_conn(project=None, access_token="t"), "project"),
    ConnCase(
        "vertex-api-key-and-project",
        lambda emulator: {**_vertex_conn(access_token="t")(emulator), "password": API_KEY_MARKER},
        "api_key",
    ),
    ConnCase("host-not-http", _gemini_conn(host="ftp://example.com"), "base_url"),
    ConnCase("api-version-unknown", _gemini_conn({"api_version": "v2"}), "api_version"),
    ConnCase(
        "staging-prefix-not-gcs", _vertex_conn(access_token="t", gcs_staging_prefix="s3://b/x"), "gcs_staging_prefix"
    ),
    ConnCase("timeout-not-a-number", _gemini_conn({"timeout": "soon"}), "extra 'timeout'"),
    ConnCase("timeout-negative", _gemini_conn({"timeout": -5}), "timeout"),
    ConnCase("max-retries-oversized", _gemini_conn({"max_retries": 99}), "max_retries"),
    ConnCase(
        "impersonation-not-an-email",
        _vertex_conn(access_token="t", impersonation_chain="not-an-email"),
        "impersonation_chain",
    ),
    ConnCase(
        "impersonation-of-a-token",
        _vertex_conn(access_token="t", impersonation_chain="sa@p.iam.gserviceaccount.com"),
        "impersonation_chain",
    ),
    ConnCase("project-not-a-string", _vertex_conn(access_token="t", project=5), "extra 'project'"),
    ConnCase("access-token-a-list", _vertex_conn(access_token=["t"]), "extra 'access_token'"),
    ConnCase("gcp-key-path-missing", _gcp_conn(key_path="/nonexistent/sa.json", project="p"), "service_account_key"),
    ConnCase("gcp-keyfile-dict-malformed", _gcp_conn(keyfile_dict="{bad", project="p"), "extra 'keyfile_dict'"),
    ConnCase("async-unknown-extra", _gemini_conn({"projct": "p"}), "extra 'projct'", use_async=True),
    ConnCase(
        "async-key-json-malformed", _vertex_conn(service_account_key="{bad"), "service_account_key", use_async=True
    ),
    # --- found by this suite as D2/D3, fixed in b03deba: conflicting or malformed extras
    ConnCase(
        "gcp-key-path-and-keyfile-dict",
        _gcp_conn(key_path="/k.json", keyfile_dict=_key_json(private_key=BROKEN_PRIVATE_KEY), project="p"),
        "key_path",
    ),
    ConnCase(
        "vertex-token-and-key", _vertex_conn(access_token="t", service_account_key="/k.json"), "service_account_key"
    ),
    ConnCase("max-retries-fraction", _gemini_conn({"max_retries": 1.5}), "max_retries"),
    ConnCase("extra-not-json", _gemini_conn("not json"), "extra"),
    ConnCase("extra-a-json-list", _gemini_conn([1, 2]), "extra"),
    ConnCase("async-extra-not-json", _gemini_conn("not json"), "extra", use_async=True),
    ConnCase("async-extra-a-json-list", _gemini_conn([1, 2]), "extra", use_async=True),
]


async def _async_validate(conn_id: str) -> None:
    from airflow_provider_genai_batch.hooks import client_cache
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    try:
        await GenAIBatchHook(genai_batch_conn_id=conn_id).aget_conn()
    finally:
        await client_cache.close_loop_clients()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CONN_CASES])
def test_connection(case: ConnCase, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    conn = case.build(emulator)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    with pytest.raises(InvalidInputError) as info:
        if case.use_async:
            asyncio.run(_async_validate(CONN_ID))
        else:
            hook = GenAIBatchHook(genai_batch_conn_id=CONN_ID)
            hook.get_conn()
            hook.validate_create(model=MODEL, src=["x"])
    assert_names_field(info.value, case.field)
    for secret in (API_KEY_MARKER, "AIzaRELIABILITYnotakey", '{"type": "service_account", '):
        assert secret not in str(info.value)
    assert emulator.stats()["requests"] == {}


# =====================================================================================================================
# 5. Malformed API responses, served by respx at the transport level
# =====================================================================================================================

FAKE_BASE = "http://genai.invalid"
GEMINI_JOB_PATH = "/v1beta/batches/abc"
VERTEX_JOB_PATH = f"/v1beta1/projects/{VERTEX_PROJECT}/locations/{VERTEX_LOCATION}/batchPredictionJobs/42"


def _gemini_job(**metadata: Any) -> dict[str, Any]:
    return {"name": "batches/abc", "metadata": {"state": "BATCH_STATE_RUNNING", **metadata}}


@dataclass(frozen=True)
class ResponseCase:
    id: str
    backend: str
    response: httpx.Response
    marks: tuple[pytest.MarkDecorator, ...] = ()


def _json(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


RESPONSE_CASES = [
    ResponseCase("gemini-body-not-json", "gemini", httpx.Response(200, text="<html>proxy login</html>")),
    ResponseCase("gemini-body-json-array", "gemini", _json([{"name": "batches/abc"}])),
    ResponseCase("gemini-body-json-string", "gemini", _json("batches/abc")),
    ResponseCase("gemini-job-without-name", "gemini", _json({"metadata": {"state": "BATCH_STATE_SUCCEEDED"}})),
    ResponseCase("gemini-name-not-a-string", "gemini", _json({"name": 42})),
    ResponseCase("gemini-metadata-not-object", "gemini", _json({"name": "batches/abc", "metadata": ["x"]})),
    ResponseCase("gemini-count-not-a-number", "gemini", _json(_gemini_job(batchStats={"requestCount": "many"}))),
    ResponseCase("gemini-count-exponent", "gemini", _json(_gemini_job(batchStats={"requestCount": "1e3"}))),
    ResponseCase("gemini-count-object", "gemini", _json(_gemini_job(batchStats={"successfulRequestCount": {}}))),
    ResponseCase(
        "vertex-count-not-a-number", "vertex", _json({"name": "x/42", "completionStats": {"successfulCount": "x"}})
    ),
    ResponseCase("vertex-job-without-name", "vertex", _json({"state": "JOB_STATE_SUCCEEDED"})),
    # --- found by this suite as D1, fixed in 3d9dc65: malformed answers that escaped as untyped errors
    ResponseCase(
        "gemini-name-empty",
        "gemini",
        _json({"name": "", "metadata": {"state": "BATCH_STATE_SUCCEEDED"}}),
    ),
    ResponseCase(
        "gemini-count-fraction",
        "gemini",
        _json(_gemini_job(batchStats={"requestCount": 2.5})),
    ),
    ResponseCase(
        "gemini-count-boolean",
        "gemini",
        _json(_gemini_job(batchStats={"requestCount": True})),
    ),
    ResponseCase(
        "gemini-stats-not-object",
        "gemini",
        _json(_gemini_job(batchStats="lots")),
    ),
    ResponseCase(
        "gemini-create-time-not-a-time",
        "gemini",
        _json(_gemini_job(createTime="yesterday")),
    ),
    ResponseCase(
        "gemini-output-not-object",
        "gemini",
        _json(_gemini_job(output="gs://somewhere")),
    ),
    ResponseCase(
        "vertex-stats-a-list",
        "vertex",
        _json({"name": "x/42", "completionStats": [1]}),
    ),
    ResponseCase(
        "vertex-output-info-a-string",
        "vertex",
        _json({"name": "x/42", "outputInfo": "gs://b/out"}),
    ),
]


def _respx_client(backend: str) -> GenAIBatchClient:
    if backend == "gemini":
        return GenAIBatchClient(backend="gemini", api_key=API_KEY_MARKER, base_url=FAKE_BASE, max_retries=0)
    return GenAIBatchClient(
        backend="vertex",
        project=VERTEX_PROJECT,
        location=VERTEX_LOCATION,
        access_token="t",
        base_url=FAKE_BASE,
        max_retries=0,
    )


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in RESPONSE_CASES])
def test_malformed_job_response(case: ResponseCase) -> None:
    path = GEMINI_JOB_PATH if case.backend == "gemini" else VERTEX_JOB_PATH
    name = "batches/abc" if case.backend == "gemini" else "42"
    with respx.mock(base_url=FAKE_BASE, assert_all_called=True) as mock, _respx_client(case.backend) as client:
        mock.get(path).mock(return_value=case.response)
        with pytest.raises(InvalidResponseError) as info:
            client.batches.get(name=name)
    assert API_KEY_MARKER not in str(info.value)


def test_create_answered_with_a_non_json_body_is_not_resent() -> None:
    """A 200 whose body cannot be read: a typed error, and exactly one create on the wire."""
    with respx.mock(base_url=FAKE_BASE) as mock, _respx_client("gemini") as client:
        route = mock.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent").mock(
            return_value=httpx.Response(200, text="not json")
        )
        with pytest.raises(InvalidResponseError):
            client.batches.create(model=MODEL, src=["x"])
    assert route.call_count == 1


def test_upload_without_an_upload_url() -> None:
    """The Files API answers the upload start without ``X-Goog-Upload-URL``: a typed error naming it."""
    with respx.mock(base_url=FAKE_BASE) as mock, _respx_client("gemini") as client:
        mock.post("/upload/v1beta/files").mock(return_value=httpx.Response(200, json={}))
        with pytest.raises(InvalidResponseError, match="X-Goog-Upload-URL"):
            client.files.upload(b'{"request": {"contents": "x"}}\n')


def test_error_status_with_an_html_body_keeps_the_status() -> None:
    with respx.mock(base_url=FAKE_BASE) as mock, _respx_client("gemini") as client:
        mock.get(GEMINI_JOB_PATH).mock(return_value=httpx.Response(502, text="<html>Bad gateway</html>"))
        with pytest.raises(GenAIBatchError) as info:
            client.batches.get(name="batches/abc")
    assert getattr(info.value, "status_code", None) == 502
    assert "Bad gateway" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"operations": "x"}, id="operations-a-string"),
        pytest.param({"operations": [1]}, id="operation-an-int"),
    ],
)
def test_malformed_list_response(body: dict[str, Any]) -> None:
    with respx.mock(base_url=FAKE_BASE) as mock, _respx_client("gemini") as client:
        mock.get("/v1beta/batches").mock(return_value=_json(body))
        with pytest.raises(InvalidResponseError):
            list(client.batches.list())


UNKNOWN_STATES = ["BATCH_STATE_SUCCEEDED_MAYBE", "JOB_STATE_DONE", "SUCCESS", "COMPLETED", "", "JOB_STATE_PAUSED"]


@pytest.mark.parametrize("state", UNKNOWN_STATES)
def test_unknown_state_is_never_success(state: str) -> None:
    """A job in a state this client does not know is not done, and the policy keeps waiting, never DONE."""
    with respx.mock(base_url=FAKE_BASE) as mock, _respx_client("gemini") as client:
        mock.get(GEMINI_JOB_PATH).mock(return_value=_json(_gemini_job(state=state)))
        job = client.batches.get(name="batches/abc")
    assert not job.done
    assert job.state not in (JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED)
    now = time.time()
    decision = decide_for_job(job, started_at=now - 10, deadline=now + 60, now=now)
    assert decision.kind is DecisionKind.WAIT
    decision = decide_for_job(job, started_at=now - 10, deadline=now - 1, now=now)
    assert decision.kind is DecisionKind.FAILED and decision.timed_out


async def test_trigger_on_an_unknown_state_times_out_never_succeeds(
    monkeypatch: pytest.MonkeyPatch, close_async_clients: None
) -> None:
    """The trigger polling a job stuck in an unknown state yields one ``timeout`` event at the deadline."""
    from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger

    conn = {"conn_type": "genai_batch", "host": FAKE_BASE, "password": API_KEY_MARKER, "extra": {"max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_REL_RESPX", json.dumps(conn))
    trigger = GenAIBatchJobTrigger(
        genai_batch_conn_id="rel_respx",
        job_name="batches/abc",
        # Long enough for polls after the first on a loaded machine, where the first read (the connection looked
        # up, the client built) took about a second: a 0.6 s deadline left room for one poll only.
        deadline=time.time() + 2.0,
        poll_interval=0.05,
        min_poll_interval=0.05,
    )
    with respx.mock(base_url=FAKE_BASE) as mock:
        route = mock.get(GEMINI_JOB_PATH).mock(return_value=_json(_gemini_job(state="BATCH_STATE_WEIRD")))
        events = [event.payload async for event in trigger.run()]
    assert [event["status"] for event in events] == ["timeout"]
    assert route.call_count >= 2
    assert API_KEY_MARKER not in json.dumps(events)


# =====================================================================================================================
# 6. Every error is specific: a clean field path and a fix that says what to do
# =====================================================================================================================

GENERIC_FIXES = ("correct that field", "correct that value")


def assert_specific(exc: BaseException) -> None:
    named = str(getattr(exc, "field", None) or getattr(exc, "parameter", None))
    assert not named.endswith("."), f"field {named!r} ends with '.'"
    assert not re.search(r"\.[A-Z][A-Za-z]+$", named), f"field {named!r} ends with a class name"
    fix = str(getattr(exc, "fix", ""))
    assert fix.strip() and fix not in GENERIC_FIXES, f"fix {fix!r} does not say what to do"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CLIENT_CASES])
def test_client_error_is_specific(case: ClientCase, clients: Clients) -> None:
    with pytest.raises(case.error) as info:
        case.call(clients)
    assert_specific(info.value)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CONN_CASES])
def test_connection_error_is_specific(
    case: ConnCase, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(case.build(emulator)))
    with pytest.raises(InvalidInputError) as info:
        if case.use_async:
            asyncio.run(_async_validate(CONN_ID))
        else:
            hook = GenAIBatchHook(genai_batch_conn_id=CONN_ID)
            hook.get_conn()
            hook.validate_create(model=MODEL, src=["x"])
    assert_specific(info.value)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in RUN_CASES])
def test_operator_error_is_specific(case: RunCase, operator_run: OperatorRun) -> None:
    failure = operator_run.failures[case.id]
    assert failure["fix"] not in GENERIC_FIXES, failure
    assert not str(failure["field"]).endswith("."), failure
