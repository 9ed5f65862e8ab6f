"""Test session set-up: a private AIRFLOW_HOME, a metadata DB made once (only for tests that need it), and
Airflow connections to the emulator through ``AIRFLOW_CONN_<ID>`` environment variables.

The environment is set when this module is imported, before any test module imports Airflow (Airflow reads
``AIRFLOW_HOME`` at import time).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="genai-batch-airflow-home-"))
_DAGS_FOLDER = _AIRFLOW_HOME / "dags"
_DAGS_FOLDER.mkdir()
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"

if TYPE_CHECKING:
    from airflow_provider_genai_batch.emulator.server import EmulatorHandle

GEMINI_CONN_ID = "genai_batch_default"
VERTEX_CONN_ID = "genai_batch_vertex"
VERTEX_PROJECT = "test-project"
VERTEX_LOCATION = "us-central1"
STAGING_BUCKET = "staging-bucket"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's AIRFLOW_HOME."""
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    """The session's dags folder (``dag.test()`` needs the DAG file there)."""
    return _DAGS_FOLDER


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The metadata DB, created once per session in-process (about 4 s; ``airflow db migrate`` is slower)."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    """Each test builds its own clients (the hook caches one per connection per process)."""
    yield
    from sys import modules

    cache = modules.get("airflow_provider_genai_batch.hooks.client_cache")
    if cache is not None:
        cache.clear_sync_clients()


def gemini_connection(emulator: EmulatorHandle) -> dict[str, Any]:
    """A ``genai_batch`` connection to the emulator's Gemini API."""
    return {"conn_type": "genai_batch", "host": emulator.base_url, "password": emulator.api_key}


def vertex_connection(emulator: EmulatorHandle) -> dict[str, Any]:
    """A ``genai_batch`` connection to the emulator's Vertex AI API (a static token: the emulator accepts any)."""
    return {
        "conn_type": "genai_batch",
        "host": emulator.base_url,
        "extra": {
            "backend": "vertex",
            "project": VERTEX_PROJECT,
            "location": VERTEX_LOCATION,
            "access_token": "emulator-token",
            "gcs_staging_prefix": f"gs://{STAGING_BUCKET}/staging",
        },
    }


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, connection: dict[str, Any]) -> None:
    """Define an Airflow connection through its environment variable."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


@pytest.fixture
def emulator(genai_batch_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    """A fresh emulator with both connections defined: ``genai_batch_default`` (Gemini) and
    ``genai_batch_vertex`` (Vertex AI)."""
    set_connection(monkeypatch, GEMINI_CONN_ID, gemini_connection(genai_batch_emulator))
    set_connection(monkeypatch, VERTEX_CONN_ID, vertex_connection(genai_batch_emulator))
    return genai_batch_emulator
