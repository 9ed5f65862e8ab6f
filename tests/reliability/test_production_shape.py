"""The production shape with real Airflow: PostgreSQL, the CeleryExecutor (Redis broker), two Celery workers and
two triggerers, each its own process (``scripts/local_airflow.py``). One deployment serves the whole module.

1. 10 deferrable create tasks: both triggerers hold half of the triggers at once (the first has a capacity of 5,
   the second is frozen until the first is full); then the first is SIGKILLed, its triggers move to the other;
   every job is created once, none cancelled, every task succeeds.
2. A task's Celery worker is SIGKILLed (the whole worker: its pool and the task) while the create's answer is
   held by a proxy (the job exists, its name was never seen): the retry, on the other worker, reattaches.
3. Airflow 3.3: a deferred task's triggerer is frozen until the other triggerer took its trigger over (a stale
   copy), then the task is marked failed: the job is cancelled once; the stale copy cancels nothing.

Every test ends by checking that no process of the deployment is left once it stopped (the module's last test).
The command line on this shape (``up``, ``status``, ``run-dag``, ``restart``, a ``kill -9`` from outside) is proved by
``tests/e2e/test_cli_survives_a_killed_triggerer.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle, run_emulator
from scripts.local_airflow import LocalAirflow, ManagedProcess
from tests.e2e.support import AIRFLOW_3_3_PLUS, cancels, jobs_created, wait_until
from tests.reliability.holding_proxy import HoldingProxy

# The first test also waits for the deployment's start-up (40-50 s here).
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

API_KEY = "AIzaSyRELIABILITY-prod-" + "0123456789abcdef"
SPREAD = "rel_prod_spread"
WORKER_KILL = "rel_prod_worker_kill"
MARK_FAILED = "rel_prod_mark_failed"
SPREAD_TASKS = [f"job_{index}" for index in range(10)]  # production_dags: SPREAD_TASKS
CREATE_ROUTE = ("POST", r":batchGenerateContent$")
TIMINGS: dict[str, float] = {}
T = TypeVar("T")


@dataclass
class Production:
    airflow: LocalAirflow
    emulators: dict[str, EmulatorHandle]
    proxy: HoldingProxy


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    repo = Path(__file__).resolve().parents[2]
    with contextlib.ExitStack() as stack:
        emulators = {
            name: stack.enter_context(run_emulator(api_key=API_KEY, job_seconds=10.0, pending_seconds=1.0))
            for name in (SPREAD, WORKER_KILL, MARK_FAILED)
        }
        proxy = stack.enter_context(HoldingProxy(emulators[WORKER_KILL].base_url))
        hosts = {name: handle.base_url for name, handle in emulators.items()} | {WORKER_KILL: proxy.base_url}
        airflow = LocalAirflow(
            dags_folder=Path(__file__).parent / "production_dags",
            home=tmp_path_factory.mktemp("production-airflow-home"),
            connections={
                name: {"conn_type": "genai_batch", "host": host, "password": API_KEY} for name, host in hosts.items()
            },
            extra_env={
                "PYTHONPATH": os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH", "")) if p),
                "AIRFLOW__CORE__PARALLELISM": "48",
            },
            parse_interval=600,
            executor="celery",
            database="postgres",
            triggerers=2,
            workers=2,
            # ``triggerer`` takes at most half of the triggers; ``triggerer-2`` (default capacity) can take all.
            stop_grace=3.0,  # thrown away after the module: no need for a graceful exit
            component_env={"triggerer": {"AIRFLOW__TRIGGERER__CAPACITY": str(len(SPREAD_TASKS) // 2)}},
        )
        began = time.monotonic()
        stack.enter_context(airflow)
        TIMINGS["start-up"] = time.monotonic() - began
        print(f"\nproduction shape: start-up {TIMINGS['start-up']:.1f} s ({airflow.timings})")
        airflow.wait_for_dags([SPREAD, WORKER_KILL, MARK_FAILED], timeout=180)
        yield Production(airflow, emulators, proxy)
        airflow.stop()
        assert airflow.leftover_pids() == [], "processes of the deployment left after stop()"


def triggerer_of(airflow: LocalAirflow, dag_id: str) -> dict[str, str | None]:
    """``{task_id: triggerer process name}`` of the DAG's deferred tasks (``None``: not assigned yet)."""
    names = {job: name for name, job in airflow.triggerer_jobs().items()}
    rows = airflow.query(
        "SELECT ti.task_id AS task_id, t.triggerer_id AS owner FROM task_instance ti JOIN trigger t"
        " ON ti.trigger_id = t.id WHERE ti.dag_id = ?",
        (dag_id,),
    )
    return {row["task_id"]: names.get(row["owner"]) if row["owner"] is not None else None for row in rows}


