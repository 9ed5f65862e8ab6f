"""Live job reads through the provider's async client, behind a short TTL cache shared by every viewer.

One client pool per connection per api-server process (``hooks/client_cache``); concurrent page refreshes for
the same job or list wait for one API call instead of each making their own. A page never waits long for one
connection: a request waits at most ``wait`` seconds for a read (the read goes on in the background and its
outcome is kept for the next request), a read is abandoned after ``load_timeout`` seconds, and a failed read is
remembered for ``error_ttl`` seconds, so an unreachable connection costs one bounded read per ``error_ttl``.

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
#: Seconds a page waits for one read before answering without it.
WAIT = 4.0
#: Seconds after which one read is abandoned (the client's own retries would take far longer).
LOAD_TIMEOUT = 20.0
#: Seconds a failed read is remembered: its error is answered at once until then.
ERROR_TTL = 30.0


class ReadPendingError(TimeoutError):
    """A read did not answer within the page's wait; it goes on in the background."""


class ReadTimeoutError(TimeoutError):
    """A read took longer than ``load_timeout`` and was abandoned."""


class TTLCache(Generic[T]):
    """Values kept ``ttl`` seconds, errors ``error_ttl`` seconds; one load runs per key at a time, as a
    background task a caller waits for at most ``wait`` seconds (``None``: until it ends) and that is abandoned
    after ``load_timeout`` seconds (``clock`` is injectable for tests)."""

    def __init__(
        self,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        error_ttl: float = ERROR_TTL,
        wait: float | None = None,
        load_timeout: float | None = None,
    ) -> None:
        self.ttl = ttl
        self.error_ttl = error_ttl
        self.wait = wait
        self.load_timeout = load_timeout
        self._clock = clock
        self._values: dict[Any, tuple[float, T]] = {}
        self._errors: dict[Any, tuple[float, BaseException]] = {}
        self._loads: dict[Any, asyncio.Future[T]] = {}

    async def get(self, key: Any, load: Callable[[], Awaitable[T]]) -> T:
        """The cached value of ``key``, loading it when missing or stale; a recent failure is raised again."""
        now = self._clock()
        hit = self._values.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        failed = self._errors.get(key)
        if failed is not None and now - failed[0] < self.error_ttl:
            raise failed[1]
        running = self._loads.get(key)
        if running is None:
            running = self._loads[key] = asyncio.ensure_future(self._load(key, load))
            running.add_done_callback(_retrieve)
        if self.wait is None:
            return await asyncio.shield(running)
        try:
            return await asyncio.wait_for(asyncio.shield(running), self.wait)
        except TimeoutError:
            if running.done():
                raise
            raise ReadPendingError(f"no answer within {self.wait:g} s; still trying in the background") from None

    async def _load(self, key: Any, load: Callable[[], Awaitable[T]]) -> T:
        try:
            try:
                value = await asyncio.wait_for(load(), self.load_timeout)
            except TimeoutError:
                raise ReadTimeoutError(f"no answer within {self.load_timeout:g} s") from None
        except Exception as exc:
            self._errors[key] = (self._clock(), exc)
            raise
        finally:
            self._loads.pop(key, None)
        self._values[key] = (self._clock(), value)
        self._errors.pop(key, None)
        return value

    def forget(self, key: Any) -> None:
        """Drop one key (after a cancel, so the next read is live)."""
        self._values.pop(key, None)
        self._errors.pop(key, None)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a background load's outcome as seen (its error is kept in the cache, not lost in a warning)."""
    if not future.cancelled():
        future.exception()


class JobReader:
    """Reads, lists and cancels jobs through ``GenAIBatchHook`` with a TTL cache (``calls`` counts API reads)."""

    def __init__(
        self,
        ttl: float = 5.0,
        *,
        wait: float = WAIT,
        load_timeout: float = LOAD_TIMEOUT,
        error_ttl: float = ERROR_TTL,
    ) -> None:
        self.jobs: TTLCache[BatchJob] = TTLCache(ttl, wait=wait, load_timeout=load_timeout, error_ttl=error_ttl)
        self.lists: TTLCache[list[BatchJob]] = TTLCache(
            ttl * 2, wait=wait, load_timeout=load_timeout, error_ttl=error_ttl
        )
        self.load_timeout = load_timeout
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
        """Ask the service to cancel (within ``load_timeout``); the cached reads of this job and list are dropped."""
        try:
            await asyncio.wait_for(self._hook(conn_id).acancel_job(name), self.load_timeout)
        except TimeoutError:
            raise ReadTimeoutError(f"the cancel had no answer within {self.load_timeout:g} s") from None
        finally:
            self.jobs.forget((conn_id, name))
            self.lists.forget(conn_id)
