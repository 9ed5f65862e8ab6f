"""Dynamic webhooks: RS256 JWTs against a JWK set served over HTTP, cached, refreshed on rotation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fastapi import FastAPI

from airflow_provider_genai_batch.webhooks.jwks import JwksCache
from airflow_provider_genai_batch.webhooks.jws import jwk_of, sign_jwt, verify_jwt
from airflow_provider_genai_batch.webhooks.signing import WebhookVerificationError
from tests.webhooks.keys import rsa_key, serve

KEY1, KEY2 = rsa_key(), rsa_key()


def claims(now: float, **extra: Any) -> dict[str, Any]:
    return {"iss": "https://generativelanguage.googleapis.com", "iat": now, "exp": now + 300, **extra}


def test_a_token_signed_by_a_known_key_verifies() -> None:
    now = time.time()
    token = sign_jwt(claims(now, aud="https://x/hook"), KEY1, kid="k1")
    keys = {"k1": jwk_of(KEY1.public_key(), "k1")}
    assert (
        verify_jwt(token, keys, now=now, leeway=60, audiences=frozenset({"https://x/hook"}))["aud"] == "https://x/hook"
    )


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda now: sign_jwt(claims(now), KEY2, kid="k1"), "bad signature"),
        (lambda now: sign_jwt(claims(now - 1000), KEY1, kid="k1"), "expired"),
        (lambda now: sign_jwt({"iat": now}, KEY1, kid="k1"), "without exp"),
        (lambda now: sign_jwt(claims(now + 1000), KEY1, kid="k1"), "iat in the future"),
        (lambda now: sign_jwt(claims(now, aud="https://evil/"), KEY1, kid="k1"), "audience"),
        (lambda now: sign_jwt(claims(now), KEY1, kid="nope"), "unknown JWT kid"),
        (lambda now: "a.b", "malformed"),
        (lambda now: sign_jwt(claims(now), KEY1, kid="k1").rsplit(".", 1)[0] + ".", "bad signature"),
    ],
)
def test_bad_tokens_are_refused(make, reason: str) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    keys = {"k1": jwk_of(KEY1.public_key(), "k1")}
    with pytest.raises(WebhookVerificationError, match=reason):
        verify_jwt(make(now), keys, now=now, leeway=60, audiences=frozenset({"https://x/hook"}))


def test_alg_none_is_refused() -> None:
    import base64
    import json

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims(time.time()))}."
    with pytest.raises(WebhookVerificationError, match="not RS256"):
        verify_jwt(token, {"k1": jwk_of(KEY1.public_key(), "k1")}, now=time.time(), leeway=60)


def jwks_app(state: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/jwks.json")
    def jwks() -> dict[str, Any]:
        state["hits"] += 1
        return {"keys": [jwk_of(k.public_key(), kid) for kid, k in state["keys"].items()]}

    return app


def test_the_key_set_is_cached_and_refetched_when_google_rotates() -> None:
    state: dict[str, Any] = {"hits": 0, "keys": {"k1": KEY1}}
    with serve(jwks_app(state)) as base:
        cache = JwksCache(f"{base}/jwks.json", min_refetch=0.0)

        async def go() -> None:
            now = time.time()
            await cache.verify(sign_jwt(claims(now), KEY1, kid="k1"), now=now, leeway=60)
            await cache.verify(sign_jwt(claims(now), KEY1, kid="k1"), now=now, leeway=60)
            assert state["hits"] == 1  # cached
            state["keys"] = {"k2": KEY2}  # rotation: k1 retired, k2 new
            await cache.verify(sign_jwt(claims(now), KEY2, kid="k2"), now=now, leeway=60)
            assert state["hits"] == 2  # refetched on the unknown kid
            with pytest.raises(WebhookVerificationError, match="unknown JWT kid"):
                await cache.verify(sign_jwt(claims(now), KEY1, kid="k1"), now=now, leeway=60)

        asyncio.run(go())


def test_unknown_kids_cannot_make_us_hammer_the_key_set() -> None:
    state: dict[str, Any] = {"hits": 0, "keys": {"k1": KEY1}}
    with serve(jwks_app(state)) as base:
        cache = JwksCache(f"{base}/jwks.json", min_refetch=3600.0)

        async def go() -> None:
            now = time.time()
            for i in range(20):
                with pytest.raises(WebhookVerificationError, match="unknown JWT kid"):
                    await cache.verify(sign_jwt(claims(now), KEY2, kid=f"forged{i}"), now=now, leeway=60)

        asyncio.run(go())
    assert state["hits"] == 1
