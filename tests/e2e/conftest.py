"""One real Airflow deployment for every e2e test: api-server, scheduler, dag-processor, triggerer, emulators.

The deployment (``scripts/local_airflow.py``) starts once for the e2e package and stops after its last test; it
serves ``tests/e2e/dags``. Each scenario has its own connection and emulator process (see ``EMULATORS``), so one
scenario's counters are not disturbed by another's requests while their runs overlap. ``scenario_runs`` sets up
every emulator and triggers every scenario run at once, so the runs proceed in parallel while the tests assert
one after the other.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import EmulatorSpec, LocalAirflow, StateWatcher, TriggerRecorder
from tests.e2e.support import (
    API_KEY,
    DAGS_FOLDER,
    PROMPTS,
    REPO_ROOT,
    VERTEX_LOCATION,
    VERTEX_PROJECT,
    VERTEX_SOURCE,
    VERTEX_TOKEN,
)

COMMON_AI_API_KEY = "e2e-common-ai-key-0123456789"
#: Emulators by name; a scenario's connection ``genai_batch_<name>`` points at its own. Jobs last at least ~8 s:
#: a trigger that fires sooner than the scheduler processes the deferring worker's exit can hit Airflow's
#: "executor reported success, but the task instance's state attribute is queued" race (apache/airflow#67287,
#: #72716) on a loaded 2-core machine, which fails the task for reasons that are not the provider's.
EMULATORS: dict[str, EmulatorSpec] = {
    # Gemini + Vertex AI happy path; the emulator accepts only our Vertex token.
    "default": EmulatorSpec(
        api_key=API_KEY, job_seconds=9.0, pending_seconds=1.0, extra_args=("--accept-token", VERTEX_TOKEN)
    ),
    "retry": EmulatorSpec(api_key=API_KEY, job_seconds=8.0, pending_seconds=1.0),
    "on_kill": EmulatorSpec(api_key=API_KEY, job_seconds=900.0, pending_seconds=0.5),
    "crash": EmulatorSpec(api_key=API_KEY, job_seconds=3.0, pending_seconds=0.5),  # STUCK_PENDING, see below
    "failing": EmulatorSpec(api_key=API_KEY, job_seconds=8.0, pending_seconds=1.0),
    # example_dags/big_job.py (sync, sharded): short jobs.
    "big_job": EmulatorSpec(api_key=API_KEY, job_seconds=1.0, pending_seconds=0.2),
    # example_dags/completion_policy.py on Vertex AI (our token only): a partial success, then a follow-up job.
    "completion": EmulatorSpec(
        api_key=API_KEY, job_seconds=8.0, pending_seconds=0.5, extra_args=("--accept-token", VERTEX_TOKEN)
    ),
    # common-ai's LLMBatchOperator through our adapter (connection ``pydanticai_e2e``, a key of its own).
    "common_ai": EmulatorSpec(api_key=COMMON_AI_API_KEY, job_seconds=8.0, pending_seconds=1.0),
}
SCENARIO_DAGS = (
    "e2e_harness_smoke",
    "e2e_deferrable",
    "e2e_retry",
    "e2e_on_kill",
    "e2e_crash",
    "e2e_failing",
    "e2e_common_ai_batch",
    "genai_batch_big_job",
    "genai_batch_completion_policy",
)
FAILED_JOB_MESSAGE = "E2E emulated failure: quota exhausted for this batch"
#: Durations measured during the session, shown in the terminal summary.
TIMINGS: dict[str, float] = {}


def _gemini(url: str) -> dict[str, Any]:
    return {"conn_type": "genai_batch", "host": url, "password": API_KEY, "extra": {"backend": "gemini"}}


def _vertex(url: str, **extra: str) -> dict[str, Any]:
    vertex = {"backend": "vertex", "project": VERTEX_PROJECT, "location": VERTEX_LOCATION}
    settings = vertex | {"access_token": VERTEX_TOKEN, "storage_base_url": url} | extra
    return {"conn_type": "genai_batch", "host": url, "extra": settings}


def e2e_connections(urls: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``genai_batch_default`` and ``genai_batch_vertex`` on the default emulator; one more per scenario (Vertex AI
    for the completion policy); ``pydanticai_e2e`` (common-ai) on its own."""
    connections = {f"genai_batch_{name}": _gemini(url) for name, url in urls.items() if name != "common_ai"}
    connections["pydanticai_e2e"] = {
        "conn_type": "pydanticai",
        "host": urls["common_ai"],
        "password": COMMON_AI_API_KEY,
    }
    connections["genai_batch_vertex"] = _vertex(urls["default"])
    connections["genai_batch_completion"] = _vertex(urls["completion"], gcs_staging_prefix="gs://e2e-staging/rows")
    return connections


