"""One batch client per connection per process (sync) and per event loop (async).

Clients are keyed by connection id and a fingerprint of the connection, so a changed connection gets a new
client and the old one is closed. Every trigger of a triggerer that uses the same connection shares one async
client and so one connection pool.

Triggers also share their connection reads (:func:`shared_read`): a trigger reuses the latest read of its
connection that started after the trigger was created, so 10,000 triggers created together read the connection
once, while a trigger created after a connection was edited always reads it again.

Example::

    client = sync_client("genai_batch_default", fingerprint, lambda: GenAIBatchClient(settings))
    aclient = await async_client("genai_batch_default", fingerprint, lambda: AsyncGenAIBatchClient(settings))
    settings = await shared_read("genai_batch_default", created_at, read_settings)
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client import AsyncGenAIBatchClient, ClientSettings, GenAIBatchClient

__all__ = [
    "async_client",
    "clear_sync_clients",
    "close_loop_clients",
    "shared_read",
    "shared_settings",
    "sync_client",
]

T = TypeVar("T")

# Seconds an async client replaced by a newer one stays open, so requests already in flight can finish.
_RETIRE_AFTER_SECONDS = 60.0

_sync_lock = threading.Lock()
_sync_clients: dict[str, tuple[str, GenAIBatchClient]] = {}


class _LoopClients:
    """The async clients of one event loop, and the lock that makes each one built once."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.clients: dict[str, tuple[str, AsyncGenAIBatchClient]] = {}
        #: the latest connection read per connection id: when it started (``time.monotonic()``) and its task
        self.reads: dict[str, tuple[float, asyncio.Future[Any]]] = {}


def _loop_state() -> _LoopClients:
    loop = asyncio.get_running_loop()
    state = _loop_clients.get(loop)
    if state is None:
        state = _loop_clients.setdefault(loop, _LoopClients())
    return state


_loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = weakref.WeakKeyDictionary()


_settings_lock = threading.Lock()
# One ClientSettings object per connection fingerprint: 10,000 triggers of one connection share it.
_settings_by_fingerprint: dict[str, ClientSettings] = {}


def shared_settings(fingerprint: str, build: Callable[[], ClientSettings]) -> ClientSettings:
    """The process's settings object for a connection fingerprint, built once (the first stored is kept).

    ``build`` runs outside the lock: in a triggerer, a build in a worker thread masks secrets, which waits for the
    event loop, and the loop itself calls this function; holding the lock across ``build`` deadlocked the two.
    """
    with _settings_lock:
        settings = _settings_by_fingerprint.get(fingerprint)
    if settings is not None:
        return settings
    built = build()
    with _settings_lock:
        return _settings_by_fingerprint.setdefault(fingerprint, built)


def sync_client(conn_id: str, fingerprint: str, build: Callable[[], GenAIBatchClient]) -> GenAIBatchClient:
    """The process's client for ``conn_id``, built with ``build`` the first time or when the connection changed."""
    with _sync_lock:
        cached = _sync_clients.get(conn_id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        client = build()
        _sync_clients[conn_id] = (fingerprint, client)
    if cached is not None:
        cached[1].close()
    return client


def clear_sync_clients() -> None:
    """Close and forget every sync client (tests, or a worker that wants fresh connections)."""
    with _sync_lock:
        clients = [client for _, client in _sync_clients.values()]
        _sync_clients.clear()
    for client in clients:
        client.close()


def _retire(loop: asyncio.AbstractEventLoop, client: AsyncGenAIBatchClient) -> None:
    def close() -> None:
        if not loop.is_closed():
            loop.create_task(client.aclose())

    loop.call_later(_RETIRE_AFTER_SECONDS, close)


async def async_client(
    conn_id: str, fingerprint: str, build: Callable[[], AsyncGenAIBatchClient]
) -> AsyncGenAIBatchClient:
    """The running loop's client for ``conn_id``; ``build`` runs in a thread (it may read a key file)."""
    loop = asyncio.get_running_loop()
    state = _loop_state()
    cached = state.clients.get(conn_id)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    async with state.lock:
        cached = state.clients.get(conn_id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        client = await asyncio.to_thread(build)
        state.clients[conn_id] = (fingerprint, client)
    if cached is not None:
        _retire(loop, cached[1])
    return client


async def shared_read(conn_id: str, since: float, read: Callable[[], Awaitable[T]]) -> T:
    """The result of a read of ``conn_id`` that started at or after ``since`` (``time.monotonic()``).

    The latest read of ``conn_id`` in the running loop is reused when it started no earlier than ``since``
    (finished or still in flight); otherwise ``read`` runs now. A caller created at ``since`` therefore never sees
    a connection older than at its creation, exactly as if it had read the connection itself. A failed read is
    not kept: its waiters get its error and the next call reads again. The read runs as its own task, so a
    cancelled waiter does not cancel it for the others.

    Example::

        created = time.monotonic()
        settings = await shared_read("genai_batch_default", created, read_settings)
    """
    state = _loop_state()
    latest = state.reads.get(conn_id)
    if latest is None or latest[0] < since:
        future: asyncio.Future[T] = asyncio.ensure_future(read())
        latest = (time.monotonic(), future)
        state.reads[conn_id] = latest

        def forget_failure(done: asyncio.Future[T], entry: tuple[float, asyncio.Future[Any]] = latest) -> None:
            if (done.cancelled() or done.exception() is not None) and state.reads.get(conn_id) is entry:
                del state.reads[conn_id]

        future.add_done_callback(forget_failure)
    result: T = await asyncio.shield(latest[1])
    return result


async def close_loop_clients() -> None:
    """Close and forget the running loop's async clients (tests, shutdown)."""
    state = _loop_clients.pop(asyncio.get_running_loop(), None)
    if state is None:
        return
    for _, client in state.clients.values():
        await client.aclose()
