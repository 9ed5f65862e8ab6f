"""The receiver's secrets stay secret: not in ``repr`` of its settings (read from its real Airflow connection),
not in any answer it gives, not in its logs, whatever the delivery."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.webhooks.receiver import DEFAULT_CONN_ID, ReceiverConfig, create_app, load_config
from airflow_provider_genai_batch.webhooks.signing import sign
from tests.conftest import set_connection
from tests.webhooks.keys import OTHER_SECRET, SECRET, serve

ROTATING = f"{SECRET} {OTHER_SECRET}"
BODY = json.dumps({"type": "batch.succeeded", "data": {"id": "batches/abc"}}).encode()


class Record:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def __call__(self, *args: Any) -> bool:
        self.calls.append(args)
        return True


def secret_parts(*secrets: str) -> list[str]:
    """Each secret, and its key without the ``whsec_`` prefix."""
    return [part for s in secrets for part in (s, s.removeprefix("whsec_"))]


def test_the_receivers_settings_from_its_connection_never_show_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
        monkeypatch,
        DEFAULT_CONN_ID,
        {"conn_type": "generic", "password": ROTATING, "extra": {"audience": "https://a.example/d"}},
    )
    config = load_config()
    assert config.static_secrets == (SECRET, OTHER_SECRET)  # read: both, while rotating
    text = repr(config) + str(config)
    assert "https://a.example/d" in text
    for part in secret_parts(SECRET, OTHER_SECRET):
        assert part not in text


@pytest.fixture
def receiver() -> Iterator[tuple[str, Record]]:
    record = Record()
    config = ReceiverConfig(static_secrets=(SECRET,), jwks_url="http://127.0.0.1:9/jwks.json")
    with serve(create_app(config=config, record=record)) as base:
        yield f"{base}/deliveries", record


def forged(now: int) -> list[tuple[str, dict[str, str], bytes]]:
    valid = sign("msg_1", now, BODY, SECRET)
    return [
        ("other-secret", sign("msg_1", now, BODY, OTHER_SECRET), BODY),
        ("body-swapped", valid, BODY.replace(b"abc", b"xyz")),
        ("stale", sign("msg_1", now - 1000, BODY, SECRET), BODY),
        ("future", sign("msg_1", now + 1000, BODY, SECRET), BODY),
        ("no-signature", {k: v for k, v in valid.items() if k != "webhook-signature"}, BODY),
        ("jwt-unreachable-jwks", {**valid, "webhook-signature": "a.b.c"}, BODY),
        ("garbage-signature", {**valid, "webhook-signature": "v1,!!!! v2,x"}, BODY),
    ]


def test_no_answer_and_no_log_line_of_the_receiver_holds_a_secret(
    receiver: tuple[str, Record], caplog: pytest.LogCaptureFixture
) -> None:
    url, record = receiver
    now = int(time.time())
    answers: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for label, headers, body in forged(now):
            response = httpx.post(url, headers={**headers, "content-type": "application/json"}, content=body)
            assert response.status_code == 401, label
            assert response.headers["cache-control"] == "no-store"
            answers.append(response.text)
        ok = httpx.post(url, headers=sign("msg_ok", now, BODY, SECRET), content=BODY)
        assert ok.status_code == 202
        answers.append(ok.text)
    assert len(record.calls) == 1  # only the valid delivery was recorded
    seen = "\n".join(answers) + "\n" + caplog.text
    for part in secret_parts(SECRET, OTHER_SECRET):
        assert part not in seen
    assert sign("msg_1", now, BODY, SECRET)["webhook-signature"] not in seen  # nor a valid signature


def test_a_malformed_secret_in_the_connection_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator's typo in the receiver's connection: deliveries are refused (401), the secret is never echoed."""
    typo = "whsec_not-base64-at-all!!"
    record = Record()
    app = create_app(config=ReceiverConfig(static_secrets=(typo,)), record=record)
    with serve(app) as base, caplog.at_level(logging.DEBUG):
        response = httpx.post(f"{base}/deliveries", headers=sign("m", int(time.time()), BODY, SECRET), content=BODY)
    assert response.status_code == 401
    assert record.calls == []
    assert "not-base64-at-all" not in response.text + caplog.text


def test_a_malformed_secret_next_to_a_good_one_is_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While rotating, one mistyped secret must not lock out the good one; the connection's problem is logged
    once per read, without the secret."""
    typo = "whsec_not-base64-at-all!!"
    set_connection(monkeypatch, DEFAULT_CONN_ID, {"conn_type": "generic", "password": f"{typo} {SECRET}"})
    with caplog.at_level(logging.ERROR):
        config = load_config()
    assert "1 of its 2 webhook signing secrets" in caplog.text
    assert "not-base64-at-all" not in caplog.text + repr(config)
    record = Record()
    with serve(create_app(config=config, record=record)) as base:
        response = httpx.post(f"{base}/deliveries", headers=sign("m", int(time.time()), BODY, SECRET), content=BODY)
    assert response.status_code == 202
    assert len(record.calls) == 1
