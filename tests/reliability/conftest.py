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
from tests.reliability.holding_proxy import HoldingProxy

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
        storage_base_url=emulator.base_url,
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
    proxies: dict[str, HoldingProxy]  # cells whose connection goes through a proxy, by cell id
    results_dir: Path


def _crash_connections(
    emulators: dict[str, EmulatorHandle], proxies: dict[str, HoldingProxy]
) -> dict[str, dict[str, Any]]:
    from tests.reliability.crash_cells import CELLS

    connections: dict[str, dict[str, Any]] = {}
    for cell in CELLS:
        host = proxies[cell.id].base_url if cell.id in proxies else emulators[cell.id].base_url
        if cell.vertex:
            # GCS goes where storage_base_url says (never derived from the host): the cell's emulator.
            extra = {
                "backend": "vertex",
                "project": VERTEX_PROJECT,
                "access_token": "crash-token",
                "storage_base_url": emulators[cell.id].base_url,
            }
            connections[cell.conn_id] = {"conn_type": "genai_batch", "host": host, "extra": extra}
        else:
            connections[cell.conn_id] = {"conn_type": "genai_batch", "host": host, "password": CRASH_API_KEY}
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

    Its AIRFLOW_HOME (logs) is a pytest temporary directory (pytest keeps the last few); its metadata database is
    a PostgreSQL server of its own (LocalExecutor: the crash matrix kills task processes by their title).
    """
    import os

    from airflow_provider_genai_batch.emulator import run_emulator
    from scripts.local_airflow import LocalAirflow
    from tests.reliability.crash_cells import CELLS, RESULTS_DIR_ENV

    results_dir = tmp_path_factory.mktemp("crash-results")
    home = tmp_path_factory.mktemp("crash-airflow-home")
    repo = Path(__file__).resolve().parents[2]
    with ExitStack() as stack:
        emulators = {
            name: stack.enter_context(
                run_emulator(api_key=CRASH_API_KEY, job_seconds=CRASH_JOB_SECONDS, pending_seconds=1.0)
            )
            for name in [cell.id for cell in CELLS] + ["ha"]
        }
        proxies = {
            cell.id: stack.enter_context(HoldingProxy(emulators[cell.id].base_url))
            for cell in CELLS
            if cell.point == "after_create_before_save"
        }
        airflow = LocalAirflow(
            dags_folder=Path(__file__).parent / "dags",
            home=home,
            connections=_crash_connections(emulators, proxies),
            extra_env={
                "PYTHONPATH": os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH", "")) if p),
                RESULTS_DIR_ENV: str(results_dir),
                "AIRFLOW__CORE__PARALLELISM": "16",
            },
            parse_interval=600,
            # PostgreSQL, as in production: HA triggerers need its row locks (they do nothing on SQLite).
            database="postgres",
            stop_grace=3.0,  # thrown away after the package: no need for a graceful exit
        )
        stack.enter_context(airflow)
        yield CrashDeployment(airflow, emulators, proxies, results_dir)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Within this package, the tests on the real deployment run last and together (crash matrix, then HA), so
    the deployment (package-scoped) is up only while they run; every other item keeps its place."""
    here = Path(__file__).parent
    positions = [i for i, item in enumerate(items) if here in Path(str(item.path)).parents]
    ours = [items[i] for i in positions]
    order = {"test_crash_matrix.py": 1, "test_ha_triggerers.py": 2}
    ours.sort(key=lambda item: order.get(Path(str(item.path)).name, 0))
    for position, item in zip(positions, ours, strict=True):
        items[position] = item