def assert_nothing_left_but_components(airflow: LocalAirflow) -> None:
    """Every process carrying the deployment's marker belongs to one of its live components' groups."""
    groups = {proc.pid for proc in airflow.processes.values() if proc.alive()}
    strays = []
    for pid in airflow.leftover_pids():
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) not in groups:
                strays.append(pid)
    assert strays == [], f"processes outside the deployment's live components: {strays}"


def test_jobs_spread_over_two_triggerers_survive_a_triggerer_kill(production: Production) -> None:
    airflow, emulator = production.airflow, production.emulators[SPREAD]
    emulator.add_outcome(final_state="STUCK_PENDING", count=None)
    began = time.monotonic()
    # ``triggerer-2`` is frozen until ``triggerer`` is full (its capacity is half the tasks): then each holds half.
    second = airflow.processes["triggerer-2"]
    assert second.pid is not None
    os.killpg(second.pid, signal.SIGSTOP)
    try:
        run_id = airflow.trigger_dag(SPREAD)
        half = len(SPREAD_TASKS) // 2
        wait_until(
            lambda: list(triggerer_of(airflow, SPREAD).values()).count("triggerer") >= half,
            240,
            "the first triggerer full",
            interval=1.0,
        )
    finally:
        os.killpg(second.pid, signal.SIGCONT)

    owners = wait_until(
        lambda: (o := triggerer_of(airflow, SPREAD)) and len(o) == len(SPREAD_TASKS) and all(o.values()) and o,
        300,
        "every task deferred with its trigger assigned",
        interval=1.0,
    )
    TIMINGS["tasks deferred"] = time.monotonic() - began
    held = {name: sum(1 for owner in owners.values() if owner == name) for name in ("triggerer", "triggerer-2")}
    print(f"\nproduction shape: triggers per triggerer {held} after {TIMINGS['tasks deferred']:.1f} s")
    assert all(count > 0 for count in held.values()), held  # both held triggers at the same time
    wait_until(
        lambda: emulator.stats()["requests"].get("gemini.batches.get", 0) >= len(SPREAD_TASKS), 120, "a poll of each"
    )

    assert held == {"triggerer": half, "triggerer-2": half}, held
    victim, survivor = "triggerer", "triggerer-2"
    airflow.kill_triggerer(victim)
    killed_at = time.monotonic()
    wait_until(lambda: set(triggerer_of(airflow, SPREAD).values()) == {survivor}, 120, f"every trigger on {survivor}")
    TIMINGS["triggers moved after the kill"] = time.monotonic() - killed_at
    for job in emulator.stats()["jobs"]:
        emulator.finish_job(job["name"], "SUCCEEDED")
    state = airflow.wait_for_dag_run(SPREAD, run_id, timeout=300)
    TIMINGS["spread run"] = time.monotonic() - began

    stats = emulator.stats()
    print(
        f"production shape: killed {victim} holding {held[victim]} triggers; moved in "
        f"{TIMINGS['triggers moved after the kill']:.1f} s; jobs {jobs_created(stats)}, cancels {cancels(stats)}, "
        f"run {state} in {TIMINGS['spread run']:.1f} s"
    )
    assert state == "success"
    assert jobs_created(stats) == len(SPREAD_TASKS)
    assert cancels(stats) == 0
    assert [job["state"] for job in stats["jobs"]] == ["JOB_STATE_SUCCEEDED"] * len(SPREAD_TASKS)
    tries = {task: int(airflow.task_instance(SPREAD, run_id, task)["try_number"]) for task in SPREAD_TASKS}
    assert set(tries.values()) == {1}, tries  # no task failed: the triggers moved
    airflow.start_triggerer(name=victim)  # the next tests want two triggerers again
    assert_nothing_left_but_components(airflow)


