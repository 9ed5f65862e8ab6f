"""Shared connection reads (``client_cache.shared_read``): hooks and triggers created together read their connection
once; one created after an edit reads it again; a failed read is not kept; a cancelled waiter cancels nobody."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk import BaseHook

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks import client_cache
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.policy.events import validate_event
from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger
from tests.conftest import GEMINI_CONN_ID, gemini_connection, set_connection


class ConnectionReads:
    """Counts Airflow's async connection reads (Airflow's own getter still does the reading); ``gate`` holds them."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gate: asyncio.Event | None = None


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectionReads]:
    counter = ConnectionReads()
    original = BaseHook.aget_connection

    async def counting(cls: type[BaseHook], conn_id: str) -> Any:
        counter.calls.append(conn_id)
        if counter.gate is not None:
            await counter.gate.wait()
        return await original(conn_id)

    monkeypatch.setattr(BaseHook, "aget_connection", classmethod(counting))
    yield counter


@pytest.fixture(autouse=True)
async def _close_async_clients() -> Any:
    yield
    await client_cache.close_loop_clients()


async def test_hooks_created_together_read_the_connection_once(
    emulator: EmulatorHandle, reads: ConnectionReads
) -> None:
    since = time.monotonic()
    hooks = [GenAIBatchHook(read_since=since) for _ in range(20)]
    settings = await asyncio.gather(*(hook.aget_settings() for hook in hooks))
    assert reads.calls == [GEMINI_CONN_ID]
    assert len({id(s) for s in settings}) == 1
    # A hook created later, after that read, also reuses it only if the read started after its creation: it does not.
    await GenAIBatchHook(read_since=time.monotonic()).aget_settings()
    assert len(reads.calls) == 2


async def test_hooks_without_read_since_read_it_each(emulator: EmulatorHandle, reads: ConnectionReads) -> None:
    await asyncio.gather(*(GenAIBatchHook().aget_settings() for _ in range(3)))
    assert len(reads.calls) == 3


async def test_a_hook_created_after_an_edit_sees_the_edit(
    emulator: EmulatorHandle, reads: ConnectionReads, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await GenAIBatchHook(read_since=time.monotonic()).aget_settings()
    set_connection(monkeypatch, GEMINI_CONN_ID, {**gemini_connection(emulator), "password": "edited-key"})
    after = await GenAIBatchHook(read_since=time.monotonic()).aget_settings()
    assert before.api_key is not None and after.api_key is not None
    assert before.api_key.get_secret_value() == emulator.api_key
    assert after.api_key.get_secret_value() == "edited-key"
    assert len(reads.calls) == 2


async def test_a_failed_read_is_not_kept(
    emulator: EmulatorHandle, reads: ConnectionReads, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = time.monotonic()
    good = gemini_connection(emulator)
    set_connection(monkeypatch, GEMINI_CONN_ID, {**good, "extra": {"backend": "nope"}})
    with pytest.raises(InvalidInputError, match="backend"):
        await GenAIBatchHook(read_since=since).aget_settings()
    set_connection(monkeypatch, GEMINI_CONN_ID, good)
    settings = await GenAIBatchHook(read_since=since).aget_settings()
    assert settings.backend == "gemini"
    assert len(reads.calls) == 2


async def test_a_cancelled_waiter_does_not_cancel_the_read(emulator: EmulatorHandle, reads: ConnectionReads) -> None:
    reads.gate = asyncio.Event()
    since = time.monotonic()
    first = asyncio.create_task(GenAIBatchHook(read_since=since).aget_settings())
    await asyncio.sleep(0.01)
    second = asyncio.create_task(GenAIBatchHook(read_since=since).aget_settings())
    await asyncio.sleep(0.01)
    first.cancel()
    reads.gate.set()
    settings = await second
    assert settings.backend == "gemini"
    assert first.cancelled()
    assert reads.calls == [GEMINI_CONN_ID]


def trigger(job_name: str) -> GenAIBatchJobTrigger:
    return GenAIBatchJobTrigger(
        genai_batch_conn_id=GEMINI_CONN_ID,
        job_name=job_name,
        deadline=time.time() + 30,
        poll_interval=0.05,
        min_poll_interval=0.05,
    )


async def run_all(triggers: list[GenAIBatchJobTrigger]) -> list[dict[str, Any]]:
    async def events(t: GenAIBatchJobTrigger) -> list[dict[str, Any]]:
        return [event.payload async for event in t.run()]

    return [event for batch in await asyncio.gather(*(events(t) for t in triggers)) for event in batch]


async def test_triggers_created_together_share_one_read_and_later_ones_see_an_edit(
    emulator: EmulatorHandle, reads: ConnectionReads, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.configure(job_seconds=0.2, pending_seconds=0.05)
    hook = GenAIBatchHook()
    names = [(await asyncio.to_thread(hook.create_job, model="gemini-2.5-flash", src=["a"])).name for _ in range(6)]
    events = await run_all([trigger(name) for name in names[:5]])
    assert [validate_event(e).status for e in events] == ["success"] * 5
    assert reads.calls == [GEMINI_CONN_ID]  # five triggers, one read (the sync hook above reads its own way)

    set_connection(monkeypatch, GEMINI_CONN_ID, {**gemini_connection(emulator), "password": "revoked-key"})
    (event,) = await run_all([trigger(names[5])])
    failed = validate_event(event)
    assert failed.status == "error"
    assert "API key not valid" in failed.reason
    assert "revoked-key" not in str(event)
    assert len(reads.calls) == 2


async def test_a_settings_build_that_waits_on_the_event_loop_does_not_deadlock_it() -> None:
    """A triggerer deadlock seen in the e2e run: common-ai's adapter, built in a thread, held the settings lock while
    its build masked a secret (``mask_secret`` in a triggerer thread waits for the event loop), and the loop itself
    was waiting for that lock in a trigger's connection read. Builds now run outside the lock."""
    from airflow_provider_genai_batch.client import ClientSettings

    loop = asyncio.get_running_loop()
    building = asyncio.Event()
    in_thread = ClientSettings(backend="gemini", api_key="k-thread", base_url="http://127.0.0.1:9")
    on_loop = ClientSettings(backend="gemini", api_key="k-loop", base_url="http://127.0.0.1:9")

    def build_that_waits_on_the_loop() -> ClientSettings:
        loop.call_soon_threadsafe(building.set)
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=5)  # as mask_secret's comms do
        return in_thread

    fingerprint = f"deadlock-{time.monotonic_ns()}"
    worker = loop.run_in_executor(
        None, client_cache.shared_settings, fingerprint + "-thread", build_that_waits_on_the_loop
    )
    await asyncio.wait_for(building.wait(), 5)
    # the event loop's own read of another connection, synchronous as in GenAIBatchHook._aread_settings
    assert client_cache.shared_settings(fingerprint + "-loop", lambda: on_loop) is on_loop
    assert await asyncio.wait_for(worker, 10) is in_thread
    assert client_cache.shared_settings(fingerprint + "-thread", lambda: on_loop) is in_thread  # built once, kept
