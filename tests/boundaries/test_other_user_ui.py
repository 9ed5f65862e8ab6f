"""Boundary: other users of one Airflow, in the UI plugin.

An editor of DAG A can write any XCom of DAG A's tasks through Airflow's REST API. The UI shows and cancels a job
through a task only when the job itself carries that task's identity (the idempotency key the operator derived
from the task instance and put in the job's display name and, on Vertex AI, its label), and never reveals
connection errors to users who may not read that connection. Every endpoint is tried as admin, viewer, a user
without access to the DAG, a user without a role, and anonymous.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests/ui are parameters of the same name)

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.links.genai_batch import JOB_NAME_XCOM_KEY, KEY_PROOF_XCOM_KEY
from airflow_provider_genai_batch.ui.app import CSRF_HEADER
from tests.ui.conftest import auth_manager, token, ui  # noqa: F401  (the UI tests' fixtures, used by name)
from tests.ui.support import headers_of, rest, run_create, write_xcom  # noqa: F401

CSRF = {"X-Requested-With": CSRF_HEADER}


def ti_path(dag_id: str, run_id: str) -> str:
    return "/api/ti?" + urlencode({"dag_id": dag_id, "run_id": run_id, "task_id": "create", "map_index": -1})


@pytest.fixture
def two_teams(run_dag: Any, emulator: EmulatorHandle) -> dict[str, Any]:
    """DAG A (``ui_team_a``) and DAG B (``ui_team_b``), each with a running job of its own."""
    emulator.configure(job_seconds=600, pending_seconds=0.1)
    a = run_create(run_dag, "ui_team_a", wait_for_completion=False)
    b = run_create(run_dag, "ui_team_b", wait_for_completion=False, display_name="team-b-nightly")
    return {"a": a, "b": b, "b_job": b.value("create")["job_name"]}


FORGERIES = {
    "name_only": lambda a, b: {JOB_NAME_XCOM_KEY: b.value("create")["job_name"]},
    "name_and_manifest": lambda a, b: {
        JOB_NAME_XCOM_KEY: b.value("create")["job_name"],
        "return_value": b.value("create"),
    },
    "name_and_a_proof": lambda a, b: {JOB_NAME_XCOM_KEY: b.value("create")["job_name"]},  # A's own proof stays
    "name_and_b_proof_renamed": lambda a, b: {
        JOB_NAME_XCOM_KEY: b.value("create")["job_name"],
        KEY_PROOF_XCOM_KEY: [
            "ui_team_a",
            *b.value("create", KEY_PROOF_XCOM_KEY)[1:2],
            a.run_id,
            *b.value("create", KEY_PROOF_XCOM_KEY)[3:],
        ],
    },
    "name_and_b_proof_as_is": lambda a, b: {
        JOB_NAME_XCOM_KEY: b.value("create")["job_name"],
        KEY_PROOF_XCOM_KEY: b.value("create", KEY_PROOF_XCOM_KEY),
    },
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_an_editor_of_dag_a_cannot_show_or_cancel_dag_bs_job_through_a_forged_xcom(
    ui: TestClient, rest: TestClient, token: Any, two_teams: dict[str, Any], emulator: EmulatorHandle, forgery: str
) -> None:
    a, b, b_job = two_teams["a"], two_teams["b"], two_teams["b_job"]
    editor = headers_of(token, "editor_a")
    for key, value in FORGERIES[forgery](a, b).items():
        write_xcom(rest, editor, "ui_team_a", a.run_id, key, value)
    shown = ui.get(ti_path("ui_team_a", a.run_id), headers=editor)
    assert shown.status_code == 200, shown.text
    row = shown.json()
    assert row["verified"] is False and row["state"] == "UNVERIFIED"
    assert row["can_cancel"] is False
    assert "team-b-nightly" not in shown.text  # nothing read from B's job reaches A's tab
    assert b.value("create")["idempotency_key"] not in shown.text
    assert row["progress"] == {} and row["model"] is None and row["console_url"] is None
    cancel = ui.post(
        "/api/cancel", json={"dag_id": "ui_team_a", "run_id": a.run_id, "task_id": "create"}, headers={**editor, **CSRF}
    )
    assert cancel.status_code == 409, cancel.text
    assert emulator.stats()["cancels"]["gemini"] == 0
    assert GenAIBatchHook().get_job(b_job).state.value in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING")
    listed = ui.get("/api/jobs", headers=editor).json()
    assert "team-b-nightly" not in str(listed)
    assert [r["state"] for r in listed["jobs"] if r["job_name"] == b_job] == ["UNVERIFIED"]
    # the same forged record, seen by an admin: still not verified, still not cancellable through A's task
    admin = headers_of(token, "admin")
    assert ui.get(ti_path("ui_team_a", a.run_id), headers=admin).json()["verified"] is False
    again = ui.post(
        "/api/cancel", json={"dag_id": "ui_team_a", "run_id": a.run_id, "task_id": "create"}, headers={**admin, **CSRF}
    )
    assert again.status_code == 409 and emulator.stats()["cancels"]["gemini"] == 0
    # B's own task still shows and cancels B's job (for whoever may edit DAG B)
    own = ui.get(ti_path("ui_team_b", b.run_id), headers=admin).json()
    assert own["verified"] is True and own["job_name"] == b_job and own["can_cancel"] is True


def test_the_operator_records_a_key_proof_that_verifies_its_own_job(
    ui: TestClient, token: Any, two_teams: dict[str, Any]
) -> None:
    a = two_teams["a"]
    proof = a.value("create", KEY_PROOF_XCOM_KEY)
    assert proof[:4] == ["ui_team_a", "create", a.run_id, -1]
    row = ui.get(ti_path("ui_team_a", a.run_id), headers=headers_of(token, "editor_a")).json()
    assert row["verified"] is True and row["state"] in ("PENDING", "RUNNING")
    assert row["idempotency_key"] == a.value("create")["idempotency_key"] and row["can_cancel"] is True


ACTORS = ["admin", "viewer", "outsider", "no_role", "anonymous"]
# What each actor gets from each endpoint, for DAG A's task whose XCom points at DAG B's job.
EXPECTED = {
    #            admin viewer outsider no_role anonymous
    "ti": dict(zip(ACTORS, (200, 200, 403, 403, 401), strict=True)),
    "cancel": dict(zip(ACTORS, (409, 403, 403, 403, 401), strict=True)),
    "jobs": dict(zip(ACTORS, (200, 200, 200, 200, 401), strict=True)),
    "summary": dict(zip(ACTORS, (200, 200, 200, 200, 401), strict=True)),
    "page": dict(zip(ACTORS, (200, 200, 200, 200, 401), strict=True)),
    "asset": dict(zip(ACTORS, (200, 200, 200, 200, 401), strict=True)),
}


def test_every_endpoint_for_every_actor_against_a_forged_xcom(
    ui: TestClient, rest: TestClient, token: Any, two_teams: dict[str, Any], emulator: EmulatorHandle
) -> None:
    a, b_job = two_teams["a"], two_teams["b_job"]
    write_xcom(rest, headers_of(token, "editor_a"), "ui_team_a", a.run_id, JOB_NAME_XCOM_KEY, b_job)
    for actor in ACTORS:
        headers = headers_of(token, actor)
        ref = {"dag_id": "ui_team_a", "run_id": a.run_id, "task_id": "create"}
        got = {
            "ti": ui.get(ti_path("ui_team_a", a.run_id), headers=headers),
            "cancel": ui.post("/api/cancel", json=ref, headers={**headers, **CSRF}),
            "jobs": ui.get("/api/jobs", headers=headers),
            "summary": ui.get("/api/summary", headers=headers),
            "page": ui.get("/ti", headers=headers),
            "asset": ui.get("/static/ui.js", headers=headers),
        }
        expected = {name: e[actor] for name, e in EXPECTED.items()}
        assert {name: r.status_code for name, r in got.items()} == expected, actor
        assert emulator.stats()["cancels"]["gemini"] == 0, actor
        for name in ("ti", "cancel"):
            assert "team-b-nightly" not in got[name].text, (actor, name)
        if got["jobs"].status_code == 200:
            rows = got["jobs"].json()["jobs"]
            a_rows = [r for r in rows if r["owner"] and r["owner"]["dag_id"] == "ui_team_a"]
            assert all(r["state"] == "UNVERIFIED" and r["display_name"] is None for r in a_rows), actor
            if actor in ("outsider", "no_role"):
                assert a_rows == [], actor
            if actor == "no_role":
                assert rows == [] and got["jobs"].json()["errors"] == []
                assert got["summary"].json()["counts"] == dict.fromkeys(
                    ("running", "succeeded", "failed", "expired", "cancelled", "other"), 0
                )
