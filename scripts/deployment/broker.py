"""The Celery broker of a local deployment: Debian's ``redis-server`` on a free port of 127.0.0.1, no persistence."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scripts.deployment.processes import AirflowError, ManagedProcess, free_port, tail


@dataclass(eq=False)
class RedisServer:
    """One Redis server for one deployment; ``url`` is Celery's ``broker_url``."""

    work_dir: Path
    env: Mapping[str, str]
    port: int = 0
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, log_path: Path, timeout: float = 30.0) -> ManagedProcess:
        """Start the server and wait until it answers ``PING``."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise AirflowError("redis-server is not installed: run `make services` (apt-get install redis-server)")
        self.port = self.port or free_port()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(self.work_dir), "--daemonize", "no", "--protected-mode", "yes"]
        self.process = ManagedProcess("redis", argv, log_path, self.env)
        self.process.start()
        deadline = time.monotonic() + timeout
        while not self._pong():
            if not self.process.alive():
                raise AirflowError(self.process.describe_failure())
            if time.monotonic() > deadline:
                raise AirflowError(f"redis not ready in {timeout:.0f}s:\n{tail(log_path)}")
            time.sleep(0.1)
        return self.process

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
