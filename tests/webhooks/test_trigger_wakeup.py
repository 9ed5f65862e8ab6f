"""A verified webhook delivery shortens a deferred wait: the real trigger, the real receiver and the emulator, all
over real sockets, with the deliveries record in the real metadata DB. With the receiver armed for the job, polling
is only the fallback (``webhook_fallback_interval``): fewer polls, a lost delivery still ends the wait at the
fallback poll, and the deadline still ends it on time.

The trigger polls every 300 s; the emulator's job runs for an hour unless ended. The test ends the job after the
trigger's first read; the emulator delivers a signed dynamic webhook to the receiver, the receiver records it, the
trigger's watcher reads the record and the trigger reads the job again at once. What proves the shortcut is the
emulator's count of job reads (2: the first, and the one the delivery caused), never a clock. Without a delivery,
the same wait needs a second read 300 s later, which the test's 60 s guard does not allow.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks import client_cache
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger
from airflow_provider_genai_batch.webhooks.nudges import VARIABLE_KEY, parse_entries
from airflow_provider_genai_batch.webhooks.receiver import ReceiverConfig, create_app
from tests.conftest import GEMINI_CONN_ID, gemini_connection, set_connection
from tests.webhooks.keys import serve

SLOW: dict[str, Any] = {"poll_interval": 300.0, "min_poll_interval": 300.0}
#: A guard against a hang, far below the 300 s a wait without a delivery would take; never asserted on.
GUARD_SECONDS = 60.0


@pytest.fixture(autouse=True)
async def _close_async_clients() -> AsyncIterator[None]:
    yield
    await client_cache.close_loop_clients()


@pytest.fixture
def receiver_url(airflow_db: None, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The receiver app on a real port, verifying with the emulator's JWK set, recording in the metadata DB; the
    Gemini connection names it (``webhook_url``); ``Variable.get`` in this process reads the metadata DB (as the
    triggerer's Execution API does for its trigger runner)."""
    from airflow.models.variable import Variable

    Variable.delete(VARIABLE_KEY)
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    emulator.configure(job_seconds=3600, pending_seconds=0)
    config = ReceiverConfig(jwks_url=f"{emulator.base_url}/.well-known/jwks.json", jwks_min_refetch=0.0)
    with serve(create_app(config=config)) as base:
        url = f"{base}/deliveries"
        connection = gemini_connection(emulator)
        connection["extra"] = {"webhook_url": url}
        set_connection(monkeypatch, GEMINI_CONN_ID, connection)
        yield url
    Variable.delete(VARIABLE_KEY)


def create_job() -> str:
    """A job created as the create operator does (prepare, then send: the webhook is added on the way)."""
    hook = GenAIBatchHook(genai_batch_conn_id=GEMINI_CONN_ID)
    job = hook.create_prepared(hook.prepare_create(model="gemini-2.5-flash", src=["a", "b"]))
    assert job.name
    return job.name


def job_reads(emulator: EmulatorHandle) -> int:
    return emulator.stats()["requests"].get("gemini.batches.get", 0)


async def end_after_first_read(emulator: EmulatorHandle, job_name: str) -> None:
    while job_reads(emulator) < 1:
        await asyncio.sleep(0.05)
    emulator.finish_job(job_name, "SUCCEEDED")


async def test_a_verified_delivery_ends_a_300_s_wait_after_one_more_read(
    emulator: EmulatorHandle, receiver_url: str
) -> None:
    name = create_job()
    trigger = GenAIBatchJobTrigger(
        genai_batch_conn_id=GEMINI_CONN_ID, job_name=name, deadline=time.time() + 3600, **SLOW
    )
    ender = asyncio.create_task(end_after_first_read(emulator, name))
    event = await asyncio.wait_for(anext(trigger.run()), timeout=GUARD_SECONDS)
    await ender
    assert event.payload["status"] == "success"
    assert job_reads(emulator) == 2  # the first read, and the one the delivery caused; no 300 s poll
    sent = httpx.get(f"{emulator.base_url}/_emulator/webhooks/deliveries").json()["deliveries"]
    assert [(d["uri"], d["status"]) for d in sent] == [(receiver_url, 202)]
    from airflow.models.variable import Variable

    recorded = parse_entries(Variable.get(VARIABLE_KEY, default_var=None))
    assert [(e.job, e.via, e.type) for e in recorded] == [(name, "dynamic", "batch.succeeded")]


