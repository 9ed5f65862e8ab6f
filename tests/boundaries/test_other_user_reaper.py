"""Boundary: other users of one Airflow, reaping orphaned jobs (``POST /genai-batch/api/reap``).

The reaper cancels a live job only when the job carries the key re-derived from its task's recorded key proof
(``ui.binding.verify``), the task ended without success (or its run ended while it waited for a retry), and the
user may edit the owning DAG. A user sees in the report only jobs of DAGs they may read (and jobs no task owns
only when they may read the connection). Tried as admin, viewer, a user without access to the DAG, a user
without a role, and anonymous; with forged XComs pointing at another DAG's job.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests/ui are parameters of the same name)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.links.genai_batch import JOB_NAME_XCOM_KEY, KEY_PROOF_XCOM_KEY
from airflow_provider_genai_batch.policy.completion import ATTEMPTS_XCOM_KEY
from airflow_provider_genai_batch.ui.app import CSRF_HEADER
from tests.ui.conftest import auth_manager, token, ui  # noqa: F401  (the UI tests' fixtures, used by name)
from tests.ui.support import PROMPTS, headers_of, rest, run_create, write_xcom  # noqa: F401

CSRF = {"X-Requested-With": CSRF_HEADER}
LIVE = ("JOB_STATE_PENDING", "JOB_STATE_RUNNING")


def set_state(dag_id: str, run_id: str, ti_state: str, run_state: str | None = None) -> None:
    """Put task ``create`` of one run (and the run) in a state, as the scheduler or a user action would."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(TI).where(TI.dag_id == dag_id, TI.run_id == run_id, TI.task_id == "create").values(state=ti_state)
        )
        if run_state is not None:
            session.execute(
                update(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id).values(state=run_state)
            )


def mark_failed(rest: TestClient, token: Any, dag_id: str, run_id: str) -> None:
    """A user marks task ``create`` failed through Airflow's REST API (as the grid's "mark failed" does)."""
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/create"
    response = rest.patch(path, json={"new_state": "failed"}, headers=headers_of(token, "admin"))
    assert response.status_code == 200, response.text


def reap(ui: TestClient, token: Any, actor: str, **body: Any) -> Any:
    return ui.post("/api/reap", json=body, headers={**headers_of(token, actor), **CSRF})


def live(name: str) -> bool:
    return GenAIBatchHook().get_job(name).state.value in LIVE


def names(entries: list[dict[str, Any]]) -> list[str]:
    return [e["job_name"] for e in entries]


@pytest.fixture
def teams(run_dag: Any, emulator: EmulatorHandle) -> dict[str, Any]:
    """DAG A (``ui_team_a``) and DAG B (``ui_team_b``), each with a live job its task created and did not wait for."""
    emulator.configure(job_seconds=600, pending_seconds=0.1)
    a = run_create(run_dag, "ui_team_a", wait_for_completion=False)
    b = run_create(run_dag, "ui_team_b", wait_for_completion=False, display_name="team-b-nightly")
    return {"a": a, "b": b, "a_job": a.value("create")["job_name"], "b_job": b.value("create")["job_name"]}


def test_the_reaper_cancels_the_job_of_a_task_marked_failed_and_leaves_the_others(
    ui: TestClient, rest: TestClient, token: Any, teams: dict[str, Any], emulator: EmulatorHandle
) -> None:
    a, b, a_job, b_job = teams["a"], teams["b"], teams["a_job"], teams["b_job"]
    mark_failed(rest, token, "ui_team_a", a.run_id)
    # B's task waits for its job (deferred): kept
    set_state("ui_team_b", b.run_id, "deferred", "running")
    dry = reap(ui, token, "admin")
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["dry_run"] is True and report["cancelled"] == []
    orphan = [e for e in report["to_cancel"] if e["job_name"] == a_job]
    assert orphan and orphan[0]["reason"] == "its task instance is failed"
    assert orphan[0]["owner"]["dag_id"] == "ui_team_a" and orphan[0]["owner"]["task_state"] == "failed"
    assert b_job in names(report["kept"]) and b_job not in names(report["to_cancel"])
    assert emulator.stats()["cancels"]["gemini"] == 0 and live(a_job)  # a dry run cancels nothing
    applied = reap(ui, token, "admin", dry_run=False, only=[a_job]).json()
    assert applied["cancelled"] == [a_job] and applied["errors"] == []
    assert not live(a_job) and live(b_job)
    assert emulator.stats()["cancels"]["gemini"] == 1


