"""A real Airflow 3 deployment on one machine, for end-to-end tests and a local demo UI.

Two shapes. The fast default: ``airflow api-server`` (on a free port of 127.0.0.1), ``airflow scheduler``
(LocalExecutor), ``airflow dag-processor`` and ``airflow triggerer``, sharing one ``AIRFLOW_HOME`` with a SQLite
database. The production shape: a PostgreSQL server as the metadata database, the CeleryExecutor with a Redis
broker (results on PostgreSQL), N Celery workers and N triggerers, each its own process. Either shape can start
Gen AI batch emulators (``genai-batch-emulator``) as separate processes. Intervals are shortened so that a
deferrable task runs end to end in seconds. Connections come from ``AIRFLOW_CONN_*`` environment variables (JSON).

LOCAL USE ONLY: the API runs with ``[core] simple_auth_manager_all_admins = True``, so anyone who can reach
127.0.0.1 is an admin without logging in. PostgreSQL runs with ``fsync=off``.

Library use::

    with LocalAirflow(dags_folder=Path("tests/e2e/dags"), emulators={"default": EmulatorSpec(api_key="k")}) as airflow:
        airflow.wait_for_dags(["my_dag"])
        run_id = airflow.trigger_dag("my_dag", conf={"x": 1})
        airflow.wait_for_task_state("my_dag", run_id, "my_task", {"success"}, timeout=60)

Command line (``make demo-ui``, ``make demo-ui SHAPE=production``)::

    python scripts/local_airflow.py up --dags example_dags [--executor celery --database postgres
        --triggerers 2 --workers 2] [--port 8080] [--home DIR] [--restart-dead]
    python scripts/local_airflow.py status --home DIR
    python scripts/local_airflow.py restart triggerer-2 --home DIR
    python scripts/local_airflow.py run-dag DAG_ID --home DIR [--conf JSON] [--timeout S]

A component's death does not stop ``up`` (as in a real deployment, the others carry on: a dead triggerer's
triggers move to a live one, a dead worker's tasks are retried on another): ``up`` prints the death, ends what is
left of that component's process group, and records it; ``status`` lists it under ``dead`` and exits 3 (its
``exit_code`` is null for the second before ``up`` has recorded it);
``restart NAME`` starts it again (any Airflow component; not the database, the broker or an emulator), and
``up --restart-dead`` restarts each dead Airflow component, as a supervisor would: at once after a run of a minute
or more; after 5 s, doubling up to 2 min, while it dies within a minute of each start
(``scripts/deployment/backoff.py``).

Start-up, measured on a shared 2-core machine: 15 to 30 s from nothing to a healthy SQLite deployment (the
database is a copy of a migrated SQLite file cached once per machine and Airflow version, under a second; then the
four components, started together, 15 to 28 s until the health endpoint reports all of them). The production shape
(2 triggerers, 2 workers): 35 to 45 s, of which the PostgreSQL server from the migrated template about 1 s
(building either template, once per machine and Airflow version: 10 to 21 s) and the components 34 to 41 s.
``timings`` holds the phases of each start.

Clean-up: every process is started in its own session (process group) and, on Linux, asks the kernel to send it
SIGTERM when its parent dies. ``stop()`` (also run at interpreter exit) terminates each group, then kills any
process still carrying this deployment's marker in its environment, so no orphan survives a failing test.

The parts live in ``scripts/deployment/`` (one module per concern); this module re-exports them.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``scripts.deployment`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.deployment.cli import RunningDeployment, main
from scripts.deployment.core import ConnectionsArg, ConnectionSpecs, LocalAirflow
from scripts.deployment.database import PostgresServer, SqliteDatabase, redact_url
from scripts.deployment.env import airflow_env
from scripts.deployment.inspect import TriggerRecorder, TriggerRow
from scripts.deployment.processes import (
    MARKER_ENV,
    AirflowError,
    EmulatorSpec,
    ManagedProcess,
    StateWatcher,
    free_port,
)
from scripts.deployment.rest import FINISHED_STATES

__all__ = [
    "FINISHED_STATES",
    "MARKER_ENV",
    "AirflowError",
    "ConnectionSpecs",
    "ConnectionsArg",
    "EmulatorSpec",
    "LocalAirflow",
    "ManagedProcess",
    "PostgresServer",
    "RunningDeployment",
    "SqliteDatabase",
    "StateWatcher",
    "TriggerRecorder",
    "TriggerRow",
    "airflow_env",
    "free_port",
    "main",
    "redact_url",
]

if __name__ == "__main__":
    sys.exit(main())
