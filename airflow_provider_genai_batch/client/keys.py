"""Service-account key values told apart without echoing them: JSON, base64-encoded JSON, or a file path.

Users paste a key three ways: the key file's JSON, the same JSON base64-encoded (as CI systems and secret
stores keep it, often wrapped at 76 columns), or the path of the key file on the workers. ``key_form`` decides
which, by shape only (no file is read: the file may exist only where the task runs). Every error names the field,
says which forms are accepted and shows at most the value's length, never the value or a piece of it.

Example::

    key_form('{"type": "service_account", ...}', "service_account_key")   # ("json", '{"type": ...}')
    key_form("eyJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIs...", "service_account_key")   # ("json", '{"type": ...}')
    key_form("/opt/keys/sa.json", "service_account_key")                  # ("path", "/opt/keys/sa.json")
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Literal

from airflow_provider_genai_batch.client.errors import InvalidInputError

__all__ = ["ACCEPTED_KEY_FORMS", "KeyForm", "key_form", "key_info", "not_shown"]

KeyForm = Literal["json", "path"]

ACCEPTED_KEY_FORMS = (
    "give the service-account key file's JSON, the same JSON base64-encoded, or the path of the key file where "
    "the task runs"
)
_MAX_PATH_CHARS = 4096
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_REQUIRED_FIELDS = ("type", "client_email", "private_key", "token_uri")
_KNOWN_TYPES = frozenset(
    {
        "authorized_user",
        "external_account",
        "external_account_authorized_user",
        "impersonated_service_account",
        "gdch_service_account",
    }
)


def not_shown(value: str) -> str:
    """How an error refers to a value it must not quote: its length only."""
    return f"value not shown, {len(value)} characters"


def key_form(value: str, field: str) -> tuple[KeyForm, str]:
    """``("json", text)`` for a key given as JSON or base64-encoded JSON, ``("path", path)`` for a path.

    Raises ``InvalidInputError(field, ...)`` for a value that is neither (a PEM private key alone, a truncated
    base64 key, several lines of text), without quoting it.
    """
    text = value.strip()
    if not text:
        raise InvalidInputError(field, "is empty", ACCEPTED_KEY_FORMS)
    if text.startswith(("{", "[")):  # JSON (a list is then refused as "not an object", by key_info)
        return "json", text
    if "-----BEGIN" in text or "PRIVATE KEY" in text:
        raise InvalidInputError(
            field,
            f"holds a PEM private key alone ({not_shown(text)}); a service-account key is the whole JSON file",
            ACCEPTED_KEY_FORMS,
        )
    compact = "".join(text.split())
    if _BASE64.fullmatch(compact) and _opens_a_json_object(_b64decode(compact, partial=True)):
        return "json", _decoded_json(compact, field)
    if "\n" in text or "\r" in text or "\x00" in text or len(text) > _MAX_PATH_CHARS:
        raise InvalidInputError(field, f"is neither a file path nor a JSON key ({not_shown(text)})", ACCEPTED_KEY_FORMS)
    return "path", text


def key_info(text: str, field: str) -> dict[str, Any]:
    """The parsed JSON of a service-account key; errors name ``field`` and never quote the key.

    Raised outside of any ``except`` block, so no parser exception (which may hold the text) is chained.
    """
    problem: str | None = None
    info: Any = None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"is not valid JSON (line {exc.lineno}, column {exc.colno}; {not_shown(text)})"
    if problem is not None:
        raise InvalidInputError(field, problem, ACCEPTED_KEY_FORMS)
    if not isinstance(info, dict):
        raise InvalidInputError(field, f"is a JSON {type(info).__name__}, not an object", ACCEPTED_KEY_FORMS)
    missing = [name for name in _REQUIRED_FIELDS if not isinstance(info.get(name), str)]
    if info.get("type") not in (None, "service_account") and isinstance(info.get("type"), str):
        kind = repr(info["type"]) if info["type"] in _KNOWN_TYPES else "another kind of"
        raise InvalidInputError(
            field,
            f"holds a {kind} credential, not a service-account key",
            "give a service-account key, or point GOOGLE_APPLICATION_CREDENTIALS at this file and use ADC",
        )
    if missing:
        raise InvalidInputError(field, f"is missing {', '.join(missing)}", ACCEPTED_KEY_FORMS)
    return info


def _opens_a_json_object(prefix: bytes | None) -> bool:
    """Whether decoded bytes start like a JSON object with a member (``{"``) or empty (``{}``)."""
    if prefix is None:
        return False
    head = prefix.lstrip()
    if not head.startswith(b"{"):
        return False
    rest = head[1:].lstrip()
    return rest == b"" or rest[:1] in (b'"', b"}")


def _decoded_json(compact: str, field: str) -> str:
    """The JSON a base64 value encodes; an error (without the value) when it is truncated or not UTF-8."""
    data = _b64decode(compact, partial=False)
    text: str | None = None
    if data is not None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is None:
        raise InvalidInputError(
            field,
            f"looks like a base64-encoded key but does not decode whole ({not_shown(compact)}; truncated?)",
            ACCEPTED_KEY_FORMS,
        )
    return text.strip()


def _b64decode(compact: str, *, partial: bool) -> bytes | None:
    """Standard or url-safe base64, padding optional; ``partial``: only the longest whole-quantum prefix."""
    body = compact.rstrip("=").replace("-", "+").replace("_", "/")
    if partial:
        body = body[: len(body) - len(body) % 4]
    elif len(body) % 4 == 1:
        return None
    if not body:
        return None
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