@pytest.mark.parametrize(("ti_state", "run_state"), [("running", "running"), ("up_for_retry", "running")])
def test_the_reaper_leaves_a_running_or_retrying_tasks_job_alone(
    ui: TestClient, token: Any, teams: dict[str, Any], emulator: EmulatorHandle, ti_state: str, run_state: str
) -> None:
    a, a_job = teams["a"], teams["a_job"]
    set_state("ui_team_a", a.run_id, ti_state, run_state)
    report = reap(ui, token, "admin", dry_run=False, only=[a_job]).json()
    assert a_job in names(report["kept"]) and report["cancelled"] == []
    assert live(a_job) and emulator.stats()["cancels"]["gemini"] == 0


def test_a_retrying_task_whose_run_ended_is_reaped(ui: TestClient, token: Any, teams: dict[str, Any]) -> None:
    a, a_job = teams["a"], teams["a_job"]
    set_state("ui_team_a", a.run_id, "up_for_retry", "failed")
    report = reap(ui, token, "admin", dry_run=False, only=[a_job]).json()
    assert report["cancelled"] == [a_job] and not live(a_job)


FORGERIES = {
    "name_only": lambda b: {JOB_NAME_XCOM_KEY: b.value("create")["job_name"]},
    "name_and_b_proof_as_is": lambda b: {
        JOB_NAME_XCOM_KEY: b.value("create")["job_name"],
        KEY_PROOF_XCOM_KEY: b.value("create", KEY_PROOF_XCOM_KEY),
    },
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_xcom_pointing_at_another_dags_job_never_gets_it_cancelled(
    ui: TestClient, rest: TestClient, token: Any, teams: dict[str, Any], emulator: EmulatorHandle, forgery: str
) -> None:
    a, b, b_job = teams["a"], teams["b"], teams["b_job"]
    editor = headers_of(token, "editor_a")
    for key, value in FORGERIES[forgery](b).items():
        write_xcom(rest, editor, "ui_team_a", a.run_id, key, value)
    mark_failed(rest, token, "ui_team_a", a.run_id)
    # B's own record gone (its run deleted, say): the forged claim is the only one left
    deleted = rest.delete(f"/api/v2/dags/ui_team_b/dagRuns/{b.run_id}", headers=headers_of(token, "admin"))
    assert deleted.status_code == 204, deleted.text
    for actor in ("admin", "editor_a"):
        report = reap(ui, token, actor, dry_run=False).json()
        assert b_job not in names(report["to_cancel"]) and b_job not in report["cancelled"], actor
        assert "team-b-nightly" not in str(report), actor
        if actor == "admin":
            skipped = [e for e in report["skipped"] if e["job_name"] == b_job]
            assert skipped and "not verified" in skipped[0]["reason"]
    assert live(b_job)


ACTORS = ["admin", "viewer", "outsider", "editor_a", "no_role", "anonymous"]
STATUS = dict(zip(ACTORS, (200, 403, 200, 200, 403, 401), strict=True))


def test_reap_for_every_actor(
    ui: TestClient, rest: TestClient, token: Any, teams: dict[str, Any], emulator: EmulatorHandle
) -> None:
    a, b, a_job, b_job = teams["a"], teams["b"], teams["a_job"], teams["b_job"]
    mark_failed(rest, token, "ui_team_a", a.run_id)
    mark_failed(rest, token, "ui_team_b", b.run_id)
    for actor in ACTORS:
        got = reap(ui, token, actor)
        assert got.status_code == STATUS[actor], (actor, got.text)
        if got.status_code != 200:
            assert a_job not in got.text and b_job not in got.text, actor
            continue
        report = got.json()
        seen = {"a": a_job in got.text, "b": b_job in got.text}
        # outsider: no access to DAG A; editor_a: no access to DAG B; neither learns the other team's job exists
        assert (
            seen
            == {
                "admin": {"a": True, "b": True},
                "outsider": {"a": False, "b": True},
                "editor_a": {"a": True, "b": False},
            }[actor]
        ), actor
        assert "team-b-nightly" not in got.text
        if actor == "editor_a":
            assert names(report["to_cancel"]) == [a_job] and report["errors"] == []
    # a viewer cannot apply either; CSRF header required
    assert reap(ui, token, "viewer", dry_run=False).status_code == 403
    no_csrf = ui.post("/api/reap", json={"dry_run": False}, headers=headers_of(token, "admin"))
    assert no_csrf.status_code == 400
    assert emulator.stats()["cancels"]["gemini"] == 0
    # editor_a applies: only DAG A's orphan goes, DAG B's (which editor_a may not see) stays
    applied = reap(ui, token, "editor_a", dry_run=False).json()
    assert applied["cancelled"] == [a_job] and not live(a_job) and live(b_job)


def test_an_editor_without_edit_access_to_the_owning_dag_cannot_reap_it(
    ui: TestClient, rest: TestClient, token: Any, teams: dict[str, Any], auth_manager: Any
) -> None:
    from tests.ui.auth_manager import READ_ONLY

    a, a_job = teams["a"], teams["a_job"]
    mark_failed(rest, token, "ui_team_a", a.run_id)
    READ_ONLY.setdefault("editor_a", set()).add("ui_team_a")
    try:
        report = reap(ui, token, "editor_a", dry_run=False).json()
    finally:
        READ_ONLY["editor_a"].discard("ui_team_a")
    skipped = [e for e in report["skipped"] if e["job_name"] == a_job]
    assert skipped and "no edit access to DAG 'ui_team_a'" in skipped[0]["reason"]
    assert report["cancelled"] == [] and live(a_job)


# --- a completion policy's follow-up jobs -------------------------------------------------------------------------


def followup_dag(dag_id: str, display_name: str | None) -> str:
    """Task ``create`` with a completion policy: attempt 1 leaves a row to resubmit; attempt 2 never leaves PENDING
    and the task fails (``on_stuck='fail'``), leaving attempt 2 running: an orphaned follow-up."""
    shown = f", display_name={display_name!r}" if display_name else ""
    return f"""# An airflow DAG (Airflow's safe mode parses only files mentioning both words).
import datetime as dt
from airflow.sdk import DAG
from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator
from airflow_provider_genai_batch.policy.completion import CompletionPolicy

with DAG({dag_id!r}, schedule=None, start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), catchup=False,
         default_args={{"retries": 0}}) as dag:
    GenAIBatchCreateJobOperator(
        task_id="create", model="gemini-2.5-flash", src={PROMPTS!r}, deferrable=False,
        poll_interval=0.1, min_poll_interval=0.1{shown},
        completion=CompletionPolicy(max_attempts=3, on_stuck="fail", pending_after=0.3),
    )
"""


def run_followup(run_dag_file: Any, emulator: EmulatorHandle, dag_id: str, display_name: str | None = None) -> Any:
    emulator.add_outcome(failed_requests={1: 429})
    emulator.add_outcome("STUCK_PENDING")
    result = run_dag_file(dag_id, followup_dag(dag_id, display_name))
    assert result.task_states["create"] == "failed", result.output[-3000:]
    assert "GenAIBatchJobStuckError" in result.output
    attempts = result.value("create", ATTEMPTS_XCOM_KEY)
    assert isinstance(attempts, list) and len(attempts) == 2 and live(attempts[1])
    return result


@pytest.fixture
def followups(run_dag_file: Any, emulator: EmulatorHandle) -> dict[str, Any]:
    """DAG A and DAG B, each with a failed task whose follow-up (attempt 2) is still live."""
    emulator.configure(job_seconds=0.2, pending_seconds=0.05)
    a = run_followup(run_dag_file, emulator, "ui_team_a")
    b = run_followup(run_dag_file, emulator, "ui_team_b", "team-b-nightly")
    return {
        "a": a,
        "b": b,
        "a_attempts": a.value("create", ATTEMPTS_XCOM_KEY),
        "b_attempts": b.value("create", ATTEMPTS_XCOM_KEY),
    }


def test_the_reaper_cancels_a_follow_up_job_of_a_failed_task(
    ui: TestClient, token: Any, followups: dict[str, Any], emulator: EmulatorHandle
) -> None:
    a_followup, b_followup = followups["a_attempts"][1], followups["b_attempts"][1]
    report = reap(ui, token, "admin").json()
    entry = [e for e in report["to_cancel"] if e["job_name"] == a_followup]
    assert entry and entry[0]["reason"] == "its task instance is failed", report
    assert entry[0]["owner"]["dag_id"] == "ui_team_a" and entry[0]["owner"]["attempt"] == 2
    assert a_followup not in names(report["unowned"]) and b_followup in names(report["to_cancel"])
    applied = reap(ui, token, "editor_a", dry_run=False).json()  # editor_a may edit DAG A only
    assert applied["cancelled"] == [a_followup] and applied["errors"] == []
    assert not live(a_followup) and live(b_followup)


FOLLOWUP_FORGERIES: dict[str, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]] = {
    # A's attempts name B's follow-up as A's attempt 2, or as attempt 3
    "as_attempt_2": lambda a, b: {ATTEMPTS_XCOM_KEY: [a["attempts"][0], b["attempts"][1]]},
    "as_attempt_3": lambda a, b: {ATTEMPTS_XCOM_KEY: [*a["attempts"], b["attempts"][1]]},
    # ...with B's own key proof and job name copied over as well
    "with_b_proof": lambda a, b: {
        ATTEMPTS_XCOM_KEY: b["attempts"],
        JOB_NAME_XCOM_KEY: b["attempts"][0],
        KEY_PROOF_XCOM_KEY: b["proof"],
    },
}


