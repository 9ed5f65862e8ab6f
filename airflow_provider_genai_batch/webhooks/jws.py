"""RS256 JWTs (dynamic Gemini webhooks): parse, verify against a JWK, and sign (the emulator's side). Pure.

A dynamic webhook's ``webhook-signature`` header is a compact JWT signed RS256 with a key Google publishes as a
JWK set; its header names the key (``kid``). Sources: https://ai.google.dev/gemini-api/docs/webhooks (dynamic
webhooks are verified with a JWKS) and the public write-ups listed in docs/WEBHOOKS.md for the key-set URL and the
claims. We check what any such token must satisfy (RFC 7519): ``alg`` is RS256, the ``kid`` is known, the
signature, ``exp`` in the future, ``iat``/``nbf`` not in the future, and ``aud`` when we are told our URL.
Uses ``cryptography``, which Airflow itself requires.

Example::

    token = sign_jwt({"iss": "x", "exp": now + 300}, private_key, kid="k1")
    claims = verify_jwt(token, {"k1": jwk}, now=now, leeway=60)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from airflow_provider_genai_batch.webhooks.signing import WebhookVerificationError

__all__ = ["UnknownKeyError", "jwk_of", "key_id", "public_key_of", "sign_jwt", "verify_jwt"]

_MAX_TOKEN = 8192
_MIN_RSA_BITS = 2048


class UnknownKeyError(WebhookVerificationError):
    """The token names a key the current key set does not have (refetch the set, then refuse)."""


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("malformed JWT") from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    if len(token) > _MAX_TOKEN or token.count(".") != 2:
        raise WebhookVerificationError("malformed JWT")
    head, body, sig = token.split(".")
    try:
        header = json.loads(_b64url_decode(head))
        claims = json.loads(_b64url_decode(body))
    except ValueError:
        raise WebhookVerificationError("malformed JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise WebhookVerificationError("malformed JWT")
    return header, claims, f"{head}.{body}".encode(), _b64url_decode(sig)


def key_id(token: str) -> str:
    """The ``kid`` a token's header names (read before verifying, to pick the key)."""
    header, _, _, _ = _parts(token)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise WebhookVerificationError("JWT without kid")
    return kid


def public_key_of(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey:
    """An RSA public key from a JWK (``kty`` RSA, ``n``, ``e``); weak or malformed keys are refused."""
    if jwk.get("kty") != "RSA" or not isinstance(jwk.get("n"), str) or not isinstance(jwk.get("e"), str):
        raise WebhookVerificationError("JWK is not an RSA public key")
    n = int.from_bytes(_b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(_b64url_decode(jwk["e"]), "big")
    if n.bit_length() < _MIN_RSA_BITS or e < 3:
        raise WebhookVerificationError("JWK is too weak")
    return rsa.RSAPublicNumbers(e, n).public_key()


def jwk_of(key: rsa.RSAPublicKey, kid: str) -> dict[str, str]:
    """The public JWK of ``key`` (what a JWKS endpoint publishes)."""
    numbers = key.public_numbers()
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": _int(numbers.n), "e": _int(numbers.e)}


def sign_jwt(claims: Mapping[str, Any], private_key: rsa.RSAPrivateKey, *, kid: str) -> str:
    """A compact RS256 JWT of ``claims``."""
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(dict(claims)).encode())
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(signature)


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookVerificationError(f"JWT claim {name} is not a number")
    return float(value)


def verify_jwt(
    token: str,
    keys: Mapping[str, Mapping[str, Any]],
    *,
    now: float,
    leeway: float,
    audiences: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The claims of a valid RS256 token signed by one of ``keys`` (by ``kid``); else an error.

    ``exp`` is required; ``iat`` and ``nbf``, when present, must not be beyond ``now + leeway``; ``aud`` must be
    one of ``audiences`` when any are given.
    """
    header, claims, signing_input, signature = _parts(token)
    if header.get("alg") != "RS256":
        raise WebhookVerificationError("JWT alg is not RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise WebhookVerificationError("JWT without kid")
    jwk = keys.get(kid)
    if jwk is None:
        raise UnknownKeyError("unknown JWT kid")
    try:
        public_key_of(jwk).verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise WebhookVerificationError("bad signature") from None
    exp = _number(claims, "exp")
    if exp is None or exp < now - leeway:
        raise WebhookVerificationError("JWT expired" if exp is not None else "JWT without exp")
    for name in ("iat", "nbf"):
        value = _number(claims, name)
        if value is not None and value > now + leeway:
            raise WebhookVerificationError(f"JWT {name} in the future")
    if audiences:
        aud = claims.get("aud")
        given = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        if not given & audiences:
            raise WebhookVerificationError("JWT audience is not this receiver")
    return claims
