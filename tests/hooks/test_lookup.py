"""The scan that finds an earlier try's job by its idempotency key (real BatchJob objects)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_genai_batch.client.models import BatchJob
from airflow_provider_genai_batch.hooks.lookup import (
    KeyedJobScan,
    KeyLookupIncompleteError,
    find_keyed_job,
    is_reattachable,
)
from airflow_provider_genai_batch.policy.idempotency import VERTEX_KEY_LABEL

KEY = "0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba98"
NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


def job(
    name: str, *, key: str | None = KEY, state: str = "JOB_STATE_RUNNING", minutes_ago: float = 1, **kw: Any
) -> BatchJob:
    display = f"task--gbk-{key}" if key else "someone else's job"
    return BatchJob.model_validate(
        {
            "name": name,
            "displayName": display,
            "state": state,
            "createTime": (NOW - dt.timedelta(minutes=minutes_ago)).isoformat(),
            **kw,
        }
    )


@pytest.mark.parametrize(
    ("state", "reattachable"),
    [
        ("JOB_STATE_PENDING", True),
        ("JOB_STATE_QUEUED", True),
        ("JOB_STATE_RUNNING", True),
        ("JOB_STATE_SUCCEEDED", True),
        ("JOB_STATE_PARTIALLY_SUCCEEDED", True),
        ("JOB_STATE_UNSPECIFIED", True),
        ("JOB_STATE_FAILED", False),
        ("JOB_STATE_CANCELLED", False),
        ("JOB_STATE_CANCELLING", False),
        ("JOB_STATE_EXPIRED", False),
    ],
)
def test_reattachable_states(state: str, reattachable: bool) -> None:
    assert is_reattachable(job("batches/a", state=state)) is reattachable


def test_finds_the_keyed_job_among_others() -> None:
    jobs = [job("batches/x", key=OTHER), job("batches/a"), job("batches/y", key=None)]
    found = find_keyed_job(jobs, KEY)
    assert found is not None and found.name == "batches/a"


def test_failed_jobs_are_not_reattached() -> None:
    jobs = [job("batches/a", state="JOB_STATE_FAILED"), job("batches/b", state="JOB_STATE_EXPIRED")]
    assert find_keyed_job(jobs, KEY) is None


def test_failed_and_cancelled_jobs_are_skipped_and_the_earliest_candidate_is_chosen() -> None:
    jobs = [
        job("batches/new-failed", state="JOB_STATE_FAILED", minutes_ago=1),
        job("batches/middle", state="JOB_STATE_RUNNING", minutes_ago=5),
        job("batches/old", state="JOB_STATE_SUCCEEDED", minutes_ago=50),
    ]
    found = find_keyed_job(jobs, KEY)
    assert found is not None and found.name == "batches/old"
    newest = find_keyed_job(jobs, KEY, prefer="newest")
    assert newest is not None and newest.name == "batches/middle"


def test_the_survivor_of_duplicates_is_the_same_in_any_list_order() -> None:
    """Overlapping tries may create two jobs of one key: every reader picks the same one (earliest, then name)."""
    same_time = [job("batches/b", minutes_ago=3), job("batches/a", minutes_ago=3), job("batches/c", minutes_ago=2)]
    for order in (same_time, list(reversed(same_time))):
        scan = KeyedJobScan(KEY)
        assert all(scan.feed(item) for item in order)
        assert scan.best is not None and scan.best.name == "batches/a"
        assert sorted(j.name for j in scan.duplicates) == ["batches/b", "batches/c"]


def test_jobs_created_before_not_before_are_not_candidates() -> None:
    jobs = [job("batches/before", minutes_ago=60), job("batches/after", minutes_ago=5)]
    found = find_keyed_job(jobs, KEY, not_before=NOW - dt.timedelta(minutes=30))
    assert found is not None and found.name == "batches/after"
    assert find_keyed_job(jobs[:1], KEY, not_before=NOW - dt.timedelta(minutes=30)) is None


def test_any_of_several_keys_matches() -> None:
    jobs = [job("batches/x", key=OTHER), job("batches/y", key=None)]
    found = find_keyed_job(jobs, [KEY, OTHER])
    assert found is not None and found.name == "batches/x"


def test_vertex_label_is_enough() -> None:
    vertex_job = BatchJob.model_validate(
        {"name": "projects/p/locations/l/batchPredictionJobs/1", "labels": {VERTEX_KEY_LABEL: KEY}}
    )
    assert find_keyed_job([vertex_job], KEY) is vertex_job


def test_no_early_stop_on_dates_however_many_old_jobs_come_first() -> None:
    seen: list[str] = []

    def jobs() -> Any:  # 300 old jobs first (newest-first), then the keyed one
        for index in range(300):
            seen.append(str(index))
            yield job(f"batches/{index}", key=OTHER, minutes_ago=1000 + index)
        yield job("batches/mine", minutes_ago=1)

    found = find_keyed_job(jobs(), KEY, not_before=NOW - dt.timedelta(minutes=100))
    assert found is not None and found.name == "batches/mine"
    assert len(seen) == 300


def test_max_scanned_bounds_the_cost_and_leaves_the_scan_incomplete() -> None:
    scan = KeyedJobScan(KEY, max_scanned=3)
    results = [scan.feed(job(f"batches/{i}", key=OTHER)) for i in range(3)]
    assert results == [True, True, False]
    assert not scan.complete
    with pytest.raises(KeyLookupIncompleteError, match="read 3 jobs") as raised:
        scan.raise_if_incomplete()
    assert raised.value.key == KEY
    assert "on_incomplete_lookup='create'" in str(raised.value)


def test_a_list_read_to_its_end_is_complete() -> None:
    assert find_keyed_job([job(f"batches/{i}", key=OTHER) for i in range(3)], KEY, max_scanned=4) is None


def test_a_found_job_is_complete_even_at_the_budget() -> None:
    jobs = [job("batches/x", key=OTHER), job("batches/a")]
    found = find_keyed_job(jobs, KEY, max_scanned=2)
    assert found is not None and found.name == "batches/a"


def test_the_operators_default_budget_is_the_scans() -> None:
    import inspect

    from airflow_provider_genai_batch.hooks.lookup import DEFAULT_MAX_SCANNED
    from airflow_provider_genai_batch.operators.create import GenAIBatchCreateJobOperator

    default = inspect.signature(GenAIBatchCreateJobOperator.__init__).parameters["lookup_max_jobs"].default
    assert default == DEFAULT_MAX_SCANNED


def test_an_unfinished_first_list_is_not_cut_short_by_old_unfinished_jobs() -> None:
    """Issue 20: a list ordered unfinished-first, then finished (each newest-first), stopped the scan after 100
    older unfinished jobs; the cleared run's finished job, listed after them, was never reached."""
    cutoff = NOW - dt.timedelta(minutes=30)
    unfinished = [job(f"batches/old-running-{i}", key=OTHER, minutes_ago=120 + i) for i in range(150)]
    finished = [job("batches/mine", state="JOB_STATE_SUCCEEDED", minutes_ago=10)]
    found = find_keyed_job([*unfinished, *finished], KEY, not_before=cutoff)
    assert found is not None and found.name == "batches/mine"
