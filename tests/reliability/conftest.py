"""Fixtures of the reliability suite: client settings aimed at the session's emulator, async-client clean-up, and
a real Airflow deployment (package-scoped, started on first use) for the crash matrix and the HA triggerers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_genai_batch.client import ClientSettings
from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.conftest import STAGING_BUCKET, VERTEX_LOCATION, VERTEX_PROJECT

if TYPE_CHECKING:
    from scripts.local_airflow import LocalAirflow


def gemini_settings(emulator: EmulatorHandle, **overrides: object) -> ClientSettings:
    """Client settings for the emulator's Gemini API."""
    return ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url, **overrides)


def vertex_settings(emulator: EmulatorHandle, *, staging: bool = True, **overrides: object) -> ClientSettings:
    """Client settings for the emulator's Vertex AI API (a static token: the emulator accepts any)."""
    return ClientSettings(
        backend="vertex",
        project=VERTEX_PROJECT,
        location=VERTEX_LOCATION,
        access_token="emulator-token",
        base_url=emulator.base_url,
        gcs_staging_prefix=f"gs://{STAGING_BUCKET}/staging" if staging else None,
        **overrides,
    )


@pytest.fixture
async def close_async_clients() -> AsyncIterator[None]:
    """Close the running loop's cached async clients after an async test (the hook caches one per loop)."""
    yield
    from airflow_provider_genai_batch.hooks import client_cache

    await client_cache.close_loop_clients()


# --- a real Airflow deployment for the crash matrix and the HA triggerers -----------------------------------------


@dataclass
class CrashDeployment:
    """The package's real Airflow (``scripts/local_airflow.py``), one in-process emulator per crash cell (plus
    ``ha``), and where the results writers write."""

    airflow: LocalAirflow
    emulators: dict[str, EmulatorHandle]
    results_dir: Path


def _crash_connections(emulators: dict[str, EmulatorHandle]) -> dict[str, dict[str, Any]]:
    from tests.reliability.crash_cells import CELLS

    connections: dict[str, dict[str, Any]] = {}
    for cell in CELLS:
        emulator = emulators[cell.id]
        if cell.vertex:
            extra = {"backend": "vertex", "project": VERTEX_PROJECT, "access_token": "crash-token"}
            connections[cell.conn_id] = {"conn_type": "genai_batch", "host": emulator.base_url, "extra": extra}
        else:
            connections[cell.conn_id] = {
                "conn_type": "genai_batch",
                "host": emulator.base_url,
                "password": CRASH_API_KEY,
            }
    ha = emulators["ha"]
    connections[HA_CONN_ID] = {"conn_type": "genai_batch", "host": ha.base_url, "password": CRASH_API_KEY}
    return connections


CRASH_API_KEY = "AIzaSyRELIABILITY-crash-" + "0123456789abcdef"
HA_CONN_ID = "rel_ha"
#: A job lasts this long unless a cell holds it (Airflow races a deferral against a trigger that fires within a
#: few seconds, apache/airflow#67287, so jobs last longer than that).
CRASH_JOB_SECONDS = 10.0


@pytest.fixture(scope="package")
def crash_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashDeployment]:
    """Started once for the package, on first use (by the crash matrix or the HA test); stopped after its tests.

    The AIRFLOW_HOME is kept when ``RELIABILITY_KEEP_AIRFLOW_HOME`` is set.
    """
    import os

    from airflow_provider_genai_batch.emulator import run_emulator
    from scripts.local_airflow import LocalAirflow
    from tests.reliability.crash_cells import CELLS, RESULTS_DIR_ENV

    results_dir = tmp_path_factory.mktemp("crash-results")
    repo = Path(__file__).resolve().parents[2]
    with ExitStack() as stack:
        emulators = {
            name: stack.enter_context(
                run_emulator(api_key=CRASH_API_KEY, job_seconds=CRASH_JOB_SECONDS, pending_seconds=1.0)
            )
            for name in [cell.id for cell in CELLS] + ["ha"]
        }
        airflow = LocalAirflow(
            dags_folder=Path(__file__).parent / "dags",
            connections=_crash_connections(emulators),
            extra_env={
                "PYTHONPATH": os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH", "")) if p),
                RESULTS_DIR_ENV: str(results_dir),
                "AIRFLOW__CORE__PARALLELISM": "16",
            },
            parse_interval=600,
            keep_home=bool(os.environ.get("RELIABILITY_KEEP_AIRFLOW_HOME")),
        )
        stack.enter_context(airflow)
        yield CrashDeployment(airflow, emulators, results_dir)
