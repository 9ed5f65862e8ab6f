"""Many concurrent pollers: 2,000 simultaneous ``GET batches/{id}``, each on its own connection, all succeed.

The requests are spread over 100 async clients of 20 connections each: one httpx pool of 2,000 connections
spends seconds scanning itself, which would measure the client rather than the emulator.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import httpx
import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle

POLLERS = 2000
CLIENTS = 100


@pytest.mark.slow
async def test_two_thousand_concurrent_pollers(emu: EmulatorHandle) -> None:
    emu.add_outcome("STUCK_PENDING")
    per_client = POLLERS // CLIENTS
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    headers = {"x-goog-api-key": emu.api_key}
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=emu.base_url, headers=headers, limits=limits, timeout=60)
            )
            for _ in range(CLIENTS)
        ]
        body = {
            "batch": {
                "inputConfig": {"requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "x"}]}]}}]}}
            }
        }
        name = (await clients[0].post("/v1/models/m:batchGenerateContent", json=body)).json()["name"]
        responses = await asyncio.gather(*(clients[i % CLIENTS].get(f"/v1/{name}") for i in range(POLLERS)))
    assert [r.status_code for r in responses] == [200] * POLLERS
    assert {r.json()["metadata"]["state"] for r in responses} == {"BATCH_STATE_PENDING"}
    assert emu.stats()["requests"]["gemini.batches.get"] == POLLERS
