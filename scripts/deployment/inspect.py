"""Inspection of a local deployment: SQL on its metadata database (SQLite or PostgreSQL), the ``trigger`` table
(decrypted when Airflow encrypted it), and its log files."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.deployment.database import MetadataDatabase, SqliteDatabase


@dataclass(frozen=True)
class TriggerRow:
    """One row of the ``trigger`` table; ``kwargs_text`` is the stored text (decrypted when it was encrypted)."""

    id: int
    classpath: str
    raw_kwargs: str
    kwargs_text: str
    triggerer_id: int | None

    @property
    def kwargs(self) -> Any:
        """The kwargs as JSON (Airflow's serialized form), or the text when it is not JSON."""
        try:
            return json.loads(self.kwargs_text)
        except ValueError:
            return self.kwargs_text


class TriggerRecorder(threading.Thread):
    """A daemon thread that samples the ``trigger`` table and keeps every distinct row it saw."""

    def __init__(self, deployment: Inspection, interval: float) -> None:
        super().__init__(name="trigger-recorder", daemon=True)
        self._deployment = deployment
        self._interval = interval
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._seen: dict[tuple[int, str], TriggerRow] = {}

    def run(self) -> None:
        """Sample until ``stop``; a failed read (database busy, deployment stopping) is skipped."""
        while not self._stop_event.wait(self._interval):
            self.sample()

    def sample(self) -> None:
        """Read the table once."""
        try:
            rows = self._deployment.trigger_rows()
        except self._deployment.db.errors:
            return
        with self._lock:
            for row in rows:
                self._seen.setdefault((row.id, row.raw_kwargs), row)

    def stop(self) -> None:
        """Stop sampling."""
        self._stop_event.set()

    @property
    def rows(self) -> list[TriggerRow]:
        """Every distinct row seen so far (by id and stored kwargs)."""
        with self._lock:
            return list(self._seen.values())


class Inspection:
    """Reads of the database and logs; mixed into ``LocalAirflow`` (which provides ``home`` and ``db``)."""

    home: Path | None
    _env: dict[str, str]
    _db: MetadataDatabase | None

    @property
    def log_dir(self) -> Path:
        """Where the components' own stdout/stderr go (task and trigger logs are under ``home/logs``)."""
        assert self.home is not None
        return self.home / "process-logs"

    @property
    def db(self) -> MetadataDatabase:
        """The metadata database (SQLite in the home unless the deployment runs PostgreSQL)."""
        if self._db is None:
            assert self.home is not None
            return SqliteDatabase(self.home / "airflow.db")
        return self._db

    @property
    def database_path(self) -> Path:
        """The SQLite metadata database (meaningless on PostgreSQL)."""
        assert self.home is not None
        return self.home / "airflow.db"

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run a read-only query on the metadata database (``?`` placeholders on both databases); rows as dicts."""
        return self.db.query(sql, params)

    def tables(self) -> list[str]:
        """Names of the metadata database's tables."""
        return self.db.tables()

    def trigger_rows(self) -> list[TriggerRow]:
        """The ``trigger`` table now (triggers are deleted once no task waits on them)."""
        rows = self.query("SELECT id, classpath, kwargs, triggerer_id FROM trigger ORDER BY id")
        return [
            TriggerRow(
                id=row["id"],
                classpath=row["classpath"],
                raw_kwargs=row["kwargs"],
                kwargs_text=self._decrypt(row["kwargs"]),
                triggerer_id=row["triggerer_id"],
            )
            for row in rows
        ]

    def trigger_row_for(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> TriggerRow | None:
        """The trigger a deferred task instance waits on, or ``None``."""
        rows = self.query(
            "SELECT trigger_id FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?",
            (dag_id, run_id, task_id, map_index),
        )
        trigger_id = rows[0]["trigger_id"] if rows else None
        return next((row for row in self.trigger_rows() if row.id == trigger_id), None)

    def record_triggers(self, interval: float = 0.5) -> TriggerRecorder:
        """Start keeping every ``trigger`` row seen from now on (rows are deleted when their task resumes)."""
        recorder = TriggerRecorder(self, interval)
        recorder.start()
        return recorder

    def fernet_key(self) -> str | None:
        """The fernet key Airflow generated into ``airflow.cfg`` (or was given)."""
        if key := self._env.get("AIRFLOW__CORE__FERNET_KEY"):
            return key
        assert self.home is not None
        cfg = self.home / "airflow.cfg"
        if not cfg.exists():
            return None
        for line in cfg.read_text().splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "fernet_key" and value.strip():
                return value.strip()
        return None

    def _decrypt(self, text: str) -> str:
        """Airflow's encrypted columns in clear; plain text is returned as it is."""
        if not text or text.lstrip().startswith(("{", "[")):
            return text
        key = self.fernet_key()
        if not key:
            return text
        from cryptography.fernet import Fernet, InvalidToken, MultiFernet

        try:
            fernet = MultiFernet([Fernet(k.strip().encode()) for k in key.split(",")])
            return fernet.decrypt(text.encode()).decode()
        except (InvalidToken, ValueError):
            return text

    def log_files(self, *, include_emulators: bool = True) -> list[Path]:
        """Every component, task and trigger log file (the emulators' own logs unless told otherwise)."""
        assert self.home is not None
        found = [p for p in self.log_dir.rglob("*") if p.is_file()]
        if not include_emulators:
            found = [p for p in found if not p.name.startswith("emulator-")]
        found += [p for p in (self.home / "logs").rglob("*") if p.is_file()]
        return sorted(found)

    def logs_text(self, *, include_emulators: bool = True) -> str:
        """All logs concatenated, each file introduced by a ``==> path <==`` line."""
        files = self.log_files(include_emulators=include_emulators)
        return "\n".join(f"==> {p} <==\n{p.read_text(errors='replace')}" for p in files)

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """The task's attempt logs and trigger logs (``attempt=N.log``, ``attempt=N.log.trigger.<id>.log``)."""
        assert self.home is not None
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        """The task's logs, attempt and trigger logs together."""
        return "\n".join(
            f"==> {p.name} <==\n{p.read_text(errors='replace')}" for p in self.task_log_files(dag_id, run_id, task_id)
        )
