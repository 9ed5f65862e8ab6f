"""After every scenario (successes, a retry, a kill, a crash and a failure): the API key and the Vertex token
appear nowhere Airflow keeps things: component, task and trigger logs, XComs, the trigger table (as sampled all
session long, decrypted when encrypted), rendered template fields, task instances, or any other table, nor in the
raw bytes of the database file.

The emulators' own logs are left out: they belong to the test rig, not to Airflow (the emulator prints the key
it accepts when it starts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from scripts.local_airflow import LocalAirflow, TriggerRecorder
from tests.e2e.conftest import ScenarioRuns, stop_package_deployment
from tests.e2e.support import API_KEY, SECRETS, TRIGGER_CLASSPATH, find_secrets, hits_with_context

pytestmark = [pytest.mark.e2e, pytest.mark.e2e_last]

#: Runs that end by themselves; the others end through their own tests, which run before this one.
SELF_ENDING = ("e2e_deferrable", "e2e_retry", "e2e_failing")


def _as_text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _table_dumps(airflow: LocalAirflow) -> Iterator[tuple[str, str]]:
    for table in airflow.tables():
        rows = airflow.query(f'SELECT * FROM "{table}"')  # table names come from sqlite_master
        yield table, json.dumps(rows, default=_as_text)


def _database_bytes(airflow: LocalAirflow) -> bytes:
    db = airflow.database_path
    files = [db.with_name(db.name + suffix) for suffix in ("", "-wal", "-journal")]
    return b"".join(path.read_bytes() for path in files if path.exists())


@pytest.fixture(scope="module")
def finished(
    airflow: LocalAirflow,
    scenario_runs: ScenarioRuns,
    trigger_recorder: TriggerRecorder,
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """Every self-ending run finished; after the scan, the package's deployment stops (its last user)."""
    for dag_id in SELF_ENDING:
        airflow.wait_for_dag_run(dag_id, scenario_runs[dag_id], timeout=180)
    trigger_recorder.sample()
    yield
    trigger_recorder.stop()
    stop_package_deployment(airflow, request)


def test_the_scan_covers_every_scenario(
    airflow: LocalAirflow, scenario_runs: ScenarioRuns, trigger_recorder: TriggerRecorder, finished: None
) -> None:
    product_triggers = [row for row in trigger_recorder.rows if row.classpath == TRIGGER_CLASSPATH]
    assert len(product_triggers) >= len(SELF_ENDING), "too few trigger rows were sampled to mean anything"
    rendered = airflow.query("SELECT dag_id, task_id FROM rendered_task_instance_fields")
    assert {row["dag_id"] for row in rendered} >= set(SELF_ENDING)
    assert airflow.query("SELECT count(*) AS n FROM xcom")[0]["n"] > 0
    for dag_id in SELF_ENDING:
        assert airflow.task_log(dag_id, scenario_runs[dag_id], "job" if dag_id != "e2e_deferrable" else "gemini_job")
    # Positive control: the scan does find the key where it is meant to be (the emulators print the key they
    # accept when they start), so an empty result below is not the scanner's blindness.
    assert API_KEY in find_secrets(airflow.logs_text(include_emulators=True))


def test_no_secret_in_logs(airflow: LocalAirflow, finished: None) -> None:
    text = airflow.logs_text(include_emulators=False)
    assert find_secrets(text) == [], hits_with_context(text)


def test_no_secret_in_stored_trigger_kwargs(trigger_recorder: TriggerRecorder, finished: None) -> None:
    leaks = {
        row.id: hits_with_context(row.raw_kwargs + "\n" + row.kwargs_text)
        for row in trigger_recorder.rows
        if find_secrets(row.raw_kwargs + row.kwargs_text)
    }
    assert leaks == {}


def test_no_secret_in_any_table(airflow: LocalAirflow, finished: None) -> None:
    leaks = {table: hits_with_context(text) for table, text in _table_dumps(airflow) if find_secrets(text)}
    assert leaks == {}  # xcom, trigger, rendered_task_instance_fields, task_instance(_history), log, dag_run...


def test_no_secret_in_the_database_file(airflow: LocalAirflow, finished: None) -> None:
    data = _database_bytes(airflow)
    assert [secret for secret in SECRETS if secret.encode() in data] == []


def test_no_secret_in_xcom_through_the_api(airflow: LocalAirflow, scenario_runs: ScenarioRuns, finished: None) -> None:
    for dag_id, run_id in scenario_runs.run_ids.items():
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/~/xcomEntries"
        entries = airflow.api("GET", path, params={"limit": 100}).json()["xcom_entries"]
        for entry in entries:
            value = airflow.read_xcom(dag_id, run_id, entry["task_id"], entry["key"], entry.get("map_index", -1))
            text = json.dumps(value, default=str)
            assert find_secrets(text) == [], (dag_id, entry["key"], hits_with_context(text))
