"""Secret scrubbing: one function that takes credentials out of any text before it is shown, logged or raised.

``scrub(text, secrets=())`` removes, in this order:

1. what looks secret whatever its origin: PEM blocks, JWTs, OAuth access and refresh tokens (``ya29.``,
   ``1//``), Google API keys (``AIza...``), the values of ``private_key_id``, ``private_key``,
   ``client_secret``, ``refresh_token``, ``access_token``, ``api_key`` and ``password`` fields (JSON or
   ``name=value``), credential query parameters (``?key=``, ``access_token=``...), user and password in URLs
   (``https://user:pass@host`` -> ``https://***@host``), and base64 runs that decode to key material;
2. each of the caller's ``secrets`` in any of its forms: as given, base64 (standard and url-safe), URL-encoded
   and JSON-escaped, whole or in part (any piece of 8 characters or more). A secret that is a JSON key (raw or
   base64) contributes its secret fields, not its harmless ones (``type``, ``token_uri``...). Secrets shorter
   than 4 characters are ignored (they would match everywhere).

``redact_url(url)`` is the URL without its userinfo, for ``repr()``s and messages.

Pure and dependency-free, so the hooks, the operators and the UI all use this one function::

    from airflow_provider_genai_batch.client.redaction import scrub

    scrub("refused: key AIzaSy... for https://me:pw@proxy")   # 'refused: key <redacted api key> for https://***@proxy'
    scrub(error_text, secrets=[connection.password])
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

__all__ = ["MIN_PIECE", "redact_url", "scrub", "secret_forms", "secret_parts"]

MIN_PIECE = 8
"""The shortest piece of a registered secret that ``scrub`` removes wherever it appears."""
_MIN_SECRET = 4
_MASK = "***"
_SECRET_FIELDS = ("private_key_id", "private_key", "client_secret", "refresh_token", "access_token", "api_key")

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@\"'<>]+@")
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----(?:[A-Za-z0-9+/=\s]|\\+[nr])*(?:-----END [A-Z0-9 ]+-----)?")
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # a PEM block, raw or JSON-escaped (once or twice), whole or truncated: the body ends where base64 does
    (_PEM, "<redacted key>"),
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?"), "<redacted jwt>"),
    (re.compile(r"\bya29\.[A-Za-z0-9._-]+"), "<redacted token>"),
    (re.compile(r"\b1//[A-Za-z0-9._-]{20,}"), "<redacted token>"),
    (re.compile(r"\bAIza[A-Za-z0-9_-]{20,}"), "<redacted api key>"),
    (
        # "private_key_id": "abc", private_key_id=abc, \"client_secret\": \"...\" (JSON inside a string)
        re.compile(
            r"(?P<name>(?:private_key_id|private_key|client_secret|refresh_token|access_token|api_key|apikey"
            r"|password|passwd)\\?[\"']?\s*[:=]\s*(?:\\?[\"'])?)(?!<redacted|\*\*\*)(?P<value>(?:\\[^\"']|[^\"'\\\s,;&}])+)",
            re.IGNORECASE,
        ),
        rf"\g<name>{_MASK}",
    ),
    (re.compile(r"(?P<name>[?&](?:key|api_key|access_token|token|sig|signature)=)[^&#\s\"']+"), rf"\g<name>{_MASK}"),
    (_USERINFO, rf"\g<scheme>{_MASK}@"),
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
_KEY_MARKERS = (b"private_key", b"-----BEGIN", b"client_secret", b"refresh_token")


def redact_url(url: str) -> str:
    """``url`` without ``user:password@``: ``https://u:p@host/x`` -> ``https://***@host/x``."""
    return _USERINFO.sub(rf"\g<scheme>{_MASK}@", url)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without anything secret-looking and without any form or piece of ``secrets`` (see the module)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = _BASE64_RUN.sub(_encoded_key_run, text)
    exact: set[str] = set()
    pieces: set[str] = set()
    for secret in secrets:
        for form in secret_forms(secret):
            if len(form) >= MIN_PIECE:
                pieces.update(form[i : i + MIN_PIECE] for i in range(len(form) - MIN_PIECE + 1))
            elif len(form) >= _MIN_SECRET:
                exact.add(form)
    for form in sorted(exact, key=len, reverse=True):
        text = text.replace(form, _MASK)
    return _remove_pieces(text, pieces) if pieces else text