@pytest.mark.parametrize("forgery", sorted(FOLLOWUP_FORGERIES))
def test_a_forged_attempts_xcom_never_gets_another_dags_follow_up_cancelled(
    ui: TestClient, rest: TestClient, token: Any, followups: dict[str, Any], forgery: str
) -> None:
    a = {"attempts": followups["a_attempts"]}
    b = {"attempts": followups["b_attempts"], "proof": followups["b"].value("create", KEY_PROOF_XCOM_KEY)}
    b_followup = b["attempts"][1]
    editor = headers_of(token, "editor_a")
    for key, value in FOLLOWUP_FORGERIES[forgery](a, b).items():
        write_xcom(rest, editor, "ui_team_a", followups["a"].run_id, key, value)
    # B's own record gone (its run deleted): the forged claim is the only one left
    deleted = rest.delete(f"/api/v2/dags/ui_team_b/dagRuns/{followups['b'].run_id}", headers=headers_of(token, "admin"))
    assert deleted.status_code == 204, deleted.text
    for actor in ("admin", "editor_a"):
        report = reap(ui, token, actor, dry_run=False).json()
        assert b_followup not in names(report["to_cancel"]) and b_followup not in report["cancelled"], actor
        assert "team-b-nightly" not in str(report), actor
        if actor == "admin":
            skipped = [e for e in report["skipped"] if e["job_name"] == b_followup]
            assert skipped and "not verified" in skipped[0]["reason"], report
    assert live(b_followup)