async def test_a_delivery_for_another_job_does_not_wake_the_wait(emulator: EmulatorHandle, receiver_url: str) -> None:
    """Another job's verified delivery is recorded but leaves this wait on its 300 s schedule."""
    waited, other = create_job(), create_job()
    trigger = GenAIBatchJobTrigger(
        genai_batch_conn_id=GEMINI_CONN_ID, job_name=waited, deadline=time.time() + 3600, **SLOW
    )
    run = asyncio.ensure_future(anext(trigger.run()))
    while job_reads(emulator) < 1:
        await asyncio.sleep(0.05)
    emulator.finish_job(other, "SUCCEEDED")
    from airflow.models.variable import Variable

    for _ in range(400):  # until the other job's delivery is recorded, then two watcher rounds more
        if parse_entries(Variable.get(VARIABLE_KEY, default_var=None)):
            break
        await asyncio.sleep(0.05)
    assert [e.job for e in parse_entries(Variable.get(VARIABLE_KEY, default_var=None))] == [other]
    await asyncio.sleep(4.5)  # two rounds of the watcher (every 2 s): it has read the record
    assert not run.done()
    assert job_reads(emulator) == 1
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert json.dumps(trigger.serialize()[1]).find("deliveries") == -1  # the receiver URL is not in the kwargs


async def test_a_record_naming_a_running_job_causes_one_early_read_and_nothing_else(
    emulator: EmulatorHandle, receiver_url: str
) -> None:
    """Whoever can write Variables can write the deliveries record by hand (no signature involved): an entry naming
    a job that is still running wakes its wait once; the trigger reads the job, sees it running, and waits again.
    No event, no state, no result comes from the record."""
    from airflow.models.variable import Variable

    waited = create_job()
    trigger = GenAIBatchJobTrigger(
        genai_batch_conn_id=GEMINI_CONN_ID, job_name=waited, deadline=time.time() + 3600, **SLOW
    )
    run = asyncio.ensure_future(anext(trigger.run()))
    while job_reads(emulator) < 1:
        await asyncio.sleep(0.05)
    entry = {"id": "hand-written", "job": waited, "type": "batch.succeeded", "via": "static", "at": time.time()}
    Variable.set(VARIABLE_KEY, json.dumps({"v": 1, "entries": [entry]}))
    for _ in range(200):  # the watcher reads the record every 2 s; the woken trigger reads the job once more
        if job_reads(emulator) >= 2:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(4.5)  # two more watcher rounds: the same entry wakes the wait no second time
    assert job_reads(emulator) == 2
    assert not run.done()  # the job is running, so the trigger waits on; the record decided nothing
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run


