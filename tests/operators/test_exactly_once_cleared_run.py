"""A cleared and re-run DAG run reattaches to its Gemini job, whatever happened in the project meanwhile.

The core of ``tests/reliability/test_round2_exactly_once.py``'s cleared-run case, kept here so that it also runs
on the lowest supported Airflow (``make test-lowest``), where no task state store exists and the remote look-up
is the only guard. Running ``dag.test()`` again with the same logical date and ``run_after`` re-creates the run
with the same run id; the ``runs_start_now`` fixture gives each run the ``start_date`` a scheduler gives a cleared
run (the moment it runs), where ``dag.test()`` would use the logical date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

HOUR = 3600.0


@pytest.fixture
def aged_emulator(emulator: EmulatorHandle) -> Iterator[EmulatorHandle]:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    yield emulator
    set_clock_offset(emulator, 0.0)


@pytest.fixture
def runs_start_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """``dag.test()`` runs start now, as a cleared run does under the scheduler."""
    from airflow.models import dagrun

    original = dagrun.get_or_create_dagrun

    def starting_now(**kwargs: Any) -> Any:
        return original(**{**kwargs, "start_date": dt.datetime.now(dt.UTC)})

    monkeypatch.setattr(dagrun, "get_or_create_dagrun", starting_now)


def set_clock_offset(emulator: EmulatorHandle, seconds: float) -> None:
    """Run the emulator's clock ``seconds`` from the real one (negative: jobs created now look older)."""
    store = emulator.app.store
    with store.lock:
        store.clock_offset = seconds


@pytest.mark.parametrize("list_order", ["newest_first", "oldest_first"])
def test_cleared_run_reattaches_after_25_other_jobs(
    run_dag: Any, aged_emulator: EmulatorHandle, runs_start_now: None, list_order: str
) -> None:
    aged_emulator.configure(gemini_list_order=list_order)
    task = {
        "class": "GenAIBatchCreateJobOperator",
        "task_id": "create",
        "model": "gemini-2.5-flash",
        "src": ["a question"],
        "poll_interval": 0.1,
        "min_poll_interval": 0.1,
    }
    dag = {"dag_id": f"cleared_core_{list_order}", "tasks": [task], "retries": 0}
    run_after = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=5)
    set_clock_offset(aged_emulator, -4 * HOUR)  # the first run and 25 other jobs happened 4 h ago
    first = run_dag(dag, logical_date=run_after)
    assert first.state == "success", first.output[-3000:]
    hook = GenAIBatchHook()
    for index in range(25):
        hook.create_job(model="gemini-2.5-flash", src=[f"other {index}"], config={"display_name": f"other-{index}"})
    set_clock_offset(aged_emulator, 0.0)  # the re-run starts now, 4 h after all of them
    second = run_dag(dag, logical_date=run_after)
    assert second.state == "success", second.output[-3000:]
    assert aged_emulator.stats()["jobs_created"] == 26
    assert second.value("create")["reattached"] is True
    assert second.value("create")["job_name"] == first.value("create")["job_name"]
    # The reattached job is read again, not taken from the sparse list (no results location, stale counts there).
    for field in ("results", "request_counts", "state"):
        assert second.value("create")[field] == first.value("create")[field], field