@pytest.fixture(scope="package")
def airflow(package_deployment: LocalAirflow, scenario_runs: ScenarioRuns) -> LocalAirflow:
    """The package's deployment, once every scenario run is triggered: the runs proceed while the first tests (the
    big job, the completion policy) run, and each scenario's test then waits for its own."""
    return package_deployment


@pytest.fixture(scope="package")
def package_deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalAirflow]:
    """The package's deployment, with every e2e DAG parsed.

    Its temporary AIRFLOW_HOME (logs, database) is kept when a test failed or ``E2E_KEEP_AIRFLOW_HOME`` is set.
    """
    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    deployment = LocalAirflow(
        dags_folder=DAGS_FOLDER,
        connections=e2e_connections,
        emulators=EMULATORS,
        # The repository on the path: the DAGs import the provider, wherever it is installed.
        extra_env={
            "PYTHONPATH": pythonpath,
            "E2E_COMMON_AI_RESULTS": f"file://{tmp_path_factory.mktemp('e2e-common-ai-results')}",
        },
        parse_interval=120,
        stop_grace=3.0,  # thrown away after the package: no need for a graceful exit
    )
    with deployment:
        TIMINGS["deployment start-up (s)"] = deployment.startup_seconds
        TIMINGS.update({f"  of which {phase} (s)": seconds for phase, seconds in deployment.timings.items()})
        began = time.monotonic()
        deployment.wait_for_dags(SCENARIO_DAGS, timeout=120)
        TIMINGS["DAGs parsed after start-up (s)"] = time.monotonic() - began
        yield deployment
        if deployment.running:  # not stopped early (``stop_package_deployment``)
            deployment.keep_home = request.session.testsfailed > 0 or bool(os.environ.get("E2E_KEEP_AIRFLOW_HOME"))
        if deployment.keep_home:
            print(f"\ne2e: AIRFLOW_HOME kept for inspection: {deployment.home}")


@pytest.fixture(scope="package")
def trigger_recorder(package_deployment: LocalAirflow) -> Iterator[TriggerRecorder]:
    """Every ``trigger`` row stored during the session (rows vanish once their task resumes)."""
    recorder = package_deployment.record_triggers(interval=0.3)
    yield recorder
    recorder.stop()


@pytest.fixture(scope="package")
def emulators(package_deployment: LocalAirflow) -> Iterator[dict[str, EmulatorClient]]:
    """A control client per emulator, by name."""
    clients = {name: EmulatorClient(url) for name, url in package_deployment.emulator_urls.items()}
    yield clients
    for client in clients.values():
        client.close()


@dataclass
class ScenarioRuns:
    """The run id of every scenario DAG, triggered together at the start of the session."""

    run_ids: dict[str, str]
    triggered_at: float
    #: Background actions tied to a run, by DAG id (see ``_choreograph``).
    watchers: dict[str, StateWatcher] = field(default_factory=dict)

    def __getitem__(self, dag_id: str) -> str:
        return self.run_ids[dag_id]


