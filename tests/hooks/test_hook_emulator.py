"""GenAIBatchHook against the emulator over real HTTP: verbs, client sharing, look-up by key, test_connection."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_genai_batch.client import AsyncGenAIBatchClient, GenAIBatchClient, NotFoundError
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks import client_cache
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.policy.idempotency import display_name_with_key, labels_with_key
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID, set_connection

KEY = "0123456789abcdef01234567"


def test_verbs_on_gemini(emulator: EmulatorHandle) -> None:
    hook = GenAIBatchHook()
    job = hook.create_job(model="gemini-2.5-flash", src=["one", "two"], config={"display_name": "verbs"})
    assert hook.get_job(job.name).name == job.name
    assert [j.name for j in hook.list_jobs(page_size=1)] == [job.name]
    emulator.finish_job(job.name)
    results = sorted(hook.iter_results(job.name), key=lambda r: r.index)  # the service's order is any
    assert [r.text for r in results] == ["echo: one", "echo: two"]
    hook.delete_job(job.name)
    with pytest.raises(NotFoundError):
        hook.get_job(job.name)


def test_cancel(emulator: EmulatorHandle) -> None:
    emulator.add_outcome("STUCK_PENDING")
    hook = GenAIBatchHook()
    job = hook.create_job(model="gemini-2.5-flash", src=["x"])
    hook.cancel_job(job.name)
    assert hook.get_job(job.name).state.short == "CANCELLED"
    assert emulator.stats()["cancels"]["gemini"] == 1


def test_one_sync_client_per_connection(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    first = GenAIBatchHook().get_conn()
    assert isinstance(first, GenAIBatchClient)
    assert GenAIBatchHook().get_conn() is first
    assert GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID).get_conn() is not first
    set_connection(
        monkeypatch, GEMINI_CONN_ID, {"conn_type": "genai_batch", "host": emulator.base_url, "password": "k2"}
    )
    assert GenAIBatchHook().get_conn() is not first


async def test_one_async_client_per_loop_and_connection(emulator: EmulatorHandle) -> None:
    hooks = [GenAIBatchHook() for _ in range(5)]
    clients = await asyncio.gather(*(hook.aget_conn() for hook in hooks))
    assert all(isinstance(c, AsyncGenAIBatchClient) for c in clients)
    assert len({id(c) for c in clients}) == 1
    job = await asyncio.to_thread(GenAIBatchHook().create_job, model="gemini-2.5-flash", src=["a"])
    assert (await hooks[0].aget_job(job.name)).name == job.name
    await client_cache.close_loop_clients()


def test_async_clients_are_not_shared_between_loops(emulator: EmulatorHandle) -> None:
    async def get() -> AsyncGenAIBatchClient:
        client = await GenAIBatchHook().aget_conn()
        await client_cache.close_loop_clients()
        return client

    assert asyncio.run(get()) is not asyncio.run(get())


def test_find_gemini_job_by_key(emulator: EmulatorHandle) -> None:
    hook = GenAIBatchHook()
    hook.create_job(model="gemini-2.5-flash", src=["other"], config={"display_name": "unrelated"})
    mine = hook.create_job(
        model="gemini-2.5-flash", src=["x"], config={"display_name": display_name_with_key("t", task_id="t", key=KEY)}
    )
    found = hook.find_job_by_key(KEY)
    assert found is not None and found.name == mine.name
    assert hook.find_job_by_key("f" * 24) is None


def test_find_vertex_job_by_label(emulator: EmulatorHandle) -> None:
    emulator.put_object(
        "input-bucket", "requests.jsonl", b'{"request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}}\n'
    )
    hook = GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID)
    mine = hook.create_job(
        model="gemini-2.5-flash",
        src="gs://input-bucket/requests.jsonl",
        config={"dest": "gs://output-bucket/run", "labels": labels_with_key(None, KEY), "display_name": "v"},
    )
    found = hook.find_job_by_key(KEY)
    assert found is not None and found.name == mine.name
    assert emulator.stats()["requests"]["vertex.jobs.list"] == 1


def test_test_connection_ok(emulator: EmulatorHandle) -> None:
    ok, message = GenAIBatchHook().test_connection()
    assert ok, message
    assert emulator.base_url in message
    assert emulator.api_key not in message


def test_test_connection_with_a_wrong_key_names_no_secret(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "wrong-secret-key-123"
    set_connection(
        monkeypatch, GEMINI_CONN_ID, {"conn_type": "genai_batch", "host": emulator.base_url, "password": secret}
    )
    ok, message = GenAIBatchHook().test_connection()
    assert not ok
    assert "API key not valid" in message
    assert secret not in message


def test_test_connection_with_bad_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
        monkeypatch,
        GEMINI_CONN_ID,
        {"conn_type": "genai_batch", "password": "secret-value-9", "extra": json.dumps({"backend": "bard"})},
    )
    ok, message = GenAIBatchHook().test_connection()
    assert not ok
    assert "backend" in message and "secret-value-9" not in message


def test_secrets_are_masked_in_logs(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    token = "vertex-static-token-abc"
    set_connection(
        monkeypatch,
        VERTEX_CONN_ID,
        {
            "conn_type": "genai_batch",
            "host": emulator.base_url,
            "extra": {"backend": "vertex", "project": "p", "access_token": token},
        },
    )
    GenAIBatchHook(genai_batch_conn_id=VERTEX_CONN_ID).get_settings()
    assert token not in str(redact(f"the token is {token}"))


def test_repr_has_no_secret(emulator: EmulatorHandle) -> None:
    hook = GenAIBatchHook()
    hook.get_conn()
    assert emulator.api_key not in repr(hook)
    assert emulator.api_key not in repr(hook.get_settings())


def test_hooks_of_one_connection_share_one_settings_object(emulator: EmulatorHandle) -> None:
    """Thousands of triggers of one connection keep one ClientSettings, not one each (memory per trigger)."""
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    first, second = GenAIBatchHook(), GenAIBatchHook()
    assert first.get_settings() is second.get_settings()
    assert first.get_settings() is not GenAIBatchHook(genai_batch_conn_id="genai_batch_vertex").get_settings()
