"""``make demo``: run the inline example DAG through Airflow against the local emulator and show what happened.

No Google account and no network: the emulator serves the Gemini batch API on 127.0.0.1. The create operator
runs in deferrable mode, so the job is watched by the provider's trigger (``dag.test()`` runs triggers in line).
A separate observer polls the job with the client to show the states it went through.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAG_FILE = ROOT / "example_dags" / "gemini_inline.py"
DAG_ID = "genai_batch_gemini_inline"
CREATE_TASK = "answer_questions"


def prepare_environment(home: Path) -> None:
    """A private AIRFLOW_HOME with only the demo DAG; must run before Airflow is imported."""
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key(),
            "GENAI_BATCH_FIRST_POLL_SECONDS": "1",
            "GENAI_BATCH_RESULTS_DIR": str(home / "results"),
        }
    )


def fernet_key() -> str:
    """A throw-away key for the demo's throw-away metadata DB."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class Observer(threading.Thread):
    """Polls the demo job with the client and records every change of state or progress."""

    def __init__(self, emulator: Any) -> None:
        super().__init__(daemon=True)
        self.emulator = emulator
        self.started = time.monotonic()
        self.seen: list[str] = []
        self.job_name: str | None = None
        self.polls = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient

        settings = ClientSettings(backend="gemini", api_key=self.emulator.api_key, base_url=self.emulator.base_url)
        last = ""
        with GenAIBatchClient(settings) as client:
            while not self._stop_event.wait(0.25):
                jobs = self.emulator.stats()["jobs"]
                if not jobs:
                    continue
                job = client.batches.get(name=jobs[0]["name"])
                self.polls += 1
                self.job_name = job.name
                counts = job.request_counts
                line = f"{job.state.short:<10} {counts.done}/{counts.total or '?'} requests done"
                if line != last:
                    elapsed = time.monotonic() - self.started
                    self.seen.append(f"  [{elapsed:5.1f} s] {job.name}  {line}")
                    print(self.seen[-1], flush=True)
                    last = line
                if job.done:
                    return

    def stop(self) -> None:
        self._stop_event.set()


def xcom_value(dag_run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value")
            .one_or_none()
        )
        value = None if row is None else row.value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="genai-batch-demo-"))
    prepare_environment(home)
    from airflow_provider_genai_batch.emulator import run_emulator

    started = time.monotonic()
    with run_emulator(api_key="demo-key-not-a-secret", pending_seconds=1.5, job_seconds=4.0) as emulator:
        os.environ["AIRFLOW_CONN_GENAI_BATCH_DEFAULT"] = json.dumps(
            {"conn_type": "genai_batch", "host": emulator.base_url, "password": emulator.api_key}
        )
        print(f"Emulator of the Gemini batch API at {emulator.base_url} (offline, no Google account)")
        print(f"AIRFLOW_HOME={home}")
        from airflow.utils.db import initdb

        logging.disable(logging.INFO)
        initdb()
        try:
            from airflow.dag_processing.dagbag import DagBag
        except ImportError:  # Airflow < 3.2
            from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
        dag = DagBag(dag_folder=str(home / "dags")).dags[DAG_ID]
        print(f"Running DAG {DAG_ID}: {', '.join(dag.task_ids)} (create operator deferrable=True)")
        observer = Observer(emulator)
        observer.start()
        dag_run = dag.test()
        observer.stop()
        observer.join(timeout=5)
        logging.disable(logging.NOTSET)
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
        manifest = xcom_value(dag_run, CREATE_TASK)
        answers = xcom_value(dag_run, "summarise") or {}
        stats = emulator.stats()

    print()
    print(f"DAG run {dag_run.run_id}: {dag_run.state}")
    print("Task states: " + ", ".join(f"{task}={state}" for task, state in states.items()))
    print(f"Job: {manifest and manifest.get('job_name')}  (jobs created on the server: {stats['jobs_created']})")
    print(f"States seen by an observer polling the job: {' -> '.join(line.split()[4] for line in observer.seen)}")
    trigger_polls = stats["requests"].get("gemini.batches.get", 0) - observer.polls
    print(f"Polls of the job by the provider's operator and trigger: {trigger_polls}")
    print("XCom manifest (the task's return value, never the results):")
    print("  " + json.dumps(manifest, indent=None, sort_keys=True))
    print("First results (read by the downstream task from the results file):")
    for key, text in list(answers.items())[:3]:
        print(f"  {key}: {text}")
    print(f"Done in {time.monotonic() - started:.1f} s.")
    ok = str(dag_run.state) in ("success", "DagRunState.SUCCESS") and stats["jobs_created"] == 1
    shutil.rmtree(home, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
