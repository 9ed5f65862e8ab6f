"""Boundary: another run of the same DAG. A cleared run finds its own job whatever the list order, and never
takes another run's (or another input's) job for its own.

Threat model actor: another run of the same DAG (a cleared or re-triggered run, a run whose input changed).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from tests.conftest import set_clock_offset

HOUR = 3600.0


def test_cleared_run_reattaches_when_the_list_is_unfinished_first(
    run_dag: Any, emulator: EmulatorHandle, runs_start_now: None
) -> None:
    """Issue 20: a list ordered unfinished-first, then finished (each newest-first) made the look-up stop after
    100 older unfinished jobs, and the cleared run created a second job. The Gemini list documents no order, so
    the look-up reads it to its end."""
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    task = {
        "class": "GenAIBatchCreateJobOperator",
        "task_id": "create",
        "model": "gemini-2.5-flash",
        "src": ["a question"],
        "poll_interval": 0.1,
        "min_poll_interval": 0.1,
    }
    dag = {"dag_id": "boundary_unfinished_first", "tasks": [task], "retries": 0}
    run_after = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=4, minutes=5)
    try:
        set_clock_offset(emulator, -7 * HOUR)  # 150 jobs of other DAGs, 2 h before the run, still unfinished
        emulator.add_outcome("STUCK_PENDING", match_display_name="other-", count=None)
        hook = GenAIBatchHook()
        for index in range(150):
            hook.create_job(model="gemini-2.5-flash", src=[f"other {index}"], config={"display_name": f"other-{index}"})
        set_clock_offset(emulator, -4 * HOUR)  # the run, 4 h ago
        first = run_dag(dag, logical_date=run_after)
        assert first.state == "success", first.output[-3000:]
        set_clock_offset(emulator, 0.0)  # cleared now
        emulator.configure(gemini_list_order="unfinished_first")
        second = run_dag(dag, logical_date=run_after)
    finally:
        set_clock_offset(emulator, 0.0)
    assert second.state == "success", second.output[-3000:]
    assert emulator.stats()["jobs_created"] == 151
    assert second.value("create")["reattached"] is True
    assert second.value("create")["job_name"] == first.value("create")["job_name"]


GENERATOR_DAG = '''# An airflow DAG whose src is a one-pass iterable (Airflow's safe mode needs both words).
import datetime as dt

from airflow.sdk import DAG

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator

PROMPTS = {prompts!r}


class Prompts:
    """Requests read once, as from a database cursor."""

    def __iter__(self):
        yield from PROMPTS


with DAG("{dag_id}", schedule=None, start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)) as dag:
    GenAIBatchCreateJobOperator(
        task_id="create", model="gemini-2.5-flash", src=Prompts(), poll_interval=0.1, min_poll_interval=0.1
    )
'''


def test_a_cleared_run_whose_generator_yields_other_requests_gets_a_new_job(
    run_dag_file: Any, emulator: EmulatorHandle
) -> None:
    """Issue 20: a streamed ``src`` was keyed by its type, so a cleared run whose generator now yielded other
    requests reattached to the old job and returned stale answers. The stream is hashed while it is spooled,
    before the key is computed."""
    emulator.configure(job_seconds=0.2, pending_seconds=0.1)
    same_run = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
    dag_id = "boundary_generator_src"
    runs = {}
    for prompts in (["first question"], ["second question"], ["second question"]):
        source = GENERATOR_DAG.format(prompts=prompts, dag_id=dag_id)
        result = run_dag_file(dag_id, source, logical_date=same_run, run_after=same_run)
        assert result.state == "success", result.output[-3000:]
        runs.setdefault(prompts[0], []).append(result.value("create"))
    (first,) = runs["first question"]
    changed, unchanged = runs["second question"]
    assert changed["reattached"] is False and changed["job_name"] != first["job_name"]
    assert unchanged["reattached"] is True and unchanged["job_name"] == changed["job_name"]
    assert emulator.stats()["jobs_created"] == 2
