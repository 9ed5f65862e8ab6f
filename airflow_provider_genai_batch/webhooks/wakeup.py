"""The trigger's "sleep until the timeout, or until a delivery says my job may have ended".

One watcher per event loop (so one per triggerer process, like ``hooks/client_cache``) reads the deliveries
Variable (``nudges.VARIABLE_KEY``) every ``POLL_SECONDS`` while any trigger waits, with one read for all of them,
and wakes the waiters whose job a new delivery names. A read that fails is logged and retried next round: the
trigger's own polling schedule still bounds every wait. A delivery wakes a given wait at most once.

Example::

    waiter = NudgeWaiter("batches/abc")
    nudged = await waiter.sleep(600.0, since=time.time())   # True: re-read the job now
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

from airflow_provider_genai_batch.webhooks.nudges import VARIABLE_KEY, Entry, parse_entries

__all__ = ["POLL_SECONDS", "SKEW_SECONDS", "NudgeWaiter", "NudgeWatcher", "read_variable"]

#: How often the shared watcher reads the Variable while anything waits, seconds.
POLL_SECONDS = 2.0
#: Deliveries received up to this long before a wait's ``since`` still wake it (clocks of the api-server and the
#: triggerer differ; a delivery that raced the last read must not be missed).
SKEW_SECONDS = 10.0

log = logging.getLogger(__name__)
Reader = Callable[[], Awaitable[str | None]]


async def read_variable() -> str | None:
    """The deliveries Variable through the task SDK (the Execution API in a triggerer), off the event loop."""
    from airflow.sdk import Variable
    from asgiref.sync import sync_to_async

    value = await sync_to_async(Variable.get)(VARIABLE_KEY, default=None)
    return value if isinstance(value, str) else None


class _Wait:
    def __init__(self, since: float, seen: set[str]) -> None:
        self.since = since
        self.seen = seen
        self.event = asyncio.Event()

    def offer(self, entry: Entry) -> None:
        if entry.id not in self.seen and entry.at >= self.since - SKEW_SECONDS:
            self.seen.add(entry.id)
            self.event.set()


class NudgeWatcher:
    """Reads the deliveries once per round for every waiting job of this event loop; ``reads`` counts rounds."""

    def __init__(self, read: Reader = read_variable, interval: float = POLL_SECONDS) -> None:
        self._read = read
        self.interval = interval
        self._waits: dict[str, set[_Wait]] = {}
        self._task: asyncio.Task[None] | None = None
        self.reads = 0

    async def wait(self, job_name: str, seconds: float, *, since: float, seen: set[str]) -> bool:
        """Until ``seconds`` pass pass (``False``) or a new delivery for ``job_name`` arrives (``True``)."""
        wait = _Wait(since, seen)
        self._waits.setdefault(job_name, set()).add(wait)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            await asyncio.wait_for(wait.event.wait(), timeout=max(0.0, seconds))
            return True
        except TimeoutError:
            return False
        finally:
            waits = self._waits.get(job_name)
            if waits is not None:
                waits.discard(wait)
                if not waits:
                    del self._waits[job_name]

    async def _run(self) -> None:
        while self._waits:
            try:
                self.reads += 1
                entries = parse_entries(await self._read())
            except Exception as exc:  # the polling schedule is the fallback
                log.warning("webhook deliveries unreadable (polling continues): %s: %s", type(exc).__name__, exc)
                entries = []
            for entry in entries:
                for wait in list(self._waits.get(entry.job or "", ())):
                    wait.offer(entry)
            await asyncio.sleep(self.interval)


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, NudgeWatcher] = weakref.WeakKeyDictionary()


def _loop_watcher() -> NudgeWatcher:
    loop = asyncio.get_running_loop()
    watcher = _watchers.get(loop)
    if watcher is None:
        watcher = _watchers[loop] = NudgeWatcher()
    return watcher


class NudgeWaiter:
    """One trigger's waits for one job, on its loop's shared watcher; remembers the deliveries already used."""

    def __init__(self, job_name: str, watcher: NudgeWatcher | None = None) -> None:
        self.job_name = job_name
        self._watcher = watcher
        self._seen: set[str] = set()

    async def sleep(self, seconds: float, *, since: float) -> bool:
        """Sleep ``seconds``, or less when a delivery newer than ``since`` names the job (then ``True``)."""
        watcher = self._watcher or _loop_watcher()
        return await watcher.wait(self.job_name, seconds, since=since, seen=self._seen)
