"""The ``AIRFLOW__*`` environment shared by every component of a local deployment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Components started once each, in this order (triggerers and Celery workers are started N times on top).
CORE_COMPONENTS = ("api-server", "scheduler", "dag-processor")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
#: The api-server's metadata-database pool (Airflow's default is 5 + 10 overflow). Airflow 3.3 checks every
#: request's token for revocation with a synchronous query on the api-server's event loop (apache/airflow#66493;
#: the fix, apache/airflow#73422, is open): when a burst of task starts has checked out every pooled connection,
#: that query blocks the loop for the pool's 30 s timeout while the requests holding the connections wait for the
#: loop to release them. The crash matrix's 13 simultaneous task starts stalled 91 s that way (three timeouts) and
#: every cell missed its point. A pool larger than any burst here cannot run dry (PostgreSQL allows 300
#: connections, see ``database.py``; Airflow applies no pool settings to SQLite).
API_SERVER_ENV = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "10",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "50",
}


def airflow_env(
    *,
    home: Path,
    dags_folder: Path,
    api_port: int,
    connections: Mapping[str, Mapping[str, Any]] = {},
    parse_interval: int = 30,
    executor: str = "local",
    database_url: str | None = None,
    broker_url: str | None = None,
    result_backend: str | None = None,
) -> dict[str, str]:
    """The ``AIRFLOW__*`` settings of a fast local deployment (option names as in Airflow 3.3's config.yml).

    ``executor`` is ``local`` or ``celery`` (then ``broker_url`` and ``result_backend`` are required);
    ``database_url`` defaults to SQLite in ``home``.
    """
    api_url = f"http://127.0.0.1:{api_port}"
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS[executor],
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        # Local only: every request is an admin, no login (see scripts/local_airflow.py).
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url or f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        # A burst of task starts (the crash matrix starts 13 at once) can keep the one api-server worker busy for
        # tens of seconds on a loaded 2-core machine; the default 5 s made a task's first try die before execute().
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(parse_interval),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        # Triggers of a dead triggerer move to a live one once its heartbeat is this old.
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        "AIRFLOW__TRIGGERER__ON_KILL_TIMEOUT": "15",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    }
    if executor == "celery":
        if not broker_url or not result_backend:
            raise ValueError("the Celery executor needs a broker_url and a result_backend")
        env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "8",
                # A SIGKILLed worker's task instance stops heartbeating: the scheduler fails it (and so retries it
                # on another worker) after this many seconds instead of 5 minutes.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            }
        )
    for conn_id, spec in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(dict(spec))
    return env
