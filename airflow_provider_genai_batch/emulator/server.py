"""Running the emulator with uvicorn: in a background thread (``run_emulator``) or in the foreground (the CLI).

The listening socket is bound and listening before the server starts, so the port is known at once (even
with ``port=0``) and early connections wait in the backlog instead of being refused.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn

from airflow_provider_genai_batch.emulator.app import EmulatorApp
from airflow_provider_genai_batch.emulator.control import EmulatorControls
from airflow_provider_genai_batch.emulator.faults import install_log_filter
from airflow_provider_genai_batch.emulator.state import EmulatorConfig

__all__ = ["BACKLOG", "EmulatorHandle", "base_url_of", "bind_socket", "build_server", "run_emulator", "serve_forever"]

#: Listen backlog: thousands of pollers may connect at once.
BACKLOG = 4096
_START_TIMEOUT_SECONDS = 15.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``port=0``: a free port) and listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def base_url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (``127.0.0.1`` stands for a wildcard address)."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build_server(app: EmulatorApp, *, log_level: str = "warning", configure_logging: bool = True) -> uvicorn.Server:
    """A uvicorn server for ``app``, tuned for many concurrent pollers (large backlog, no concurrency cap)."""
    install_log_filter()
    config = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=uvicorn.config.LOGGING_CONFIG if configure_logging else None,
        access_log=False,
        lifespan="off",
        backlog=BACKLOG,
        limit_concurrency=None,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


class EmulatorHandle(EmulatorControls):
    """A running emulator: where to reach it, and every control method of ``EmulatorControls``.

    Example::

        with run_emulator(job_seconds=0.2) as emu:
            client = genai.Client(api_key=emu.api_key, http_options={"base_url": emu.base_url})
            job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": "hi"}])
            print(emu.stats()["requests"])
    """

    def __init__(self, app: EmulatorApp, base_url: str) -> None:
        super().__init__(app.store)
        self.app = app
        #: ``http://127.0.0.1:PORT``, without a trailing slash.
        self.base_url = base_url

    @property
    def api_key(self) -> str:
        """The Gemini API key the emulator accepts."""
        return self.app.store.config.api_key

    def __repr__(self) -> str:
        return f"EmulatorHandle(base_url={self.base_url!r})"


@contextmanager
def run_emulator(
    *,
    api_key: str = "test-key",
    job_seconds: float = 1.0,
    pending_seconds: float = 0.2,
    cancel_seconds: float = 0.1,
    vertex_shard_rows: int = 10_000,
    accepted_tokens: Iterable[str] = (),
    strict: bool = True,
    shuffle_results: bool = True,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
) -> Iterator[EmulatorHandle]:
    """Serve an emulator in a background thread for the duration of the ``with`` block.

    Waits until the server accepts connections, yields an ``EmulatorHandle``, and stops the server on exit.
    The process's logging configuration is left alone.

    Example::

        with run_emulator(api_key="k", job_seconds=0.1) as emu:
            httpx.get(f"{emu.base_url}/v1/batches", headers={"x-goog-api-key": emu.api_key})
    """
    config = EmulatorConfig(
        api_key=api_key,
        job_seconds=job_seconds,
        pending_seconds=pending_seconds,
        cancel_seconds=cancel_seconds,
        vertex_shard_rows=vertex_shard_rows,
        accepted_tokens=tuple(accepted_tokens),
        strict=strict,
        shuffle_results=shuffle_results,
    )
    app = EmulatorApp(config)
    sock = bind_socket(host, port)
    server = build_server(app, log_level=log_level, configure_logging=False)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)

    thread = threading.Thread(target=serve, name=f"genai-batch-emulator-{base_url_of(sock)}", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread, errors)
        yield EmulatorHandle(app, base_url_of(sock))
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT_SECONDS)
        sock.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread, errors: list[BaseException]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError("the emulator server failed to start") from (errors[0] if errors else None)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the emulator server did not start within {_START_TIMEOUT_SECONDS:g} s")
        time.sleep(0.005)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve_forever(app: EmulatorApp, sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve ``app`` on ``sock`` in the main thread until SIGINT or SIGTERM, then shut down gracefully.

    uvicorn re-raises the signal it handled once it has shut down; here both end the process normally.
    """
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        build_server(app, log_level=log_level).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
