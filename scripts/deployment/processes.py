"""Processes of a local deployment: each component runs in its own session (process group), dies with its parent,
and carries the deployment's marker in its environment so that no orphan survives a failing test."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Environment variable carried by every process of a deployment (and their children): finds orphans.
MARKER_ENV = "LOCAL_AIRFLOW_DEPLOYMENT"
_PR_SET_PDEATHSIG = 1


class AirflowError(RuntimeError):
    """The deployment failed to start, a component died, or a wait timed out (the message says which)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _libc() -> ctypes.CDLL | None:
    """libc, loaded in the parent: a child that switched user may not be able to read the interpreter's files."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM this child when the process that started it dies (best effort)."""
    if _LIBC is not None:
        with contextlib.suppress(OSError, AttributeError):
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait until no process is left in group ``pgid`` (right after killing it); return whether it is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        time.sleep(0.05)
    return False


def pids_with_marker(marker: str) -> list[int]:
    """PIDs (other than ours) whose environment carries ``MARKER_ENV=marker``; only readable ones."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found: list[int] = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(pid)
    return found


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """One component: a command, its log file, and the process (a session leader, so a group of its own)."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    #: Run as this user id (e.g. PostgreSQL, which refuses root); ``None``: as ourselves.
    user: int | None = None
    #: Set by ``kill``: the process was ended on purpose (a simulated crash), its exit is no failure.
    killed: bool = False

    def start(self) -> None:
        """Start the command with stdout and stderr appended to ``log_path``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own argv
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env),
                start_new_session=True,
                user=self.user,
                preexec_fn=_die_with_parent,
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        """The leader's PID (also the group's id), or ``None`` before ``start``."""
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        """Whether the leader is still running."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> bool:
        """SIGKILL the whole group at once (a crash: no clean-up runs) and reap the leader.

        Returns whether the group is gone (always true for a process that had already exited).
        """
        gone = True
        if self.process is None:
            return gone
        self.killed = True
        # Only while the leader is unreaped: its PID (the group id) cannot have been reused by then. Members
        # that outlive their leader are found by the deployment's marker instead.
        if self.process.poll() is None:
            pgid = self.process.pid
            _signal_group(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            gone = _wait_group_gone(pgid, timeout=5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        return gone

    def terminate(self) -> None:
        """SIGTERM the whole group (a clean shutdown request)."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the leader to exit; return whether it did."""
        if self.process is None:
            return True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def describe_failure(self) -> str:
        """The exit code and the end of the log, for error messages."""
        code = self.process.poll() if self.process is not None else None
        return f"{self.name} exited with {code}; end of {self.log_path}:\n{tail(self.log_path)}"


@dataclass(frozen=True)
class EmulatorSpec:
    """How to run one Gen AI batch emulator as its own process (its CLI prints its base URL first)."""

    api_key: str = "emulator-api-key"
    job_seconds: float = 5.0
    pending_seconds: float = 0.5
    extra_args: tuple[str, ...] = ()
    startup_timeout: float = 30.0

    def argv(self) -> list[str]:
        """The command line (``genai-batch-emulator`` through the running interpreter), on 127.0.0.1."""
        return [
            sys.executable,
            "-m",
            "airflow_provider_genai_batch.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            self.api_key,
            "--job-seconds",
            str(self.job_seconds),
            "--pending-seconds",
            str(self.pending_seconds),
            *self.extra_args,
        ]


def wait_for_url_line(proc: ManagedProcess, timeout: float) -> str:
    """The first ``http://`` token the process writes to its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in tail(proc.log_path, 200).splitlines():
            for token in line.split():
                if token.startswith(("http://", "https://")):
                    return token.rstrip("/")
        if not proc.alive():
            raise AirflowError(proc.describe_failure())
        time.sleep(0.1)
    raise AirflowError(f"{proc.name} printed no URL within {timeout:.0f}s:\n{tail(proc.log_path)}")


class StateWatcher(threading.Thread):
    """A daemon thread running one wait-then-act function; ``result()`` joins it and re-raises its error."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        """Run the function, keeping its exception."""
        try:
            self._target_fn()
        except BaseException as exc:
            self.error = exc

    def result(self, timeout: float | None = None) -> None:
        """Wait for the function; raise its exception, or ``AirflowError`` if it is still running."""
        self.join(timeout)
        if self.is_alive():
            raise AirflowError(f"{self.name} still waiting after {timeout}s")
        if self.error is not None:
            raise self.error
