"""The reaping plan: which live jobs are orphans, for every task and DAG run state."""

from __future__ import annotations

import pytest

from airflow_provider_genai_batch.policy.reaping import LiveJob, Owner, decide, plan_reaping


def owner(ti: str | None, run: str | None = "running", *, verified: bool = True, dag_id: str = "d") -> Owner:
    return Owner(dag_id, "r", "t", -1, verified, "checked" if verified else "forged", ti, run)


def job(*owners: Owner) -> LiveJob:
    return LiveJob("genai_batch_default", "batches/x", "RUNNING", "0" * 24, list(owners))


@pytest.mark.parametrize("ti", ["failed", "upstream_failed", "skipped", "removed"])
def test_a_job_whose_task_ended_without_success_is_cancelled(ti: str) -> None:
    decision = decide(job(owner(ti)))
    assert decision.action == "cancel" and ti in decision.reason and decision.owner is not None


@pytest.mark.parametrize("ti", ["running", "deferred", "queued", "scheduled", "up_for_reschedule", "restarting"])
@pytest.mark.parametrize("run", ["running", "queued", "success", "failed"])
def test_a_job_whose_task_is_alive_is_kept_whatever_the_run(ti: str, run: str) -> None:
    assert decide(job(owner(ti, run))).action == "keep"


@pytest.mark.parametrize("ti", ["up_for_retry", None])
def test_a_retry_reattaches_so_its_job_is_kept_while_the_run_lives(ti: str | None) -> None:
    kept = decide(job(owner(ti, "running")))
    assert kept.action == "keep" and "reattaches" in kept.reason
    ended = decide(job(owner(ti, "failed")))
    assert ended.action == "cancel" and "DAG run is failed" in ended.reason


@pytest.mark.parametrize("run", ["running", "success", "failed"])
def test_a_task_that_succeeded_without_waiting_keeps_its_job(run: str) -> None:
    decision = decide(job(owner("success", run)))
    assert decision.action == "keep" and "wait_for_completion=False" in decision.reason


def test_a_job_no_task_recorded_is_reported_never_cancelled() -> None:
    assert decide(job()).action == "report"


def test_an_unverified_claim_is_skipped_even_from_a_failed_task() -> None:
    decision = decide(job(owner("failed", "failed", verified=False)))
    assert decision.action == "skip" and "forged" in decision.reason and decision.owner is None


def test_a_forged_claim_beside_the_verified_owner_does_not_decide() -> None:
    decision = decide(job(owner("failed", verified=False, dag_id="a"), owner("deferred", dag_id="b")))
    assert decision.action == "keep" and decision.owner is not None and decision.owner.dag_id == "b"


def test_two_verified_owners_are_never_cancelled() -> None:
    twin = Owner("d", "r2", "t", -1, True, "checked", "failed", "failed")
    assert decide(job(owner("failed"), twin)).action == "skip"


def test_an_unknown_task_state_is_kept() -> None:
    assert decide(job(owner("some_future_state"))).action == "keep"


def test_the_plan_keeps_the_order() -> None:
    jobs = [job(owner("failed")), job(), job(owner("running"))]
    assert [d.action for d in plan_reaping(jobs)] == ["cancel", "report", "keep"]
