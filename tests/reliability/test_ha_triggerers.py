"""HA triggerers with real Airflow: two triggerers; one is frozen until its triggers move (its copies go stale),
then the other is killed. Every job finishes once, on whichever triggerer is left, and none is cancelled: not by
the stale copies (``cancel_on_kill=True``: a stale copy's ``on_kill`` must see the task still deferred), not by
the kill.

Choreography (jobs are held PENDING by the emulator until the end, so the timing is the test's):

1. A second triggerer (B) starts beside the deployment's (A); six deferrable tasks defer.
2. The triggerer holding the most triggers (X) is frozen (SIGSTOP on its process group) until the other (Y) has
   taken every trigger over (its heartbeat is older than ``triggerer_health_check_threshold``, 10 s here), then
   thawed: X finds its triggers gone and drops its copies.
3. Y is SIGKILLed; X takes every trigger back.
4. The jobs are finished; every task must succeed in its first try, with six jobs created and no cancel.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from scripts.local_airflow import LocalAirflow, ManagedProcess
from tests.e2e.support import wait_until
from tests.reliability.conftest import CrashDeployment
from tests.reliability.test_crash_matrix import patiently

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HA_DAG_ID = "rel_ha_triggerers"  # tests/reliability/dags/reliability_ha.py
TASKS = [f"job_{index}" for index in range(6)]
TRIGGER_CLASS = "airflow_provider_genai_batch.triggers.genai_batch.GenAIBatchJobTrigger"
T = TypeVar("T")


def running_triggerer_jobs(airflow: LocalAirflow) -> list[int]:
    rows = airflow.query("SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' ORDER BY id")
    return [int(row["id"]) for row in rows]


def assignments(airflow: LocalAirflow) -> dict[int, int | None]:
    """``{trigger id: triggerer job id}`` of this test's triggers."""
    rows = airflow.query(
        "SELECT t.id AS id, t.triggerer_id AS triggerer FROM trigger t JOIN task_instance ti ON ti.trigger_id = t.id"
        " WHERE ti.dag_id = ?",
        (HA_DAG_ID,),
    )
    return {int(row["id"]): row["triggerer"] for row in rows}


@dataclass
class Triggerer:
    """One triggerer process and its job id in the metadata database."""

    name: str
    process: ManagedProcess
    job_id: int

    def signal(self, sig: signal.Signals) -> None:
        assert self.process.pid is not None
        os.killpg(self.process.pid, sig)


@dataclass
class HaRun:
    run_id: str
    frozen: str
    killed: str
    moved_after_freeze_s: float
    moved_after_kill_s: float
    stats: dict[str, Any]
    states: dict[str, str | None]
    tries: dict[str, int]
    stale_on_kill_calls: int  # "Trigger cancelled by user action, invoking on_kill" on the thawed triggerer
    stale_on_kill_guarded: int  # "on_kill: not cancelling ... the task is deferred" (the provider's guard)
    seconds: float


def _second_triggerer(airflow: LocalAirflow) -> ManagedProcess:
    # The harness has no public way to run a second triggerer; its argv and environment are reused as they are.
    argv = airflow._component_argv("triggerer")
    process = ManagedProcess("triggerer-b", argv, airflow.log_dir / "triggerer-b.log", airflow._env)
    process.start()
    return process


