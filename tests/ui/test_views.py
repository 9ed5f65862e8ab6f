"""The rows the pages show, from real models: progress, next poll from the shared policy, summary counts;
and the TTL cache that keeps page refreshes from multiplying API reads."""

from __future__ import annotations

import asyncio
import datetime as dt

from airflow_provider_genai_batch.client.models import BatchJob
from airflow_provider_genai_batch.policy.polling import PollingSchedule
from airflow_provider_genai_batch.policy.wait_settings import WaitSettings
from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger
from airflow_provider_genai_batch.ui.records import JobRecord, apply_trigger_kwargs, env_connection_ids
from airflow_provider_genai_batch.ui.service import TTLCache
from airflow_provider_genai_batch.ui.views import job_row, summary, unverified_row

NOW = 1_800_000_000.0


def running_job() -> BatchJob:
    return BatchJob.model_validate(
        {
            "name": "batches/abc",
            "state": "JOB_STATE_RUNNING",
            "display_name": "t--gbk-0123456789abcdef01234567",
            "create_time": dt.datetime.fromtimestamp(NOW - 90, dt.UTC),
            "batch_stats": {"request_count": 4, "successful_request_count": 1, "failed_request_count": 1},
        }
    )


def deferred_record(**extra: object) -> JobRecord:
    fields: dict[str, object] = {
        "ti_state": "deferred",
        "started_at": NOW - 100,
        "wait": WaitSettings(poll_interval=30.0, min_poll_interval=5.0),
    }
    fields.update(extra)
    return JobRecord("d", "r", "t", -1, job_name="batches/abc", **fields)  # type: ignore[arg-type]


def test_row_of_a_running_deferred_job() -> None:
    row = job_row(deferred_record(), running_job(), now=NOW)
    assert row["state"] == "RUNNING"
    assert row["progress"] == {"total": 4, "succeeded": 1, "failed": 1, "pending": 2, "done_ratio": 0.5}
    assert row["idempotency_key"] == "0123456789abcdef01234567"
    assert row["elapsed_seconds"] == 90.0
    interval = PollingSchedule(min_interval=5.0, max_interval=30.0).interval(100.0)  # 5 s at 100 s elapsed
    assert row["next_poll_seconds"] == round(interval - (100.0 % interval), 1)
    assert 0 < row["next_poll_seconds"] <= interval
    assert row["owner"] == {
        "dag_id": "d",
        "run_id": "r",
        "task_id": "t",
        "map_index": -1,
        "task_state": "deferred",
        "recorded_at": None,
    }


def test_an_armed_wait_shows_the_fallback_poll_not_the_adaptive_one() -> None:
    """With a webhook receiver armed the trigger polls every ``webhook_fallback_interval`` (30 min by default): the
    page says so, instead of the adaptive schedule's 5 s."""
    row = job_row(deferred_record(webhook_armed=True), running_job(), now=NOW)
    assert row["next_poll_seconds"] == 1800.0 - 100.0
    assert row["webhook_armed"] is True
    assert job_row(deferred_record(), running_job(), now=NOW)["webhook_armed"] is False


def test_the_record_reads_the_wait_from_the_triggers_own_kwargs() -> None:
    """The page's next poll comes from the settings the trigger runs on, as the trigger serialized them."""
    trigger = GenAIBatchJobTrigger(
        genai_batch_conn_id="genai_batch_other",
        job_name="batches/abc",
        deadline=NOW + 7200,
        started_at=NOW - 100,
        poll_interval=120.0,
        webhook_fallback_interval=900.0,
        webhook_armed=True,
    )
    record = JobRecord("d", "r", "t", -1, job_name="batches/abc", ti_state="deferred")
    apply_trigger_kwargs(record, trigger.serialize()[1])
    assert record.wait == trigger.wait and record.webhook_armed is True
    assert (record.started_at, record.deadline, record.conn_id) == (NOW - 100, NOW + 7200, "genai_batch_other")
    assert job_row(record, running_job(), now=NOW)["next_poll_seconds"] == 800.0

    other_job = JobRecord("d", "r", "t", -1, job_name="batches/other")
    apply_trigger_kwargs(other_job, trigger.serialize()[1])  # a trigger waiting on another job says nothing
    assert other_job.wait is None and other_job.started_at is None

    hostile = JobRecord("d", "r", "t", -1, job_name="batches/abc")
    apply_trigger_kwargs(hostile, {**trigger.serialize()[1], "poll_interval": "soon", "webhook_armed": "yes"})
    assert hostile.wait is None and hostile.webhook_armed is False


