"""Standard Webhooks signatures (static Gemini webhooks): HMAC-SHA256 over ``{id}.{timestamp}.{body}``. Pure.

Headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (one or more
space-separated ``v1,<base64>`` entries: several while a secret is being rotated). The secret is ``whsec_`` plus
base64 key bytes. Source: the Standard Webhooks specification (standardwebhooks.com) which
https://ai.google.dev/gemini-api/docs/webhooks says static webhooks follow.

Example::

    headers = sign("msg_1", 1_700_000_000, b"{}", "whsec_" + base64.b64encode(b"k" * 32).decode())
    verify_static(headers, b"{}", [secret], now=1_700_000_010)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "TOLERANCE_SECONDS",
    "DeliveryHeaders",
    "WebhookVerificationError",
    "check_timestamp",
    "parse_secret",
    "read_headers",
    "sign",
    "usable_keys",
    "verify_static",
]

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
#: How far a delivery's timestamp may be from now, either way, seconds (the Standard Webhooks default).
TOLERANCE_SECONDS = 300
_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
#: Bounds on what a caller can make us parse: longer headers are refused before any work.
_MAX_ID = 256
_MAX_SIGNATURE_HEADER = 8192


class WebhookVerificationError(Exception):
    """A delivery that must not be acted on; ``reason`` is short and never contains a secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DeliveryHeaders:
    """The three Standard Webhooks headers of one delivery, checked for shape."""

    webhook_id: str
    timestamp: int
    signature: str


def read_headers(headers: Mapping[str, str]) -> DeliveryHeaders:
    """The delivery headers (case-insensitive), or an error naming the one missing or malformed."""
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id = lowered.get(HEADER_ID, "")
    raw_ts = lowered.get(HEADER_TIMESTAMP, "")
    signature = lowered.get(HEADER_SIGNATURE, "")
    if not webhook_id or len(webhook_id) > _MAX_ID or not webhook_id.isprintable():
        raise WebhookVerificationError(f"missing or malformed {HEADER_ID}")
    if not raw_ts.isascii() or not raw_ts.isdigit() or len(raw_ts) > 12:
        raise WebhookVerificationError(f"missing or malformed {HEADER_TIMESTAMP}")
    if not signature or len(signature) > _MAX_SIGNATURE_HEADER:
        raise WebhookVerificationError(f"missing or oversized {HEADER_SIGNATURE}")
    return DeliveryHeaders(webhook_id, int(raw_ts), signature)


def check_timestamp(timestamp: int, now: float, tolerance: float = TOLERANCE_SECONDS) -> None:
    """Refuse a timestamp more than ``tolerance`` seconds before or after ``now`` (stale or from the future)."""
    if timestamp < now - tolerance:
        raise WebhookVerificationError("stale webhook-timestamp")
    if timestamp > now + tolerance:
        raise WebhookVerificationError("webhook-timestamp in the future")


def parse_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret (the prefix is optional)."""
    text = secret.strip()
    text = text[len(_SECRET_PREFIX) :] if text.startswith(_SECRET_PREFIX) else text
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook signing secret must be 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("a webhook signing secret must not be empty")
    return key


def usable_keys(secrets: Iterable[str]) -> list[bytes]:
    """The key bytes of each well-formed secret; a malformed one (a typo in the connection) is skipped."""
    keys: list[bytes] = []
    for secret in secrets:
        try:
            keys.append(parse_secret(secret))
        except ValueError:
            continue
    return keys


def _signed_content(webhook_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body


def _signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(key, _signed_content(webhook_id, timestamp, body), hashlib.sha256).digest()


def sign(webhook_id: str, timestamp: int, body: bytes, secrets: str | Iterable[str]) -> dict[str, str]:
    """The three headers a sender puts on ``body``, signed with each secret (space-separated signatures)."""
    keys = [parse_secret(s) for s in ([secrets] if isinstance(secrets, str) else secrets)]
    signatures = " ".join("v1," + base64.b64encode(_signature(k, webhook_id, timestamp, body)).decode() for k in keys)
    return {HEADER_ID: webhook_id, HEADER_TIMESTAMP: str(timestamp), HEADER_SIGNATURE: signatures}


def verify_static(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Iterable[str],
    *,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> DeliveryHeaders:
    """Check a static delivery: fresh timestamp, and one ``v1`` signature matching one secret (constant time).

    Raises :class:`WebhookVerificationError`; returns the headers (the ``webhook-id`` is for the replay check).
    """
    delivery = read_headers(headers)
    check_timestamp(delivery.timestamp, now, tolerance)
    keys = usable_keys(secrets)
    if not keys:
        raise WebhookVerificationError("no static signing secret is configured or well-formed")
    candidates: list[bytes] = []
    for entry in delivery.signature.split(" "):
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    matched = False
    for key in keys:
        expected = _signature(key, delivery.webhook_id, delivery.timestamp, body)
        for candidate in candidates:
            # every pair is compared, so the time taken does not tell which entry (if any) matched
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError("bad signature")
    return delivery
