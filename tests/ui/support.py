"""What the UI boundary tests share: the users of the threat model, Airflow's own REST API (through which an
editor of a DAG writes XComs), and DAG runs whose jobs the UI shows.

The users (``tests/ui/auth_manager.py`` decides what each may do):

- ``admin``: role ADMIN, every DAG and connection;
- ``viewer``: role VIEWER, reads every DAG, edits none, reads no connection;
- ``outsider``: role ADMIN on everything except the DAGs in ``DENIED["outsider"]`` (no access at all there);
- ``editor_a``: role USER (edits DAGs, reads no connection), no access at all to team B's DAG;
- anonymous: no token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.timings import FAST

PROMPTS = [{"contents": "alpha", "metadata": {"key": "a"}}, {"contents": "beta", "metadata": {"key": "b"}}]
#: Username and role of each signed-in actor.
USERS: dict[str, tuple[str, str | None]] = {
    "admin": ("admin1", "ADMIN"),
    "viewer": ("viewer1", "VIEWER"),
    "outsider": ("outsider", "ADMIN"),
    "editor_a": ("editor_a", "USER"),
    "no_role": ("nobody", None),
}


def auth(token: str) -> dict[str, str]:
    """The bearer header of a JWT."""
    return {"Authorization": f"Bearer {token}"}


def headers_of(token: Any, actor: str) -> dict[str, str]:
    """The request headers of ``actor`` (``anonymous``: none)."""
    if actor == "anonymous":
        return {}
    username, role = USERS[actor]
    return auth(token(username, role))


def run_create(run_dag: Any, dag_id: str, **kwargs: Any) -> Any:
    """One create task ``create`` in DAG ``dag_id``, run for real against the emulator."""
    task = {"class": "GenAIBatchCreateJobOperator", "task_id": "create", "model": "gemini-2.5-flash", "src": PROMPTS}
    result = run_dag({"dag_id": dag_id, "tasks": [{**task, **FAST, **kwargs}], "retries": 0})
    assert result.task_states["create"] == "success", result.output[-2000:]
    return result


@pytest.fixture
def rest(auth_manager: Any) -> Iterator[TestClient]:
    """Airflow's own public REST API (``/api/v2``), served in-process with the same auth manager."""
    from airflow.api_fastapi.app import create_app

    with TestClient(create_app(apps="core"), base_url="http://airflow") as client:
        yield client


def write_xcom(rest: TestClient, headers: dict[str, str], dag_id: str, run_id: str, key: str, value: Any) -> None:
    """Write (create or replace) one XCom of task ``create`` through the REST API, as the user of ``headers``."""
    base = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/create/xcomEntries"
    response = rest.patch(f"{base}/{key}", json={"value": value, "map_index": -1}, headers=headers)
    if response.status_code == 404:
        response = rest.post(base, json={"key": key, "value": value, "map_index": -1}, headers=headers)
    assert response.status_code in (200, 201), response.text
