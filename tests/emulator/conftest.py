"""Fixtures for the emulator tests: the plugin's emulator with short job times, and SDK clients aimed at it."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from airflow_provider_genai_batch.emulator import EmulatorHandle

TERMINAL = {
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
}
FAST = {"pending_seconds": 0.05, "job_seconds": 0.2, "cancel_seconds": 0.1}


@pytest.fixture
def emu(genai_batch_emulator: EmulatorHandle) -> EmulatorHandle:
    """The plugin's emulator, reset, with short job times."""
    genai_batch_emulator.configure(**FAST)
    return genai_batch_emulator


@pytest.fixture(params=["v1", "v1beta"])
def api_version(request: pytest.FixtureRequest) -> str:
    """The Gemini API version: v1 is what SDK 3.x sends, v1beta what SDK 2.x sends."""
    return str(request.param)


@pytest.fixture
def gemini(emu: EmulatorHandle, api_version: str) -> genai.Client:
    """A Gemini Developer API client of the official SDK, aimed at the emulator."""
    return genai.Client(api_key=emu.api_key, http_options={"base_url": emu.base_url, "api_version": api_version})


@pytest.fixture
def vertex(emu: EmulatorHandle) -> genai.Client:
    """A Vertex AI client of the official SDK, aimed at the emulator (project and location are explicit)."""
    return genai.Client(
        vertexai=True,
        project="my-proj",
        location="us-central1",
        credentials=Credentials(token="fake"),
        http_options={"base_url": emu.base_url},
    )


def wait_done(fetch: Callable[[], types.BatchJob], *, attempts: int = 200) -> types.BatchJob:
    """Poll until the job is in a terminal state (``PARTIALLY_SUCCEEDED`` included)."""
    for _ in range(attempts):
        job = fetch()
        assert job.state is not None
        if job.state.name in TERMINAL:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job not done after {attempts} polls: {job.state}")
