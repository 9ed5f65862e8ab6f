"""High availability from outside the test suite: ``scripts/local_airflow.py up`` in the production shape
(PostgreSQL, CeleryExecutor, two workers, two triggerers), driven as a user drives it.

``kill -9`` of the triggerer holding every trigger of a running DAG leaves the deployment up; ``status`` shows that
triggerer dead (exit 3); the run (``run-dag``) finishes on the other triggerer with one emulator job per task and
every task in its first try, while a run that fails makes ``run-dag`` exit 1; ``restart triggerer`` brings it back;
SIGTERM to ``up`` then ends every process it started.

The second triggerer is frozen (SIGSTOP) while the run's tasks defer, so that the first one holds every trigger
when it is killed; it is thawed before the kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from tests.e2e.support import REPO_ROOT, cancels, jobs_created, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.e2e_own_deployment, pytest.mark.timeout(600)]

SCRIPT = REPO_ROOT / "scripts" / "local_airflow.py"
DAGS = Path(__file__).parent / "dags_cli"
DAG_ID = "e2e_cli_ha"
TASKS = [f"job_{index}" for index in range(3)]  # dags_cli/e2e_cli_ha.py
DEGRADED = 3  # ``status``'s exit code when a component is dead


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the CLI as a person runs it
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def status(home: Path) -> tuple[int, dict[str, Any]]:
    done = cli("status", "--home", str(home))
    assert done.returncode in (0, 1, DEGRADED), done.stderr
    return done.returncode, json.loads(done.stdout)


def by_name(shown: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {component["name"]: component for component in shown["components"]}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def trigger_jobs(home: Path, run_id: str) -> dict[str, set[int]]:
    """``{task: ids of the triggerer jobs that ran its trigger}``, from the trigger logs Airflow writes beside each
    task's log (``attempt=1.log.trigger.<triggerer job id>.log``)."""
    jobs: dict[str, set[int]] = {}
    for task in TASKS:
        folder = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task}"
        jobs[task] = {int(path.name.split(".")[-2]) for path in folder.glob("attempt=1.log.trigger.*.log")}
    return jobs


def every_trigger_ran(home: Path, run_id: str, besides: int | None = None) -> dict[str, set[int]] | None:
    """``trigger_jobs`` once every task's trigger ran on a triggerer job other than ``besides``."""
    jobs = trigger_jobs(home, run_id)
    return jobs if all(ids - {besides} for ids in jobs.values()) else None


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """``up --executor celery --database postgres --triggerers 2`` running, with its home and its output file."""
    home, output = tmp_path / "home", tmp_path / "up.log"
    argv = [sys.executable, str(SCRIPT), "up", "--dags", str(DAGS), "--home", str(home)]
    argv += ["--executor", "celery", "--database", "postgres", "--triggerers", "2"]
    with output.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "Ready in" in output.read_text() or process.poll() is not None, 300, "`up` ready")
        assert process.poll() is None, output.read_text()
        yield process, home, output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


