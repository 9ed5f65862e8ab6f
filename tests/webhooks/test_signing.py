"""Static webhooks: Standard Webhooks HMAC verification (good, bad, stale, future, rotated secrets)."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_genai_batch.webhooks.signing import (
    WebhookVerificationError,
    parse_secret,
    sign,
    verify_static,
)
from tests.webhooks.keys import OTHER_SECRET, SECRET

NOW = 1_800_000_000
BODY = b'{"type":"batch.succeeded","data":{"id":"batches/abc"}}'


def test_a_signed_delivery_verifies() -> None:
    headers = sign("msg_1", NOW, BODY, SECRET)
    assert verify_static(headers, BODY, [SECRET], now=NOW + 10).webhook_id == "msg_1"


def test_the_signature_is_the_standard_webhooks_one() -> None:
    # Vector computed independently: HMAC-SHA256(key, "msg_1.1800000000.<body>") in base64.
    import hashlib
    import hmac

    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"msg_1.1800000000." + BODY, hashlib.sha256).digest()).decode()
    assert sign("msg_1", NOW, BODY, SECRET)["webhook-signature"] == f"v1,{expected}"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, b: (h, b + b" "), "bad signature"),
        (lambda h, b: ({**h, "webhook-id": "msg_2"}, b), "bad signature"),
        (lambda h, b: ({**h, "webhook-timestamp": str(NOW + 1)}, b), "bad signature"),
        (lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), "bad signature"),
        (lambda h, b: ({**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, b), "bad signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing or oversized"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "malformed webhook-timestamp"),
    ],
)
def test_a_tampered_delivery_is_refused(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    headers, body = mutate(sign("msg_1", NOW, BODY, SECRET), BODY)
    with pytest.raises(WebhookVerificationError, match=reason):
        verify_static(headers, body, [SECRET], now=NOW)


def test_a_delivery_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="bad signature"):
        verify_static(sign("msg_1", NOW, BODY, OTHER_SECRET), BODY, [SECRET], now=NOW)


@pytest.mark.parametrize(("offset", "reason"), [(-301, "stale"), (301, "future")])
def test_a_timestamp_outside_the_window_is_refused(offset: int, reason: str) -> None:
    headers = sign("msg_1", NOW + offset, BODY, SECRET)
    with pytest.raises(WebhookVerificationError, match=reason):
        verify_static(headers, BODY, [SECRET], now=NOW)


def test_during_a_rotation_either_signature_matches_either_secret() -> None:
    both = sign("msg_1", NOW, BODY, [OTHER_SECRET, SECRET])
    assert " " in both["webhook-signature"]
    verify_static(both, BODY, [SECRET], now=NOW)
    verify_static(sign("msg_1", NOW, BODY, SECRET), BODY, [OTHER_SECRET, SECRET], now=NOW)


def test_no_secret_configured_refuses_everything() -> None:
    with pytest.raises(WebhookVerificationError, match="no static signing secret"):
        verify_static(sign("msg_1", NOW, BODY, SECRET), BODY, [], now=NOW)


def test_a_secret_must_be_base64() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        parse_secret("whsec_not base64!")
    assert parse_secret(SECRET) == b"s" * 32
