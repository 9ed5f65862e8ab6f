"""Live job reads through the provider's async client, behind a short TTL cache shared by every viewer.

One client pool per connection per api-server process (``hooks/client_cache``); concurrent page refreshes for
the same job or list wait for one API call instead of each making their own.

Example::

    jobs = JobReader(ttl=5.0)
    job = await jobs.get("genai_batch_default", "batches/abc")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob

T = TypeVar("T")
LIST_LIMIT = 200


class TTLCache(Generic[T]):
    """Values kept ``ttl`` seconds; one loader runs per key at a time (``clock`` is injectable for tests)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._values: dict[Any, tuple[float, T]] = {}
        self._locks: dict[Any, asyncio.Lock] = {}

    async def get(self, key: Any, load: Callable[[], Awaitable[T]]) -> T:
        """The cached value of ``key``, loading it when missing or stale."""
        hit = self._values.get(key)
        if hit is not None and self._clock() - hit[0] < self.ttl:
            return hit[1]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._values.get(key)
            if hit is not None and self._clock() - hit[0] < self.ttl:
                return hit[1]
            value = await load()
            self._values[key] = (self._clock(), value)
            return value

    def forget(self, key: Any) -> None:
        """Drop one key (after a cancel, so the next read is live)."""
        self._values.pop(key, None)


class JobReader:
    """Reads, lists and cancels jobs through ``GenAIBatchHook`` with a TTL cache (``calls`` counts API reads)."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.jobs: TTLCache[BatchJob] = TTLCache(ttl)
        self.lists: TTLCache[list[BatchJob]] = TTLCache(ttl * 2)
        self.calls = 0

    @staticmethod
    def _hook(conn_id: str) -> Any:
        from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

        return GenAIBatchHook(genai_batch_conn_id=conn_id)

    async def get(self, conn_id: str, name: str) -> BatchJob:
        """One job, live within the TTL."""

        async def load() -> BatchJob:
            self.calls += 1
            job: BatchJob = await self._hook(conn_id).aget_job(name)
            return job

        return await self.jobs.get((conn_id, name), load)

    async def list(self, conn_id: str) -> list[BatchJob]:
        """The newest jobs the API lists for a connection (at most ``LIST_LIMIT``)."""

        async def load() -> list[BatchJob]:
            self.calls += 1
            found: list[BatchJob] = []
            async for job in self._hook(conn_id).alist_jobs(page_size=50):
                found.append(job)
                if len(found) >= LIST_LIMIT:
                    break
            return found

        return await self.lists.get(conn_id, load)

    async def cancel(self, conn_id: str, name: str) -> None:
        """Ask the service to cancel; the cached reads of this job and list are dropped."""
        await self._hook(conn_id).acancel_job(name)
        self.jobs.forget((conn_id, name))
        self.lists.forget(conn_id)