def test_a_killed_triggerer_leaves_up_running_and_the_run_finishes_on_the_other(
    up: tuple[subprocess.Popen[bytes], Path, Path],
) -> None:
    process, home, output = up
    code, shown = status(home)
    assert code == 0, shown
    components = by_name(shown)
    assert {"triggerer", "triggerer-2", "worker-1", "worker-2", "postgres", "redis"} <= set(components), components
    assert shown["executor"] == "celery" and shown["dead"] == []
    assert shown["database_url"].startswith("postgresql+psycopg2://airflow:***@127.0.0.1:"), shown  # no password
    assert shown["health"]["triggerer"] == "healthy"
    emulator = EmulatorClient(shown["emulator_urls"]["default"])
    emulator.add_outcome("STUCK_PENDING", count=None)  # every job waits until the test ends it

    # Freeze triggerer-2 while the tasks defer: ``triggerer`` takes every trigger.
    second = int(components["triggerer-2"]["pid"])
    os.killpg(second, signal.SIGSTOP)
    try:
        run = subprocess.Popen(
            [sys.executable, str(SCRIPT), "run-dag", DAG_ID, "--home", str(home), "--timeout", "300"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert run.stdout is not None
        first = ""
        while not first.startswith(f"{DAG_ID}: run ") and run.poll() is None:
            first = run.stdout.readline()  # "e2e_cli_ha: run <run id> triggered"
        assert first.endswith(" triggered\n"), first + run.communicate(timeout=60)[0]
        run_id = first.split()[2]
        before = wait_until(lambda: every_trigger_ran(home, run_id), 180, "every trigger up")
    finally:
        os.killpg(second, signal.SIGCONT)
    [first_job] = set().union(*before.values())  # one triggerer (``triggerer``: the other was frozen) runs them all
    assert jobs_created(emulator.stats()) == len(TASKS)

    victim = int(components["triggerer"]["pid"])
    os.kill(victim, signal.SIGKILL)  # kill -9, from outside

    # ``status`` sees the death by PID at once (``exit_code`` None) and the exit code once ``up`` has recorded it
    def death_recorded() -> tuple[int, dict[str, Any]] | None:
        seen = status(home)
        recorded = seen[0] == DEGRADED and by_name(seen[1])["triggerer"].get("exit_code") is not None
        return seen if recorded else None

    code, shown = wait_until(death_recorded, 30, "`status` reporting the dead triggerer and its exit code")
    assert shown["running"] and shown["dead"] == ["triggerer"], shown
    dead = by_name(shown)["triggerer"]
    assert dead["pid"] == victim and not dead["alive"] and dead["exit_code"] == -signal.SIGKILL, dead
    assert by_name(shown)["triggerer-2"]["alive"]
    assert process.poll() is None, output.read_text()  # `up` runs on
    assert f"triggerer (pid {victim}) died with exit code -9" in output.read_text()

    # Meanwhile, on the degraded deployment, a run that fails: ``run-dag`` exits 1.
    failing = subprocess.Popen(
        [sys.executable, str(SCRIPT), "run-dag", "e2e_cli_fails", "--home", str(home), "--conf", '{"note": "fails"}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    # The other triggerer takes the triggers over once the dead one's heartbeat is stale; then the jobs end.
    moved = wait_until(lambda: every_trigger_ran(home, run_id, besides=first_job), 120, "the triggers moved")
    assert len(set().union(*moved.values()) - {first_job}) == 1, moved  # the one live triggerer: triggerer-2
    for job in emulator.stats()["jobs"]:
        emulator.finish_job(job["name"], "SUCCEEDED")
    ran, _ = run.communicate(timeout=240)
    failed, _ = failing.communicate(timeout=240)
    assert failing.returncode == 1, failed
    assert "  fails: failed (try 1)" in failed
    assert run.returncode == 0, first + ran
    for task in TASKS:
        assert f"  {task}: success (try 1)" in ran, ran  # no task failed and retried: the triggers moved
    stats = emulator.stats()
    assert jobs_created(stats) == len(TASKS), stats  # one job per task
    assert cancels(stats) == 0
    emulator.close()

    restarted = cli("restart", "triggerer", "--home", str(home))
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    code, shown = status(home)
    assert code == 0 and shown["dead"] == [], shown
    assert by_name(shown)["triggerer"]["pid"] != victim
    refused = cli("restart", "postgres", "--home", str(home))
    assert refused.returncode == 2 and "no restartable component 'postgres'" in refused.stderr, refused.stderr

    pids = [int(component["pid"]) for component in shown["components"]]
    process.send_signal(signal.SIGTERM)
    assert process.wait(90) == 0, output.read_text()[-3000:]
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), 30, "every component gone")
    assert not (home / "local-airflow.json").exists()  # `status` now says nothing runs there
