"""``GenAIBatchReapOrphansOperator`` run for real (``dag.test()``): it signs in to the api-server over a real
socket (the UI plugin's app served by uvicorn, Airflow's auth manager, the metadata DB the runs wrote) and the
api-server's reaper cancels on the emulator."""

# ruff: noqa: F811  (pytest fixtures imported from tests/ui are parameters of the same name)

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.emulator.server import base_url_of, bind_socket
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.operators import GenAIBatchReapOrphansOperator
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from tests.boundaries.test_other_user_reaper import LIVE, set_state
from tests.conftest import set_connection
from tests.ui.conftest import auth_manager, token  # noqa: F401  (the UI tests' fixtures, used by name)
from tests.ui.support import run_create


@pytest.fixture
def api_server(auth_manager: Any, emulator: EmulatorHandle) -> Iterator[str]:
    """The UI plugin's app at ``/genai-batch`` on a real socket, as the api-server mounts it."""
    from airflow_provider_genai_batch.ui.app import create_app
    from airflow_provider_genai_batch.ui.service import JobReader

    app = Starlette(routes=[Mount("/genai-batch", app=create_app(JobReader(ttl=0.5)))])
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield base_url_of(sock)
    server.should_exit = True
    thread.join(timeout=10)


def reaper_spec(dag_id: str, **kwargs: Any) -> dict[str, Any]:
    task = {"class": "GenAIBatchReapOrphansOperator", "task_id": "reap", "conn_ids": ["genai_batch_default"]}
    return {"dag_id": dag_id, "tasks": [{**task, **kwargs}], "retries": 0}


def use_api(monkeypatch: pytest.MonkeyPatch, base_url: str, token_value: str) -> None:
    set_connection(monkeypatch, "airflow_api", {"conn_type": "http", "host": base_url, "password": token_value})


def test_the_operator_reaps_the_job_of_a_failed_task_and_keeps_a_deferred_ones(
    run_dag: Any, emulator: EmulatorHandle, api_server: str, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.configure(job_seconds=600, pending_seconds=0.1)
    failed = run_create(run_dag, "reaper_failed_task", wait_for_completion=False)
    waiting = run_create(run_dag, "reaper_deferred_task", wait_for_completion=False)
    orphan, kept = failed.value("create")["job_name"], waiting.value("create")["job_name"]
    set_state("reaper_failed_task", failed.run_id, "failed")
    set_state("reaper_deferred_task", waiting.run_id, "deferred", "running")
    admin_token = token("admin1", "ADMIN")
    use_api(monkeypatch, api_server, admin_token)

    dry = run_dag(reaper_spec("reaper_dry"))
    assert dry.task_states["reap"] == "success", dry.output[-3000:]
    report = dry.value("reap")
    assert report["dry_run"] is True and report["cancelled"] == []
    assert {e["job_name"]: e["reason"] for e in report["to_cancel"]} == {orphan: "its task instance is failed"}
    assert kept in [e["job_name"] for e in report["kept"]]
    assert emulator.stats()["cancels"]["gemini"] == 0
    assert f"ORPHAN {orphan}" in dry.output and admin_token not in dry.output

    applied = run_dag(reaper_spec("reaper_apply", dry_run=False))
    assert applied.task_states["reap"] == "success", applied.output[-3000:]
    assert applied.value("reap")["cancelled"] == [orphan]
    assert GenAIBatchHook().get_job(orphan).state.value not in LIVE
    assert GenAIBatchHook().get_job(kept).state.value in LIVE
    assert json.dumps(applied.value("reap"))  # JSON-able


def test_a_viewer_token_fails_the_task_with_the_status_and_cancels_nothing(
    run_dag: Any, emulator: EmulatorHandle, api_server: str, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_api(monkeypatch, api_server, token("viewer1", "VIEWER"))
    result = run_dag(reaper_spec("reaper_viewer", dry_run=False))
    assert result.task_states["reap"] == "failed"
    assert "HTTP 403 (the user lacks edit access to DAGs)" in result.output
    assert emulator.stats()["cancels"]["gemini"] == 0


def test_bad_arguments_are_refused_before_any_request() -> None:
    with pytest.raises(OperatorInputError, match="timeout"):
        GenAIBatchReapOrphansOperator(task_id="reap", timeout=0)
    with pytest.raises(OperatorInputError, match="airflow_api_conn_id"):
        GenAIBatchReapOrphansOperator(task_id="reap", airflow_api_conn_id="")


def test_the_example_reaper_dag_runs_a_dry_run_by_default(
    run_dag_file: Any, emulator: EmulatorHandle, api_server: str, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "example_dags" / "reap_orphans.py").read_text()
    use_api(monkeypatch, api_server, token("admin1", "ADMIN"))
    result = run_dag_file("genai_batch_reap_orphans", source + "\ndag = genai_batch_reap_orphans()\n")
    assert result.task_states["reap_orphans"] == "success", result.output[-3000:]
    assert result.value("reap_orphans")["dry_run"] is True