def delivered(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    return list(httpx.get(f"{emulator.base_url}/_emulator/webhooks/deliveries").json()["deliveries"])


def armed_trigger(name: str, *, deadline_in: float = 3600.0, **kwargs: Any) -> GenAIBatchJobTrigger:
    return GenAIBatchJobTrigger(
        genai_batch_conn_id=GEMINI_CONN_ID, job_name=name, deadline=time.time() + deadline_in, **kwargs
    )


async def test_armed_the_wait_reads_the_job_twice_where_the_adaptive_schedule_polls_on(
    emulator: EmulatorHandle, receiver_url: str
) -> None:
    """The same 2 s job and the same 0.2 s schedule, waited for without and with ``webhook_armed``: armed, the first
    read and the one the delivery caused are all (the 300 s fallback poll never comes); unarmed, it polls on."""
    emulator.configure(job_seconds=2.0, pending_seconds=0)
    fast = {"poll_interval": 0.2, "min_poll_interval": 0.2, "webhook_fallback_interval": 300.0}
    reads = {}
    for armed in (False, True):
        name = create_job()
        before = job_reads(emulator)
        trigger = armed_trigger(name, webhook_armed=armed, **fast)
        event = await asyncio.wait_for(anext(trigger.run()), timeout=GUARD_SECONDS)
        assert event.payload["status"] == "success", event.payload
        reads[armed] = job_reads(emulator) - before
    assert reads[True] == 2
    assert reads[False] > reads[True]
    assert [d["status"] for d in delivered(emulator)] == [202, 202]


async def test_armed_a_lost_delivery_still_ends_the_wait_at_the_fallback_poll(
    emulator: EmulatorHandle, receiver_url: str
) -> None:
    """The job's delivery is lost (the emulator's fault): nothing is recorded, and the wait ends at its fallback
    poll (4 s here) with the job's real outcome, after no poll at the 0.2 s adaptive pace in between."""
    from airflow.models.variable import Variable

    emulator.configure(job_seconds=1.5, pending_seconds=0)
    httpx.post(f"{emulator.base_url}/_emulator/webhooks/faults", json={"lost": 1}).raise_for_status()
    name = create_job()
    trigger = armed_trigger(
        name, webhook_armed=True, poll_interval=0.2, min_poll_interval=0.2, webhook_fallback_interval=4.0
    )
    event = await asyncio.wait_for(anext(trigger.run()), timeout=GUARD_SECONDS)
    assert event.payload["status"] == "success", event.payload
    assert job_reads(emulator) == 2  # the first read (running) and the fallback poll (succeeded)
    assert [d.get("fault") for d in delivered(emulator)] == ["lost"]
    assert parse_entries(Variable.get(VARIABLE_KEY, default_var=None)) == []


async def test_armed_the_deadline_still_ends_a_wait_whose_fallback_is_longer(
    emulator: EmulatorHandle, receiver_url: str
) -> None:
    """A job that runs on, a deadline 2 s away and the default 30 min fallback: the wait reads the job again at the
    deadline (not 30 min later) and ends with the ``timeout`` event; the trigger cancels nothing."""
    name = create_job()
    trigger = armed_trigger(name, deadline_in=2.0, webhook_armed=True, poll_interval=300.0, min_poll_interval=0.5)
    assert trigger.wait.webhook_fallback_interval == 1800.0
    event = await asyncio.wait_for(anext(trigger.run()), timeout=GUARD_SECONDS)
    assert event.payload["status"] == "timeout", event.payload
    assert job_reads(emulator) == 2  # the first read, then the one at the deadline; none at the adaptive pace
    assert emulator.stats()["cancels"]["gemini"] == 0


@pytest.mark.parametrize("waiter", ["create", "sensor"])
def test_a_deferred_create_arms_itself_and_a_sensor_when_told(
    run_dag: Any, emulator: EmulatorHandle, receiver_url: str, waiter: str
) -> None:
    """``dag.test()``: a deferrable create on a connection with ``webhook_url`` defers to an armed trigger by itself
    (its job names the receiver); a deferrable sensor with ``webhook_armed=True`` likewise. With a 0.2 s schedule
    and a 300 s fallback, each wait reads its 2 s job once before the delivery and once after it."""
    emulator.configure(job_seconds=2.0, pending_seconds=0)
    fast = {"poll_interval": 0.2, "min_poll_interval": 0.2, "webhook_fallback_interval": 300.0, "deferrable": True}
    if waiter == "create":
        task = {"class": "GenAIBatchCreateJobOperator", "task_id": "wait", "model": "gemini-2.5-flash", "src": ["a"]}
    else:
        name = create_job()
        task = {"class": "GenAIBatchJobSensor", "task_id": "wait", "name": name, "webhook_armed": True}
    before = job_reads(emulator)
    result = run_dag({"dag_id": f"webhook_armed_{waiter}", "tasks": [{**task, **fast}]})
    assert result.state == "success", result.output[-3000:]
    assert "webhook receiver armed" in result.output
    # create: the trigger's two reads and the resumed task's re-read; sensor: its first poke too
    assert job_reads(emulator) - before == (3 if waiter == "create" else 4)
