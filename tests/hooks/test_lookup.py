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


def test_the_first_reattachable_job_ends_the_scan() -> None:
    jobs = [
        job("batches/new-failed", state="JOB_STATE_FAILED", minutes_ago=1),
        job("batches/middle", state="JOB_STATE_RUNNING", minutes_ago=5),
        job("batches/old", state="JOB_STATE_SUCCEEDED", minutes_ago=50),
    ]
    found = find_keyed_job(jobs, KEY)
    assert found is not None and found.name == "batches/middle"


def test_vertex_label_is_enough() -> None:
    vertex_job = BatchJob.model_validate(
        {"name": "projects/p/locations/l/batchPredictionJobs/1", "labels": {VERTEX_KEY_LABEL: KEY}}
    )
    assert find_keyed_job([vertex_job], KEY) is vertex_job


def test_scan_stops_after_enough_old_jobs() -> None:
    seen: list[str] = []

    def jobs() -> Any:
        for index in range(1000):
            seen.append(str(index))
            yield job(f"batches/{index}", key=OTHER, minutes_ago=10 * index)

    cutoff = NOW - dt.timedelta(minutes=100)
    assert find_keyed_job(jobs(), KEY, created_after=cutoff, stop_after_old=5) is None
    assert len(seen) == 11 + 5  # jobs 0..10 are recent (10 is exactly at the cutoff), then 5 old in a row


def test_a_slightly_out_of_order_list_is_tolerated() -> None:
    cutoff = NOW - dt.timedelta(minutes=30)
    jobs = [job("batches/old", key=OTHER, minutes_ago=60), job("batches/mine", minutes_ago=5)]
    found = find_keyed_job(jobs, KEY, created_after=cutoff, stop_after_old=3)
    assert found is not None and found.name == "batches/mine"


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


def test_an_oldest_first_list_is_read_to_its_end() -> None:
    seen: list[str] = []

    def jobs() -> Any:  # 300 old jobs first (oldest first), then the keyed one
        for index in range(300):
            seen.append(str(index))
            yield job(f"batches/{index}", key=OTHER, minutes_ago=1000 - index)
        yield job("batches/mine", minutes_ago=1)

    cutoff = NOW - dt.timedelta(minutes=100)
    found = find_keyed_job(jobs(), KEY, created_after=cutoff, stop_after_old=5)
    assert found is not None and found.name == "batches/mine"
    assert len(seen) == 300


def test_one_step_out_of_newest_first_order_disables_the_early_stop() -> None:
    cutoff = NOW - dt.timedelta(minutes=30)
    old = [job(f"batches/old{i}", key=OTHER, minutes_ago=60 + i) for i in range(10)]
    jobs = [job("batches/recent", key=OTHER, minutes_ago=5), old[0], job("batches/newer", key=OTHER, minutes_ago=2)]
    scan = KeyedJobScan(KEY, created_after=cutoff, stop_after_old=3)
    for item in [*jobs, *old[1:]]:
        assert scan.feed(item)
    assert not scan.newest_first and not scan.stopped_early


def test_jobs_without_a_creation_time_disable_the_early_stop() -> None:
    cutoff = NOW - dt.timedelta(minutes=30)
    undated = BatchJob.model_validate({"name": "batches/undated", "displayName": "x", "state": "JOB_STATE_RUNNING"})
    scan = KeyedJobScan(KEY, created_after=cutoff, stop_after_old=2)
    feeds = [scan.feed(undated), *(scan.feed(job(f"batches/{i}", key=OTHER, minutes_ago=60 + i)) for i in range(5))]
    assert all(feeds) and not scan.stopped_early


def test_the_operators_default_budget_is_the_scans() -> None:
    import inspect

    from airflow_provider_genai_batch.hooks.lookup import DEFAULT_MAX_SCANNED
    from airflow_provider_genai_batch.operators.create import GenAIBatchCreateJobOperator

    default = inspect.signature(GenAIBatchCreateJobOperator.__init__).parameters["lookup_max_jobs"].default
    assert default == DEFAULT_MAX_SCANNED
