"""The receiver over real HTTP: verified deliveries are recorded (202), forged, stale and replayed ones change
nothing; the record is the real Airflow Variable in the metadata DB, read back as a trigger reads it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from airflow_provider_genai_batch.webhooks.jws import jwk_of, sign_jwt
from airflow_provider_genai_batch.webhooks.nudges import VARIABLE_KEY, parse_entries
from airflow_provider_genai_batch.webhooks.receiver import ReceiverConfig, create_app
from airflow_provider_genai_batch.webhooks.signing import sign
from tests.webhooks.keys import OTHER_SECRET, SECRET, rsa_key, serve

KEY = rsa_key()
AUD = "https://airflow.example.com/genai-batch-webhooks/deliveries"


def body(job: str = "batches/abc", kind: str = "batch.succeeded") -> bytes:
    return json.dumps({"type": kind, "version": "v1", "data": {"id": job}}).encode()


def entries() -> list[Any]:
    from airflow.models.variable import Variable

    return parse_entries(Variable.get(VARIABLE_KEY, default_var=None))


@pytest.fixture
def receiver(airflow_db: None) -> Iterator[str]:
    from airflow.models.variable import Variable

    Variable.delete(VARIABLE_KEY)
    jwks = FastAPI()

    @jwks.get("/jwks.json")
    def keys() -> dict[str, Any]:
        return {"keys": [jwk_of(KEY.public_key(), "k1")]}

    with serve(jwks) as jwks_base:
        config = ReceiverConfig(static_secrets=(SECRET,), jwks_url=f"{jwks_base}/jwks.json", audiences=frozenset({AUD}))
        with serve(create_app(config=config)) as base:
            yield f"{base}/deliveries"


def post(url: str, headers: dict[str, str], data: bytes) -> httpx.Response:
    return httpx.post(url, headers={**headers, "content-type": "application/json"}, content=data)


def test_a_static_delivery_is_recorded(receiver: str) -> None:
    now = int(time.time())
    response = post(receiver, sign("msg_a", now, body(), SECRET), body())
    assert (response.status_code, response.json()) == (202, {"status": "accepted", "job": "batches/abc"})
    assert [(e.id, e.job, e.type, e.via) for e in entries()] == [("msg_a", "batches/abc", "batch.succeeded", "static")]


def test_a_dynamic_delivery_is_recorded(receiver: str) -> None:
    now = int(time.time())
    token = sign_jwt({"aud": AUD, "iat": now, "exp": now + 300}, KEY, kid="k1")
    headers = {"webhook-id": "msg_d", "webhook-timestamp": str(now), "webhook-signature": token}
    response = post(receiver, headers, body("batches/dyn", "batch.failed"))
    assert response.status_code == 202
    assert [(e.job, e.via) for e in entries()] == [("batches/dyn", "dynamic")]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda now: (sign("msg_f", now, body(), OTHER_SECRET), body()), id="wrong-secret"),
        pytest.param(lambda now: (sign("msg_f", now, body("batches/x"), SECRET), body("batches/y")), id="body-swapped"),
        pytest.param(lambda now: (sign("msg_f", now - 400, body(), SECRET), body()), id="stale"),
        pytest.param(lambda now: ({}, body()), id="unsigned"),
        pytest.param(
            lambda now: (
                {
                    "webhook-id": "msg_f",
                    "webhook-timestamp": str(now),
                    "webhook-signature": sign_jwt({"aud": AUD, "exp": now + 300}, rsa_key(), kid="k1"),
                },
                body(),
            ),
            id="jwt-other-key",
        ),
        pytest.param(
            lambda now: (
                {
                    "webhook-id": "msg_f",
                    "webhook-timestamp": str(now),
                    "webhook-signature": sign_jwt({"aud": "https://evil", "exp": now + 300}, KEY, kid="k1"),
                },
                body(),
            ),
            id="jwt-other-audience",
        ),
    ],
)
def test_a_forged_or_stale_delivery_gets_401_and_changes_nothing(receiver: str, forge) -> None:  # type: ignore[no-untyped-def]
    headers, data = forge(int(time.time()))
    response = post(receiver, headers, data)
    assert response.status_code == 401
    assert entries() == []


def test_a_replayed_delivery_changes_nothing(receiver: str) -> None:
    now = int(time.time())
    headers = sign("msg_r", now, body(), SECRET)
    assert post(receiver, headers, body()).status_code == 202
    again = post(receiver, headers, body())
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert [e.id for e in entries()] == ["msg_r"]


def test_an_oversized_body_is_refused_unread(receiver: str) -> None:
    data = b"x" * (64 * 1024 + 1)
    assert post(receiver, sign("msg_big", int(time.time()), data, SECRET), data).status_code == 413
    assert entries() == []


def test_a_verified_delivery_for_no_batch_is_recorded_without_a_job(receiver: str) -> None:
    data = json.dumps({"type": "video.generated", "data": {"id": "op1"}}).encode()
    assert post(receiver, sign("msg_v", int(time.time()), data, SECRET), data).json() == {
        "status": "accepted",
        "job": None,
    }
    assert [(e.id, e.job) for e in entries()] == [("msg_v", None)]