def secret_parts(secret: str) -> list[str]:
    """The secret values inside ``secret``: a JSON credential's secret fields (also when base64), else itself.

    A whole JSON key also holds harmless text (``"type": "service_account"``, the token URL) that must stay
    readable elsewhere, so only its secret fields are matched piece by piece.
    """
    info = _json_object(secret) or _json_object(_b64decode_text(secret) or "")
    if info is None:
        return [secret]
    parts = [value for name in _SECRET_FIELDS if isinstance(value := info.get(name), str) and value]
    pem = info.get("private_key")
    if isinstance(pem, str):
        parts += [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return parts


def secret_forms(secret: str) -> set[str]:
    """Every spelling of ``secret`` that may reach a text: raw, base64, URL-encoded, JSON-escaped.

    A JSON key contributes only opaque spellings of itself (base64) and the spellings of its secret fields:
    its own text, URL-encoded or JSON-escaped, is mostly harmless words that must not be cut out elsewhere.
    """
    raw = secret.strip()
    if len(raw) < _MIN_SECRET:
        return set()
    forms: set[str] = set()
    if _json_object(raw) is None:
        forms.update(_plain_spellings(raw))
    else:
        forms.update(_base64_spellings(raw))
    for part in secret_parts(raw):
        if part != raw:
            forms.update(_plain_spellings(part))
    return {form for form in forms if len(form) >= _MIN_SECRET}


def _plain_spellings(value: str) -> Iterator[str]:
    yield value
    yield quote(value, safe="")
    yield quote_plus(value)
    yield json.dumps(value)[1:-1]
    yield from _base64_spellings(value)


def _base64_spellings(value: str) -> Iterator[str]:
    data = value.encode()
    yield base64.b64encode(data).decode().rstrip("=")
    yield base64.urlsafe_b64encode(data).decode().rstrip("=")


def _remove_pieces(text: str, pieces: set[str]) -> str:
    """Mask every run of ``text`` covered by a ``MIN_PIECE``-character piece of a secret."""
    covered = [False] * len(text)
    for start in range(len(text) - MIN_PIECE + 1):
        if text[start : start + MIN_PIECE] in pieces:
            covered[start : start + MIN_PIECE] = [True] * MIN_PIECE
    out: list[str] = []
    index = 0
    while index < len(text):
        if covered[index]:
            while index < len(text) and covered[index]:
                index += 1
            out.append(_MASK)
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _encoded_key_run(match: re.Match[str]) -> str:
    """A long base64 run is removed when what it decodes to (even truncated) holds key material."""
    run = match.group(0)
    decoded = _b64decode_bytes(run, partial=True)
    if decoded is not None and any(marker in decoded for marker in _KEY_MARKERS):
        return "<redacted encoded key>"
    return run


def _json_object(text: str) -> dict[str, object] | None:
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _b64decode_text(text: str) -> str | None:
    data = _b64decode_bytes(text)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _b64decode_bytes(text: str, *, partial: bool = False) -> bytes | None:
    """Standard or url-safe base64, whitespace and padding tolerated; ``partial``: decode the longest prefix."""
    compact = "".join(text.split()).rstrip("=").replace("-", "+").replace("_", "/")
    if not compact or not re.fullmatch(r"[A-Za-z0-9+/]+", compact):
        return None
    if partial:
        compact = compact[: len(compact) - len(compact) % 4]
    elif len(compact) % 4 == 1:
        return None
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
