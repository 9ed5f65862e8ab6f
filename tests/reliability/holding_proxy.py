"""An HTTP/1.1 forwarder on 127.0.0.1 that can hold back one answer: the request goes upstream and is answered
there (a create is applied), but the answer never reaches the client, which waits for it until it is killed.

The emulator's own ``delay`` fault waits *before* serving, and a client that dies meanwhile makes the server drop
the request; this proxy reaches the point after the server applied a request and before the client read the
answer. It understands what the provider's client sends: requests with a ``Content-Length`` body, answers with a
``Content-Length`` or chunked body, keep-alive connections.

Example::

    with HoldingProxy(emulator.base_url) as proxy:
        proxy.hold_answer("POST", r":batchGenerateContent$")
        ...  # point the connection's host at proxy.base_url
        proxy.held.wait(60)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from types import TracebackType
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


async def _read_body(reader: asyncio.StreamReader, head: bytes, *, response: bool) -> bytes:
    length = _header(head, b"content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += size_line + chunk
            if size == 0:
                return body
    return await reader.read() if response else b""


class HoldingProxy:
    """Forwards every request to ``upstream``; ``hold_answer`` keeps the next matching answer from its client."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rule: tuple[str, re.Pattern[str]] | None = None
        self._lock = threading.Lock()
        #: Set once an answer has been withheld (the upstream served the request).
        self.held = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="holding-proxy", daemon=True)
        self.base_url = ""

    def hold_answer(self, method: str, path: str) -> None:
        """Hold back the answer to the next request with this method whose path matches the regex ``path``."""
        with self._lock:
            self._rule = (method.upper(), re.compile(path))
            self.held.clear()

    def _take_rule(self, method: str, path: str) -> bool:
        with self._lock:
            if self._rule is None or self._rule[0] != method or not self._rule[1].search(path):
                return False
            self._rule = None
            return True

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream, limit=_MAX_HEAD)
        try:
            while True:
                head = await _read_head(client_reader)
                body = await _read_body(client_reader, head, response=False)
                method, target = head.split(b" ", 2)[:2]
                path = target.decode(errors="replace").split("?", 1)[0]
                upstream_writer.write(head + body)
                await upstream_writer.drain()
                answer_head = await _read_head(upstream_reader)
                answer = answer_head + await _read_body(upstream_reader, answer_head, response=True)
                if self._take_rule(method.decode(), path):
                    self.held.set()
                    await client_reader.read()  # until the client goes away; it never gets the answer
                    return
                client_writer.write(answer)
                await client_writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return  # the client or the upstream went away, or the proxy is closing
        finally:
            for writer in (upstream_writer, client_writer):
                with contextlib.suppress(Exception):
                    writer.close()

    def __enter__(self) -> HoldingProxy:
        self._thread.start()

        async def start() -> asyncio.Server:
            return await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_MAX_HEAD)

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
