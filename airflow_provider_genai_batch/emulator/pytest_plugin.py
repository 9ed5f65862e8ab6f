"""Pytest plugin: the ``genai_batch_emulator`` fixture.

Registered through the ``pytest11`` entry point, so every test session loads this module. It only imports
pytest: starlette and uvicorn are imported the first time a test asks for the fixture.

One emulator server is started per test session (per xdist worker) and reset before every test, so each test
sees an empty emulator with the default settings::

    def test_my_dag(genai_batch_emulator):
        genai_batch_emulator.configure(job_seconds=0.1)
        client = genai.Client(api_key=genai_batch_emulator.api_key,
                              http_options={"base_url": genai_batch_emulator.base_url})
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_genai_batch.emulator.server import EmulatorHandle


@pytest.fixture(scope="session")
def genai_batch_emulator_server() -> Iterator[EmulatorHandle]:
    """The session-wide emulator server; prefer ``genai_batch_emulator``, which resets it for each test."""
    from airflow_provider_genai_batch.emulator.server import run_emulator

    with run_emulator() as handle:
        yield handle


@pytest.fixture
def genai_batch_emulator(genai_batch_emulator_server: EmulatorHandle) -> EmulatorHandle:
    """A running emulator, reset to an empty state and the default settings before the test."""
    genai_batch_emulator_server.reset()
    return genai_batch_emulator_server
