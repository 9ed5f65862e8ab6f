"""Test session set-up: a private AIRFLOW_HOME, a metadata DB made once (only for tests that need it), and
Airflow connections to the emulator through ``AIRFLOW_CONN_<ID>`` environment variables.

The environment is set when this module is imported, before any test module imports Airflow (Airflow reads
``AIRFLOW_HOME`` at import time).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="genai-batch-airflow-home-"))
_DAGS_FOLDER = _AIRFLOW_HOME / "dags"
_DAGS_FOLDER.mkdir()
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"

if TYPE_CHECKING:
    from airflow_provider_genai_batch.emulator.server import EmulatorHandle

GEMINI_CONN_ID = "genai_batch_default"
VERTEX_CONN_ID = "genai_batch_vertex"
VERTEX_PROJECT = "test-project"
VERTEX_LOCATION = "us-central1"
STAGING_BUCKET = "staging-bucket"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests (``slow``) first, the real-deployment ones (``e2e``) left where they are: xdist hands tests
    out in this order, so a long test (many of them mostly wait: back-offs, jobs) runs while the short ones fill the
    other workers, instead of starting last and ending the run alone."""
    positions = [index for index, item in enumerate(items) if item.get_closest_marker("e2e") is None]
    ordered = sorted((items[index] for index in positions), key=lambda item: item.get_closest_marker("slow") is None)
    for index, item in zip(positions, ordered, strict=True):
        items[index] = item


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``-n``: tests spread one by one, the modules of ``ONE_WORKER_MODULES`` whole (``xdist_scheduling``)."""
    if config.getvalue("dist") != "load":
        return None  # a distribution mode asked for by name
    from tests.xdist_scheduling import ONE_WORKER_MODULES, ModuleGroupScheduling

    return ModuleGroupScheduling(config, log, modules=ONE_WORKER_MODULES)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's AIRFLOW_HOME."""
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    """The session's dags folder (``dag.test()`` needs the DAG file there)."""
    return _DAGS_FOLDER


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The metadata DB, created once per session in-process (about 4 s; ``airflow db migrate`` is slower)."""
    from airflow.utils.db import initdb

    initdb()
    share_one_in_process_execution_api()


def share_one_in_process_execution_api() -> None:
    """``dag.test()`` on Airflow 3.1 as on 3.3: one in-process Execution API for the process.

    ``dag.test()`` runs each task against an in-process Execution API. Airflow 3.3 makes it once per process
    (``supervisor.in_process_api_server`` is an ``lru_cache``); Airflow 3.1 makes a new one for every task it runs,
    and the first request to each makes Cadwyn generate the API's versioned models again: 40 % of the CPU of the
    provider layer's run on Airflow 3.1.8 (py-spy). The API, its routes and the database are the same either way.
    """
    import functools

    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):  # not cached by this Airflow
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    """Each test builds its own clients (the hook caches one per connection per process)."""
    yield
    from sys import modules

    cache = modules.get("airflow_provider_genai_batch.hooks.client_cache")
    if cache is not None:
        cache.clear_sync_clients()


def gemini_connection(emulator: EmulatorHandle) -> dict[str, Any]:
    """A ``genai_batch`` connection to the emulator's Gemini API."""
    return {"conn_type": "genai_batch", "host": emulator.base_url, "password": emulator.api_key}


def vertex_connection(emulator: EmulatorHandle) -> dict[str, Any]:
    """A ``genai_batch`` connection to the emulator's Vertex AI API (a static token: the emulator accepts any)."""
    return {
        "conn_type": "genai_batch",
        "host": emulator.base_url,
        "extra": {
            "backend": "vertex",
            "project": VERTEX_PROJECT,
            "location": VERTEX_LOCATION,
            "access_token": "emulator-token",
            "gcs_staging_prefix": f"gs://{STAGING_BUCKET}/staging",
            "storage_base_url": emulator.base_url,
        },
    }


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, connection: dict[str, Any]) -> None:
    """Define an Airflow connection through its environment variable."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


#: Model names this repository's tests make up (or that are newer than the emulator's published list). The
#: emulator answers 404 NOT_FOUND for a model Google does not publish; the shared fixtures accept these too.
TEST_MODEL_NAMES = ("m", "m2", "m-1", "x", "llama", "gemini-3.5-flash-lite", "gemini-embedding-2")


@pytest.fixture
def genai_batch_emulator(genai_batch_emulator_server: EmulatorHandle) -> EmulatorHandle:
    """The plugin's fixture (reset to an empty state and the default settings), accepting ``TEST_MODEL_NAMES``."""
    genai_batch_emulator_server.reset()
    genai_batch_emulator_server.configure(extra_models=TEST_MODEL_NAMES)
    return genai_batch_emulator_server


