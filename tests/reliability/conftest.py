"""Fixtures of the reliability suite: client settings aimed at the session's emulator, and async-client clean-up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from airflow_provider_genai_batch.client import ClientSettings
from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.conftest import STAGING_BUCKET, VERTEX_LOCATION, VERTEX_PROJECT


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