def _worker_running(airflow: LocalAirflow, ti_id: str) -> tuple[str, list[int]]:
    """The Celery worker whose process group runs task instance ``ti_id``, and the pids that mention it."""
    workers = {proc.pid: name for name, proc in airflow.processes.items() if name.startswith("worker-")}
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if ti_id in (entry / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(entry.name))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            if (group := os.getpgid(pid)) in workers:
                return workers[group], pids
    raise AssertionError(f"no Celery worker runs {ti_id} (pids {pids})")


def test_a_killed_workers_retry_reattaches_on_the_other_worker(production: Production) -> None:
    airflow, emulator, proxy = production.airflow, production.emulators[WORKER_KILL], production.proxy
    emulator.add_outcome(final_state="SUCCEEDED", count=None)
    proxy.hold_answer(*CREATE_ROUTE)
    began = time.monotonic()
    run_id = airflow.trigger_dag(WORKER_KILL)
    assert proxy.held.wait(180), "the create never reached the emulator"
    ti_id = str(airflow.task_instance(WORKER_KILL, run_id, "job")["id"])
    worker, pids = wait_until(lambda: _worker_running(airflow, ti_id), 30, "the task's worker")
    process: ManagedProcess = airflow.processes[worker]
    assert process.kill(), f"{worker}'s group survived SIGKILL"
    for pid in pids:  # a machine that dies takes every process with it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert jobs_created(emulator.stats()) == 1  # the create was applied; its name never reached the task

    state = airflow.wait_for_dag_run(WORKER_KILL, run_id, timeout=240)
    TIMINGS["worker kill run"] = time.monotonic() - began
    ti = airflow.task_instance(WORKER_KILL, run_id, "job")
    stats = emulator.stats()
    print(
        f"\nproduction shape: killed {worker} during the create; run {state}, try {ti['try_number']}, "
        f"jobs {jobs_created(stats)}, in {TIMINGS['worker kill run']:.1f} s"
    )
    assert state == "success"
    assert int(ti["try_number"]) >= 2  # the killed try failed (heartbeat timeout); a retry finished the job
    assert jobs_created(stats) == 1, stats  # the retry reattached to the job the killed try created
    assert cancels(stats) == 0
    airflow.start_component(worker)  # for whoever comes next
    assert_nothing_left_but_components(airflow)


@pytest.mark.skipif(not AIRFLOW_3_3_PLUS, reason="on_kill of a deferred trigger is Airflow 3.3+")
def test_mark_failed_cancels_once_and_a_stale_copy_cancels_nothing(production: Production) -> None:
    airflow, emulator = production.airflow, production.emulators[MARK_FAILED]
    emulator.add_outcome(final_state="STUCK_PENDING", count=None)
    began = time.monotonic()
    run_id = airflow.trigger_dag(MARK_FAILED)
    owner = wait_until(lambda: triggerer_of(airflow, MARK_FAILED).get("job"), 180, "the task's trigger assigned")
    wait_until(lambda: emulator.stats()["requests"].get("gemini.batches.get", 0) >= 1, 60, "a poll")
    other = next(name for name in ("triggerer", "triggerer-2") if name != owner)

    # A stale copy: freeze the owner until the other triggerer took the trigger over, then thaw it.
    frozen = airflow.processes[owner]
    assert frozen.pid is not None
    os.killpg(frozen.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: triggerer_of(airflow, MARK_FAILED).get("job") == other, 90, f"the trigger on {other}")
    finally:
        os.killpg(frozen.pid, signal.SIGCONT)
    polls = emulator.stats()["requests"].get("gemini.batches.get", 0)
    wait_until(lambda: emulator.stats()["requests"].get("gemini.batches.get", 0) > polls, 30, "a poll by the other")

    airflow.mark_task_failed(MARK_FAILED, run_id, "job")
    wait_until(lambda: cancels(emulator.stats()) >= 1, 60, "the job's cancel")
    time.sleep(5.0)  # room for a stray second cancel (the stale copy's on_kill) to arrive
    stats = emulator.stats()
    TIMINGS["mark failed run"] = time.monotonic() - began
    print(
        f"\nproduction shape: froze {owner} (stale copy), marked failed; cancels {cancels(stats)}, "
        f"jobs {jobs_created(stats)}, in {TIMINGS['mark failed run']:.1f} s"
    )
    assert cancels(stats) == 1, stats
    assert jobs_created(stats) == 1
    assert airflow.task_state(MARK_FAILED, run_id, "job") == "failed"
    assert_nothing_left_but_components(airflow)