def test_the_next_poll_is_never_after_the_deadline() -> None:
    """A wait polls at its deadline whatever its schedule (armed or not)."""
    row = job_row(deferred_record(webhook_armed=True, deadline=NOW + 60), running_job(), now=NOW)
    assert row["next_poll_seconds"] == 60.0
    assert job_row(deferred_record(deadline=NOW - 5), running_job(), now=NOW)["next_poll_seconds"] == 0.0


def test_no_next_poll_when_nothing_polls() -> None:
    assert job_row(deferred_record(ti_state="success"), running_job(), now=NOW)["next_poll_seconds"] is None
    assert job_row(None, running_job(), now=NOW)["next_poll_seconds"] is None
    # trigger kwargs that are not valid wait settings (written by a task: a DAG's editor controls them)
    assert job_row(deferred_record(wait=None), running_job(), now=NOW)["next_poll_seconds"] is None


def test_a_record_whose_job_is_not_verified_shows_nothing_of_the_job_or_the_manifest() -> None:
    manifest = {
        "job_name": "batches/abc",
        "state": "JOB_STATE_EXPIRED",
        "request_counts": {"total": 2, "succeeded": 0, "failed": 0, "pending": 2},
        "idempotency_key": "k" * 24,
        "console_url": "javascript:alert(1)",
        "results": {"kind": "none"},
    }
    row = unverified_row(deferred_record(manifest=manifest), reason="no proof", error="HTTPError: 503")
    assert (row["state"], row["verified"], row["read_error"]) == ("UNVERIFIED", False, "HTTPError: 503")
    assert row["progress"] == {} and row["idempotency_key"] is None and row["console_url"] is None
    assert "javascript" not in str(row) and row["owner"]["dag_id"] == "d"


def test_console_url_is_rebuilt_from_the_job() -> None:
    row = job_row(deferred_record(), running_job(), now=NOW)
    assert row["console_url"] == "https://aistudio.google.com/batches"


def test_summary_counts_each_kind() -> None:
    states = ("RUNNING", "PENDING", "SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "EXPIRED", "CANCELLED", "UNVERIFIED")
    rows = [{"state": s} for s in states]
    assert summary(rows) == {"running": 2, "succeeded": 2, "failed": 1, "expired": 1, "cancelled": 1, "other": 1}


def test_env_connections_keep_only_genai_batch_ids() -> None:
    environ = {
        "AIRFLOW_CONN_GENAI_BATCH_X": '{"conn_type": "genai_batch", "password": "k"}',
        "AIRFLOW_CONN_OTHER": "postgres://u:p@h/db",
        "AIRFLOW_CONN_URI_ONE": "genai-batch://:key@host",
        "AIRFLOW_CONN_BROKEN": "{not json",
        "PATH": "/bin",
    }
    assert sorted(env_connection_ids(environ)) == ["genai_batch_x", "uri_one"]


async def test_concurrent_refreshes_share_one_load_until_the_ttl_passes() -> None:
    now = [0.0]
    cache: TTLCache[int] = TTLCache(ttl=5.0, clock=lambda: now[0])
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return loads

    assert await asyncio.gather(*(cache.get("k", load) for _ in range(20))) == [1] * 20
    now[0] = 4.9
    assert await cache.get("k", load) == 1
    now[0] = 5.1
    assert await cache.get("k", load) == 2
    cache.forget("k")
    assert await cache.get("k", load) == 3