@pytest.fixture
def emulator(genai_batch_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    """A fresh emulator with both connections defined: ``genai_batch_default`` (Gemini) and
    ``genai_batch_vertex`` (Vertex AI)."""
    set_connection(monkeypatch, GEMINI_CONN_ID, gemini_connection(genai_batch_emulator))
    set_connection(monkeypatch, VERTEX_CONN_ID, vertex_connection(genai_batch_emulator))
    return genai_batch_emulator


def set_clock_offset(emulator: EmulatorHandle, seconds: float) -> None:
    """Run the emulator's clock ``seconds`` from the real one (negative: jobs created now look older). The
    emulator runs in this process: its store is at hand; ``reset()`` puts the offset back to 0."""
    store = emulator.app.store
    with store.lock:
        store.clock_offset = seconds


@pytest.fixture
def runs_start_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """``dag.test()`` runs start now, as a scheduled or cleared run does under the scheduler (``dag.test()`` uses
    the logical date)."""
    import datetime as dt

    from airflow.models import dagrun

    original = dagrun.get_or_create_dagrun

    def starting_now(**kwargs: Any) -> Any:
        return original(**{**kwargs, "start_date": dt.datetime.now(dt.UTC)})

    monkeypatch.setattr(dagrun, "get_or_create_dagrun", starting_now)


@pytest.fixture
def fast_emulator(emulator: EmulatorHandle) -> EmulatorHandle:
    """``emulator`` (the session's server, reset, both connections) with jobs that end in well under a second.

    The one emulator fixture of the suite's DAG, operator, sensor and trigger tests: the server is started once
    per session (per xdist worker) by the plugin and reset before each test, so every test starts empty."""
    from tests.timings import FAST_JOB

    emulator.configure(**FAST_JOB)
    return emulator


class DagRunResult:
    """What a ``dag.test()`` run left behind: the run's state, each task's state and XComs, and its output."""

    def __init__(self, dag_run: Any, output: str) -> None:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        self.state = str(dag_run.state)
        self.run_id = dag_run.run_id
        self.output = output
        with create_session() as session:
            self.task_states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}
            self.try_numbers = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances(session=session)}
            rows = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
            self.xcoms: dict[str, dict[str, Any]] = {}
            for row in rows:
                self.xcoms.setdefault(row.task_id, {})[row.key] = XComModel.deserialize_value(row)

    def value(self, task_id: str, key: str = "return_value") -> Any:
        """One XCom value."""
        return self.xcoms.get(task_id, {}).get(key)


@pytest.fixture
def run_dag_file(dags_folder: Path, airflow_db: None, capfd: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """``run_dag_file(dag_id, source, **test_kwargs) -> DagRunResult``: write ``source`` as a DAG file (removed
    after the test), import it, ``dag.test()`` its ``dag`` and read the run back. The one runner the DAG-spec
    fixtures (``run_dag`` here, and those of common_ai and bigjobs, whose sources come from
    ``tests/operators/dag_factory.py``, the suite's one DAG builder) build on."""
    from tests.operators.dag_factory import dag_test_file

    written: list[Path] = []

    def run(dag_id: str, source: str, **test_kwargs: Any) -> DagRunResult:
        path = dags_folder / f"{dag_id}.py"
        path.write_text(source)
        written.append(path)
        dag_run = dag_test_file(path, **test_kwargs)
        captured = capfd.readouterr()
        return DagRunResult(dag_run, captured.out + captured.err)

    yield run
    for path in written:
        path.unlink(missing_ok=True)


@pytest.fixture
def run_dag(run_dag_file: Any) -> Any:
    """``run_dag(spec, logical_date=None) -> DagRunResult``: write the DAG file, ``dag.test()`` it, read back."""
    from tests.operators.dag_factory import dag_file_source

    def run(spec: dict[str, Any], logical_date: Any = None) -> DagRunResult:
        kwargs = {"logical_date": logical_date, "run_after": logical_date} if logical_date is not None else {}
        result: DagRunResult = run_dag_file(spec["dag_id"], dag_file_source(spec), **kwargs)
        return result

    return run


@pytest.fixture
def run_built_dag(run_dag_file: Any) -> Any:
    """``run_built_dag(builder, dag_id, test_kwargs=None, **params) -> DagRunResult``: a DAG file calling
    ``tests.bigjobs.dags.<builder>`` with ``{"dag_id": dag_id, **params}``, run with ``dag.test(**test_kwargs)``
    (the big-jobs DAG shapes: create then save, split then mapped creates then combine)."""
    from tests.operators.dag_factory import dag_file_source

    def run(builder: str, dag_id: str, test_kwargs: dict[str, Any] | None = None, **params: Any) -> DagRunResult:
        source = dag_file_source({**params, "dag_id": dag_id}, f"tests.bigjobs.dags:{builder}")
        result: DagRunResult = run_dag_file(dag_id, source, **(test_kwargs or {}))
        return result

    return run
