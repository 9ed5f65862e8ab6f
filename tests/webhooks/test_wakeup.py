"""The shared watcher: one read per round for every waiting job; a delivery wakes each wait once."""

from __future__ import annotations

import asyncio
import json
import time

from airflow_provider_genai_batch.webhooks.nudges import Entry, merge_entry
from airflow_provider_genai_batch.webhooks.wakeup import NudgeWaiter, NudgeWatcher


class Deliveries:
    """The Variable's value as the receiver writes it (``merge_entry``), read by the watcher."""

    def __init__(self) -> None:
        self.value: str | None = None

    def add(self, webhook_id: str, job: str) -> None:
        merged = merge_entry(self.value, Entry(webhook_id, job, "batch.succeeded", "static", time.time()), time.time())
        assert merged is not None
        self.value = merged

    async def read(self) -> str | None:
        return self.value


def test_a_delivery_wakes_only_the_waits_for_its_job() -> None:
    deliveries = Deliveries()
    watcher = NudgeWatcher(deliveries.read, interval=0.05)

    async def go() -> tuple[bool, bool]:
        a = NudgeWaiter("batches/a", watcher)
        b = NudgeWaiter("batches/b", watcher)
        since = time.time()
        waits = asyncio.gather(a.sleep(5.0, since=since), b.sleep(0.5, since=since))
        await asyncio.sleep(0.1)
        deliveries.add("m1", "batches/a")
        return tuple(await waits)  # type: ignore[return-value]

    assert asyncio.run(go()) == (True, False)


def test_one_read_per_round_serves_many_waits() -> None:
    deliveries = Deliveries()
    watcher = NudgeWatcher(deliveries.read, interval=0.1)

    async def go() -> None:
        since = time.time()
        await asyncio.gather(*(NudgeWaiter(f"batches/j{i}", watcher).sleep(0.35, since=since) for i in range(200)))

    asyncio.run(go())
    assert 1 <= watcher.reads <= 5


def test_a_delivery_wakes_a_waiter_once_and_an_old_one_never() -> None:
    deliveries = Deliveries()
    deliveries.add("old", "batches/a")
    json.loads(deliveries.value or "{}")
    watcher = NudgeWatcher(deliveries.read, interval=0.02)

    async def go() -> list[bool]:
        waiter = NudgeWaiter("batches/a", watcher)
        first = await waiter.sleep(1.0, since=time.time())  # "old" is within the skew: wakes once
        second = await waiter.sleep(0.2, since=time.time())  # the same delivery does not wake again
        stale = await NudgeWaiter("batches/a", watcher).sleep(0.2, since=time.time() + 3600)  # far older: never
        return [first, second, stale]

    assert asyncio.run(go()) == [True, False, False]


def test_an_unreadable_record_leaves_the_wait_to_its_timeout() -> None:
    async def broken() -> str | None:
        raise ConnectionError("api-server down")

    watcher = NudgeWatcher(broken, interval=0.02)
    assert asyncio.run(NudgeWaiter("batches/a", watcher).sleep(0.2, since=time.time())) is False
    assert watcher.reads >= 2