@pytest.fixture(scope="module")
def ha_run(crash_deployment: CrashDeployment) -> Iterator[HaRun]:
    airflow, emulator = crash_deployment.airflow, crash_deployment.emulators["ha"]
    airflow.wait_for_dags([HA_DAG_ID], timeout=120)
    emulator.reset()
    emulator.configure(job_seconds=5.0, pending_seconds=1.0)
    emulator.add_outcome(final_state="STUCK_PENDING", count=None)
    began = time.monotonic()
    existing = running_triggerer_jobs(airflow)
    a_process = airflow.processes["triggerer"]
    b_process = _second_triggerer(airflow)
    try:
        b_job = wait_until(
            lambda: next((j for j in running_triggerer_jobs(airflow) if j not in existing), None),
            60,
            "the second triggerer's job",
        )
        a = Triggerer("A", a_process, max(existing))
        b = Triggerer("B", b_process, b_job)
        run_id = patiently(airflow.trigger_dag, HA_DAG_ID)

        def all_deferred() -> bool:
            states = [patiently(airflow.task_state, HA_DAG_ID, run_id, task) for task in TASKS]
            return all(state == "deferred" for state in states)

        wait_until(all_deferred, 120, "every task deferred", interval=1.0)
        wait_until(
            lambda: all(assignments(airflow).values()) and len(assignments(airflow)) == len(TASKS),
            60,
            "every trigger assigned",
        )
        wait_until(
            lambda: emulator.stats()["requests"].get("gemini.batches.get", 0) >= len(TASKS), 60, "a poll of every job"
        )
        held = assignments(airflow)
        on_a = sum(1 for owner in held.values() if owner == a.job_id)
        frozen, other = (a, b) if on_a >= len(TASKS) - on_a else (b, a)

        # 2. Freeze X until Y holds every trigger, then thaw X (its copies are stale now).
        frozen.signal(signal.SIGSTOP)
        freeze_began = time.monotonic()
        try:
            wait_until(
                lambda: set(assignments(airflow).values()) == {other.job_id}, 90, f"every trigger on {other.name}"
            )
        finally:
            frozen.signal(signal.SIGCONT)
        moved_after_freeze = time.monotonic() - freeze_began
        polls = emulator.stats()["requests"].get("gemini.batches.get", 0)
        wait_until(lambda: emulator.stats()["requests"].get("gemini.batches.get", 0) > polls, 30, "polls on the other")

        # The thawed triggerer drops its stale copies; Airflow 3.3 runs their on_kill, which must not cancel
        # (the tasks are still deferred, watched by the other triggerer). Read the logs before step 3: the
        # frozen triggerer's trigger log files are rewritten when it takes the triggers back.
        def guard_lines() -> tuple[int, int]:
            text = airflow.logs_text(include_emulators=False)
            return text.count("invoking on_kill"), text.count("on_kill: not cancelling")

        deadline = time.monotonic() + 30
        stale_kills, guarded = guard_lines()
        while time.monotonic() < deadline and (stale_kills == 0 or guarded < stale_kills):
            time.sleep(1.0)
            stale_kills, guarded = guard_lines()
        assert emulator.stats()["cancels"] == {"gemini": 0, "vertex": 0}

        # 3. Kill Y; X takes every trigger back once Y's heartbeat is stale.
        other.signal(signal.SIGKILL)
        if other is a:
            other.process.kill()  # reap it
        kill_began = time.monotonic()
        wait_until(lambda: set(assignments(airflow).values()) == {frozen.job_id}, 90, f"every trigger on {frozen.name}")
        moved_after_kill = time.monotonic() - kill_began

        # 4. Finish the jobs; every task resumes and succeeds.
        for job in emulator.stats()["jobs"]:
            emulator.finish_job(job["name"], "SUCCEEDED")
        state = wait_until(
            lambda: (s := patiently(airflow.dag_run_state, HA_DAG_ID, run_id)) in ("success", "failed") and s,
            120,
            "the run's end",
            interval=1.0,
        )
        tis = {task: patiently(airflow.task_instance, HA_DAG_ID, run_id, task) for task in TASKS}
        yield HaRun(
            run_id=run_id,
            frozen=frozen.name,
            killed=other.name,
            moved_after_freeze_s=round(moved_after_freeze, 1),
            moved_after_kill_s=round(moved_after_kill, 1),
            stats=dict(emulator.stats()),
            states={task: ti.get("state") for task, ti in tis.items()} | {"__run__": state},
            tries={task: int(ti["try_number"]) for task, ti in tis.items()},
            stale_on_kill_calls=stale_kills,
            stale_on_kill_guarded=guarded,
            seconds=round(time.monotonic() - began, 1),
        )
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            b_process.kill()
        if not airflow.processes["triggerer"].alive():
            airflow.start_triggerer()  # leave the deployment with a triggerer for whoever comes next


def test_every_job_finishes_once_on_the_surviving_triggerer(ha_run: HaRun) -> None:
    print(
        f"\nHA triggerers: froze {ha_run.frozen} (triggers moved in {ha_run.moved_after_freeze_s} s), killed "
        f"{ha_run.killed} (moved back in {ha_run.moved_after_kill_s} s); jobs {ha_run.stats['jobs_created']}, "
        f"cancels {ha_run.stats['cancels']}, polls {ha_run.stats['requests'].get('gemini.batches.get')}, "
        f"stale copies' on_kill calls {ha_run.stale_on_kill_calls} (guarded {ha_run.stale_on_kill_guarded}), "
        f"tries {ha_run.tries}, {ha_run.seconds} s"
    )
    assert ha_run.states["__run__"] == "success", ha_run.states
    assert all(state == "success" for state in ha_run.states.values()), ha_run.states
    assert set(ha_run.tries.values()) == {1}, ha_run.tries  # no task failed: the triggers moved, twice
    assert ha_run.stats["jobs_created"] == len(TASKS)
    assert [job["state"] for job in ha_run.stats["jobs"]] == ["JOB_STATE_SUCCEEDED"] * len(TASKS)


def test_no_job_was_cancelled_by_a_stale_copy(ha_run: HaRun) -> None:
    assert ha_run.stats["cancels"] == {"gemini": 0, "vertex": 0}
    # Every on_kill that Airflow ran on a stale copy stopped at the provider's check of the task state.
    assert ha_run.stale_on_kill_guarded >= ha_run.stale_on_kill_calls
