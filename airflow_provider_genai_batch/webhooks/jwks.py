"""The JWK set dynamic webhooks are signed with: fetched over async HTTP, cached, refreshed on rotation.

The set is read when first needed, kept for ``ttl`` seconds, and read again at once when a token names an unknown
``kid`` (Google rotated its keys), at most once per ``min_refetch`` seconds, so forged tokens with made-up kids
cannot make us hammer the endpoint. Concurrent callers share one fetch. Never blocks the event loop.

Example::

    cache = JwksCache("https://generativelanguage.googleapis.com/.well-known/jwks.json")
    claims = await cache.verify(token, now=time.time(), leeway=300)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx

from airflow_provider_genai_batch.webhooks.jws import UnknownKeyError, verify_jwt
from airflow_provider_genai_batch.webhooks.signing import WebhookVerificationError

__all__ = ["GOOGLE_JWKS_URL", "JwksCache"]

#: Where Google publishes the keys of dynamic webhooks (see docs/WEBHOOKS.md for the source).
GOOGLE_JWKS_URL = "https://generativelanguage.googleapis.com/.well-known/jwks.json"
_MAX_KEYS = 32


class JwksCache:
    """One JWK set, cached with rotation; ``fetches`` counts the reads (tests and metrics)."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 3600.0,
        min_refetch: float = 30.0,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refetch = min_refetch
        self.timeout = timeout
        self._transport = transport
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None  # time.monotonic() of the last fetch attempt
        self._lock: asyncio.Lock | None = None
        self.fetches = 0

    def __repr__(self) -> str:
        return f"JwksCache(url={self.url!r}, keys={sorted(self._keys)})"

    async def _fetch(self) -> None:
        self.fetches += 1
        self._fetched_at = time.monotonic()
        async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as client:
            response = await client.get(self.url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise WebhookVerificationError("the JWK set has no keys")
        parsed = {
            str(k["kid"]): k
            for k in keys[:_MAX_KEYS]
            if isinstance(k, dict) and isinstance(k.get("kid"), str) and k.get("kty") == "RSA"
        }
        self._keys = parsed

    async def keys(self, *, refresh: bool = False) -> Mapping[str, Mapping[str, Any]]:
        """The current keys: fetched when absent or older than ``ttl``, or on ``refresh`` (rate-limited)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            age = None if self._fetched_at is None else time.monotonic() - self._fetched_at
            due = age is None or age >= self.ttl or (refresh and age >= self.min_refetch)
            if due:
                try:
                    await self._fetch()
                except (httpx.HTTPError, ValueError) as exc:
                    if not self._keys:
                        raise WebhookVerificationError(f"cannot read the JWK set: {type(exc).__name__}") from None
            return dict(self._keys)

    async def verify(
        self, token: str, *, now: float, leeway: float, audiences: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """The claims of ``token``; an unknown ``kid`` refreshes the set once (rate-limited) before refusing."""
        try:
            return verify_jwt(token, await self.keys(), now=now, leeway=leeway, audiences=audiences)
        except UnknownKeyError:
            keys = await self.keys(refresh=True)
            return verify_jwt(token, keys, now=now, leeway=leeway, audiences=audiences)
