"""The plugin's endpoints over real requests: jobs created by real ``dag.test()`` runs against the emulator,
permissions decided by a real auth manager, live reads through the provider's async client."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.ui.app import CSRF_HEADER
from tests.timings import FAST

PROMPTS = [{"contents": "alpha", "metadata": {"key": "a"}}, {"contents": "beta", "metadata": {"key": "b"}}]
ENDPOINTS = [
    ("GET", "/jobs"),
    ("GET", "/ti"),
    ("GET", "/card"),
    ("GET", "/static/ui.js"),
    ("GET", "/static/card.js"),
    ("GET", "/api/jobs"),
    ("GET", "/api/summary"),
    ("GET", "/api/ti?dag_id=d&run_id=r&task_id=t"),
    ("POST", "/api/cancel"),
]


def run_create(run_dag: Any, dag_id: str, **kwargs: Any) -> Any:
    task = {"class": "GenAIBatchCreateJobOperator", "task_id": "create", "model": "gemini-2.5-flash", "src": PROMPTS}
    result = run_dag({"dag_id": dag_id, "tasks": [{**task, **FAST, **kwargs}], "retries": 0})
    assert result.task_states["create"] == "success", result.output[-2000:]
    return result


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ti_path(dag_id: str, run_id: str) -> str:
    return "/api/ti?" + urlencode({"dag_id": dag_id, "run_id": run_id, "task_id": "create", "map_index": -1})


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_requests_get_401(ui: TestClient, method: str, path: str) -> None:
    response = ui.request(method, path, json={"dag_id": "d", "run_id": "r", "task_id": "t"})
    assert response.status_code == 401
    bad = ui.request(method, path, headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code in (401, 403)
    assert "alpha" not in bad.text


def test_pages_and_assets_are_served_to_a_signed_in_user(ui: TestClient, token: Any) -> None:
    headers = auth(token("viewer1", "VIEWER"))
    for page, marker in (("/jobs", "Gen AI batch jobs"), ("/ti", "cancel"), ("/card", "last 24 h")):
        response = ui.get(page, headers=headers)
        assert response.status_code == 200 and marker in response.text
        assert response.headers["cache-control"] == "no-store"
    assert "AirflowPlugin" in ui.get("/static/card.js", headers=headers).text
    assert ui.get("/static/secrets.txt", headers=headers).status_code == 404
    assert ui.get("/nothing", headers=headers).status_code == 404


def test_task_view_shows_the_finished_job(ui: TestClient, token: Any, run_dag: Any, emulator: EmulatorHandle) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    result = run_create(run_dag, "ui_open_dag")
    manifest = result.value("create")
    response = ui.get(ti_path("ui_open_dag", result.run_id), headers=auth(token("viewer1", "VIEWER")))
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["job_name"] == manifest["job_name"]
    assert job["state"] == "SUCCEEDED"
    assert job["progress"] == {"total": 2, "succeeded": 2, "failed": 0, "pending": 0, "done_ratio": 1.0}
    assert job["idempotency_key"] == manifest["idempotency_key"] and len(job["idempotency_key"]) == 24
    assert job["reattached"] is False
    assert job["results"]["kind"] == "inline" and job["results"]["inline_count"] == 2
    assert job["console_url"] == manifest["console_url"]
    assert job["conn_id"] == "genai_batch_default"
    assert job["owner"]["dag_id"] == "ui_open_dag" and job["owner"]["task_state"] == "success"
    assert job["next_poll_seconds"] is None and job["elapsed_seconds"] >= 0
    assert job["can_cancel"] is False  # a viewer


def test_a_user_without_access_to_a_dag_gets_403_and_does_not_see_its_jobs(
    ui: TestClient, token: Any, run_dag: Any, emulator: EmulatorHandle
) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    open_run = run_create(run_dag, "ui_open_dag2")
    secret_run = run_create(run_dag, "ui_secret_dag")
    secret_job = secret_run.value("create")["job_name"]
    outsider = auth(token("outsider", "ADMIN"))  # an admin everywhere but on ui_secret_dag
    assert ui.get(ti_path("ui_secret_dag", secret_run.run_id), headers=outsider).status_code == 403
    assert ui.get(ti_path("ui_open_dag2", open_run.run_id), headers=outsider).status_code == 200
    listed = ui.get("/api/jobs", headers=outsider).json()
    names = {row["job_name"] for row in listed["jobs"]}
    assert open_run.value("create")["job_name"] in names
    assert secret_job not in names  # neither as the DAG's job nor as an unowned job of the connection
    assert "ui_secret_dag" not in listed["facets"]["dag_ids"]
    cancel = ui.post(
        "/api/cancel",
        json={"dag_id": "ui_secret_dag", "run_id": secret_run.run_id, "task_id": "create"},
        headers={**outsider, "X-Requested-With": CSRF_HEADER},
    )
    assert cancel.status_code == 403
    admin = ui.get("/api/jobs", headers=auth(token("admin1", "ADMIN"))).json()
    owned = {row["job_name"]: row["owner"] for row in admin["jobs"]}
    assert owned[secret_job]["dag_id"] == "ui_secret_dag"


def test_filters_by_state_dag_and_connection(
    ui: TestClient, token: Any, run_dag: Any, emulator: EmulatorHandle
) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    run = run_create(run_dag, "ui_filter_dag")
    headers = auth(token("viewer1", "VIEWER"))
    by_dag = ui.get("/api/jobs", params={"dag_id": "ui_filter_dag"}, headers=headers).json()["jobs"]
    assert [row["job_name"] for row in by_dag] == [run.value("create")["job_name"]]
    assert (
        ui.get("/api/jobs", params={"dag_id": "ui_filter_dag", "state": "RUNNING"}, headers=headers).json()["jobs"]
        == []
    )
    succeeded = ui.get("/api/jobs", params={"state": "succeeded"}, headers=headers).json()
    assert succeeded["jobs"] and all(row["state"] == "SUCCEEDED" for row in succeeded["jobs"])
    vertex = ui.get("/api/jobs", params={"conn_id": "genai_batch_vertex"}, headers=headers).json()["jobs"]
    assert all(row["conn_id"] == "genai_batch_vertex" for row in vertex)
    assert "genai_batch_default" in succeeded["facets"]["conn_ids"]
    counts = ui.get("/api/summary", headers=headers).json()["counts"]
    assert counts["succeeded"] >= 1 and set(counts) >= {"running", "succeeded", "failed", "expired"}


def test_read_only_user_cannot_cancel_and_an_editor_can(
    ui: TestClient, token: Any, run_dag: Any, emulator: EmulatorHandle
) -> None:
    emulator.configure(job_seconds=600, pending_seconds=0.1)
    run = run_create(run_dag, "ui_cancel_dag", wait_for_completion=False)
    name = run.value("create")["job_name"]
    ref = {"dag_id": "ui_cancel_dag", "run_id": run.run_id, "task_id": "create", "map_index": -1}
    viewer = auth(token("viewer1", "VIEWER"))
    assert ui.get(ti_path("ui_cancel_dag", run.run_id), headers=viewer).json()["state"] in ("PENDING", "RUNNING")
    assert ui.post("/api/cancel", json=ref, headers={**viewer, "X-Requested-With": CSRF_HEADER}).status_code == 403
    editor = auth(token("editor1", "USER"))
    assert ui.post("/api/cancel", json=ref, headers=editor).status_code == 400  # no CSRF header
    assert emulator.stats()["cancels"]["gemini"] == 0
    assert GenAIBatchHook().get_job(name).state.value != "JOB_STATE_CANCELLED"
    response = ui.post("/api/cancel", json=ref, headers={**editor, "X-Requested-With": CSRF_HEADER})
    assert response.status_code == 200, response.text
    assert emulator.stats()["cancels"]["gemini"] == 1
    assert GenAIBatchHook().get_job(name).state.value in ("JOB_STATE_CANCELLED", "JOB_STATE_CANCELLING")
    assert response.json()["state"] in ("CANCELLED", "CANCELLING")


def test_page_refreshes_within_the_ttl_share_one_api_read(
    ui: TestClient, token: Any, run_dag: Any, emulator: EmulatorHandle
) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    run = run_create(run_dag, "ui_cache_dag")
    reader = ui.app.state.service.reader  # type: ignore[attr-defined]
    headers = auth(token("viewer1", "VIEWER"))
    for _ in range(5):
        assert ui.get(ti_path("ui_cache_dag", run.run_id), headers=headers).status_code == 200
    assert reader.calls == 1


def test_a_task_without_a_job_is_404(ui: TestClient, token: Any) -> None:
    response = ui.get(ti_path("no_such_dag", "no_run"), headers=auth(token("admin1", "ADMIN")))
    assert response.status_code == 404