def _prepare_emulators(emulators: Mapping[str, EmulatorClient]) -> None:
    """Inputs, faults and outcomes each scenario needs before its run starts."""
    lines = "".join(
        json.dumps({"key": p["metadata"]["key"], "request": {"contents": p["contents"]}}) + "\n" for p in PROMPTS
    )
    bucket, _, name = VERTEX_SOURCE.removeprefix("gs://").partition("/")
    emulators["default"].put_object(bucket, name, lines.encode(), "application/jsonl")
    # The create is applied but its response is lost; the in-try look-ups that follow fail too (the first list
    # call, before the create, is let through), so the try fails and only the retry can find the job. The faults
    # are cleared between the two tries (see ``_choreograph``).
    retry = emulators["retry"]
    retry.add_fault("apply_then_drop", method="POST", path=r":batchGenerateContent$", count=1)
    retry.add_fault("status", method="GET", path=r"/batches$", status=403, skip=1, count=None)
    # The crash scenario's job stays PENDING until the test finishes it, whenever the test runs.
    emulators["crash"].add_outcome("STUCK_PENDING", count=None)
    emulators["failing"].add_outcome("FAILED", error_message=FAILED_JOB_MESSAGE, count=None)
    # Two rows fail retryably: the completion policy resubmits just those as a follow-up job.
    emulators["completion"].add_outcome("PARTIALLY_SUCCEEDED", failed_requests={1: 429, 3: 500})


@pytest.fixture(scope="package")
def scenario_runs(
    package_deployment: LocalAirflow, emulators: dict[str, EmulatorClient], trigger_recorder: TriggerRecorder
) -> ScenarioRuns:
    """Every scenario run, triggered at once (they run in parallel; each test then waits for its own)."""
    airflow = package_deployment
    _prepare_emulators(emulators)
    run_ids = {dag_id: airflow.trigger_dag(dag_id) for dag_id in SCENARIO_DAGS}
    runs = ScenarioRuns(run_ids=run_ids, triggered_at=time.monotonic())
    _choreograph(airflow, emulators, runs)
    return runs


def _choreograph(airflow: LocalAirflow, emulators: Mapping[str, EmulatorClient], runs: ScenarioRuns) -> None:
    """Actions that must happen at a given task state, whenever the scenario's own test runs."""
    runs.watchers["e2e_retry"] = airflow.when_task_state(
        "e2e_retry", runs["e2e_retry"], "job", {"up_for_retry"}, lambda _: emulators["retry"].clear_faults()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The e2e items in three groups, each in collection order: the tests on the package's deployment, then the
    secret scan (``e2e_last``: after every scenario; its module stops that deployment when it ends), then the
    modules that start a deployment of their own (``e2e_own_deployment``), so that no two deployments run at once.
    Items outside this package keep their places."""
    here = Path(__file__).parent
    positions = [index for index, item in enumerate(items) if here in item.path.parents]

    def group(item: pytest.Item) -> int:
        if item.get_closest_marker("e2e_own_deployment") is not None:
            return 2
        return 1 if item.get_closest_marker("e2e_last") is not None else 0

    ours = sorted((items[index] for index in positions), key=group)  # sorted() is stable
    for index, item in zip(positions, ours, strict=True):
        items[index] = item


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e_last: run after every other test on the package's deployment")
    config.addinivalue_line("markers", "e2e_own_deployment: a module with a deployment of its own, run after the rest")


def stop_package_deployment(airflow: LocalAirflow, request: pytest.FixtureRequest) -> None:
    """Stop the package's deployment before the modules with their own start (its fixture's exit then finds it
    stopped); its home is kept as the fixture would keep it."""
    airflow.keep_home = request.session.testsfailed > 0 or bool(os.environ.get("E2E_KEEP_AIRFLOW_HOME"))
    airflow.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Start-up and scenario durations, when the deployment ran."""
    if TIMINGS:
        terminalreporter.section("e2e timings")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {seconds:.1f}")
