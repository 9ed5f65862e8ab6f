"""The emulator delivers webhooks as Google does, to the real receiver over HTTP: dynamic (JWT, JWKS served by
the emulator) and static (HMAC, secret from the WebhookService create), with its faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
from airflow_provider_genai_batch.emulator.server import run_emulator
from airflow_provider_genai_batch.webhooks.nudges import Entry, merge_entry, parse_entries
from airflow_provider_genai_batch.webhooks.receiver import ReceiverConfig, create_app
from tests.webhooks.keys import serve


class Record:
    """The receiver's record (``merge_entry`` as ``record_delivery`` applies it), in memory."""

    def __init__(self) -> None:
        self.value: str | None = None

    async def __call__(self, webhook_id: str, job: str | None, event_type: str, via: str, now: float) -> bool:
        merged = merge_entry(self.value, Entry(webhook_id, job, event_type, via, now), now)
        if merged is None:
            return False
        self.value = merged
        return True

    def jobs(self) -> list[tuple[str | None, str]]:
        return [(e.job, e.via) for e in parse_entries(self.value)]


def wait_for(predicate: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def emu() -> Iterator[Any]:
    with run_emulator(job_seconds=0.3, pending_seconds=0.1) as handle:
        yield handle


def make_receiver(emu: Any, record: Record, secrets: tuple[str, ...] = ()) -> Any:
    jwks_url = f"{emu.base_url}/.well-known/jwks.json"
    config = ReceiverConfig(static_secrets=secrets, jwks_url=jwks_url, jwks_min_refetch=0.0)
    return serve(create_app(config=config, record=record))


def create(emu: Any, webhook_config: dict[str, Any] | None = None) -> str:
    settings = ClientSettings(backend="gemini", api_key=emu.api_key, base_url=emu.base_url)
    config = {"webhook_config": webhook_config} if webhook_config else None
    with GenAIBatchClient(settings) as client:
        job = client.batches.create(model="gemini-2.5-flash", src=[{"contents": "hi"}], config=config)
    assert job.name
    return job.name


def deliveries(emu: Any) -> list[dict[str, Any]]:
    return httpx.get(f"{emu.base_url}/_emulator/webhooks/deliveries").json()["deliveries"]


def test_a_dynamic_webhook_is_delivered_signed_and_verified(emu: Any) -> None:
    record = Record()
    with make_receiver(emu, record) as base:
        name = create(emu, {"uris": [f"{base}/deliveries"], "user_metadata": {"genai_batch_key": "k"}})
        wait_for(lambda: record.jobs())
    assert record.jobs() == [(name, "dynamic")]
    assert [d["status"] for d in deliveries(emu)] == [202]


def test_a_static_webhook_is_delivered_with_its_secret_and_after_rotation(emu: Any) -> None:
    record = Record()
    headers = {"x-goog-api-key": emu.api_key}
    with serve(create_app(config=ReceiverConfig(), record=record)) as probe:
        created = httpx.post(
            f"{emu.base_url}/v1beta/webhooks",
            headers=headers,
            json={"uri": f"{probe}/deliveries", "subscribed_events": ["batch.succeeded"]},
        ).json()
    secret = created["new_signing_secret"]
    assert secret.startswith("whsec_")
    with make_receiver(emu, record, (secret,)) as base:
        httpx.patch(
            f"{emu.base_url}/v1beta/webhooks/{created['id']}", headers=headers, json={"uri": f"{base}/deliveries"}
        )
        rotated = httpx.post(
            f"{emu.base_url}/v1beta/webhooks/{created['id']}:rotateSigningSecret", headers=headers, json={}
        ).json()["secret"]
        assert rotated != secret  # the old secret still signs for 24 h: our receiver, still on it, verifies
        name = create(emu)
        wait_for(lambda: record.jobs())
    assert record.jobs() == [(name, "static")]
    listed = httpx.get(f"{emu.base_url}/v1beta/webhooks", headers=headers).json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert httpx.delete(f"{emu.base_url}/v1beta/webhooks/{created['id']}", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("faults", "statuses", "recorded"),
    [
        ({"lost": 1}, [None], 0),
        ({"bad_signature": 1}, [401], 0),
        ({"duplicated": 1}, [200, 202], 1),
    ],
)
def test_faulted_deliveries(emu: Any, faults: dict[str, Any], statuses: list[Any], recorded: int) -> None:
    record = Record()
    httpx.post(f"{emu.base_url}/_emulator/webhooks/faults", json=faults)
    with make_receiver(emu, record) as base:
        create(emu, {"uris": [f"{base}/deliveries"]})
        wait_for(lambda: len(deliveries(emu)) >= len(statuses))
        time.sleep(0.3)
    assert sorted((d.get("status") for d in deliveries(emu)), key=str) == sorted(statuses, key=str)
    assert len(record.jobs()) == recorded


def test_a_jwks_rotation_is_followed_by_the_receiver(emu: Any) -> None:
    record = Record()
    with make_receiver(emu, record) as base:
        create(emu, {"uris": [f"{base}/deliveries"]})
        wait_for(lambda: len(record.jobs()) == 1)
        httpx.post(f"{emu.base_url}/_emulator/webhooks/jwks:rotate")
        create(emu, {"uris": [f"{base}/deliveries"]})
        wait_for(lambda: len(record.jobs()) == 2)


def test_a_reset_forgets_webhooks_faults_and_requested_configs(genai_batch_emulator: Any) -> None:
    """The session-wide emulator is reset before each test: no webhook state may leak into the next test."""
    emu = genai_batch_emulator
    headers = {"x-goog-api-key": emu.api_key}
    created = httpx.post(
        f"{emu.base_url}/v1beta/webhooks",
        headers=headers,
        json={"uri": "http://127.0.0.1:9/deliveries", "subscribed_events": ["batch.succeeded"]},
    )
    assert created.status_code == 200
    httpx.post(f"{emu.base_url}/_emulator/webhooks/faults", json={"lost": 3})
    create(emu, {"uris": ["http://127.0.0.1:9/deliveries"]})
    assert httpx.get(f"{emu.base_url}/_emulator/webhooks/requested").json()["requested"]
    emu.reset()
    assert httpx.get(f"{emu.base_url}/v1beta/webhooks", headers=headers).json() == {"webhooks": []}
    assert httpx.get(f"{emu.base_url}/_emulator/webhooks/faults").json() == {
        "lost": 0,
        "duplicated": 0,
        "bad_signature": 0,
        "delay_seconds": 0.0,
        "out_of_order": False,
    }
    assert httpx.get(f"{emu.base_url}/_emulator/webhooks/requested").json() == {"requested": {}}
    assert deliveries(emu) == []
