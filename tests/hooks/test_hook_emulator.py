"""GenAIBatchHook against the emulator over real HTTP: verbs, client sharing, look-up by key, test_connection."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_genai_batch.client import AsyncGenAIBatchClient, BatchJob, GenAIBatchClient, NotFoundError
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


def test_a_finished_job_found_by_key_is_read_again_not_taken_from_the_sparse_list(emulator: EmulatorHandle) -> None:
    """Gemini list entries are sparse (no ``output``) and a finished job's counts there are stale (every request
    pending). Before: ``find_job_by_key`` returned the list entry, so a reattached finished job said it had no
    results and 0 succeeded requests. The look-up reads a keyed entry again (one ``get``) before it answers."""
    hook = GenAIBatchHook()
    hook.create_job(model="gemini-2.5-flash", src=["other"], config={"display_name": "unrelated"})
    mine = hook.create_job(
        model="gemini-2.5-flash",
        src=["x", "y"],
        config={"display_name": display_name_with_key("t", task_id="t", key=KEY)},
    )
    emulator.finish_job(mine.name)
    listed = {job.name: job for job in hook.list_jobs()}[mine.name]
    assert listed.dest is None and listed.request_counts.succeeded == 0  # what the list says
    gets = emulator.stats()["requests"].get("gemini.batches.get", 0)
    found = hook.find_job_by_key(KEY)
    assert found is not None and found.name == mine.name
    assert found.dest is not None and found.request_counts.succeeded == 2
    assert emulator.stats()["requests"]["gemini.batches.get"] == gets + 1  # the keyed entry only


def test_a_keyed_job_deleted_between_the_list_and_its_read_is_no_candidate(emulator: EmulatorHandle) -> None:
    """The list names a keyed job that is deleted before the look-up reads it again: it counts as read and is no
    candidate (not an error that would fail the look-up)."""
    from collections.abc import Iterator

    from airflow_provider_genai_batch.hooks.lookup import KeyedJobScan, scan_listed_jobs

    hook = GenAIBatchHook()
    mine = hook.create_job(
        model="gemini-2.5-flash", src=["x"], config={"display_name": display_name_with_key("t", task_id="t", key=KEY)}
    )
    emulator.finish_job(mine.name)  # only an ended job can be deleted
    batches = hook.get_conn().batches

    class DeletingMeanwhile:
        """The client's batches, whose job ``mine`` is deleted once the list has named it."""

        def list(self, *, page_size: int | None = None, filter: str | None = None) -> Iterator[BatchJob]:
            for job in batches.list(page_size=page_size, filter=filter):
                if job.name == mine.name:
                    batches.delete(name=job.name)
                yield job

        def get(self, *, name: str) -> BatchJob:
            return batches.get(name=name)

    scan = scan_listed_jobs(DeletingMeanwhile(), "gemini", KeyedJobScan(KEY))
    assert (scan.best, scan.scanned, scan.complete) == (None, 1, True)


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
