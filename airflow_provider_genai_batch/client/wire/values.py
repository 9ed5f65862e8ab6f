"""Plain JSON values from what users pass, checked before any network call. Pure.

Nested objects the SDK passes through (``thinking_config``, ``inline_data``...) keep snake_case keys, as
google-genai's ``convert_to_dict`` sends them (Google's proto JSON parser accepts both spellings). Free-form
values (function call ``args``, ``labels``, JSON Schemas...) keep their keys as given. ``bytes`` become
URL-safe base64 and datetimes ISO 8601 (the SDK's ``encode_unserializable_types``).

Example::

    plain({"thinkingBudget": 0}, "src[0].config.thinking_config")   # {"thinking_budget": 0}
"""

from __future__ import annotations

import base64
import binascii
import datetime
import enum
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel, to_snake

from airflow_provider_genai_batch.client.errors import InvalidInputError

# Fields whose value is free-form JSON: their keys are the user's, never renamed.
FREE_FORM = frozenset(
    {
        "args",
        "response",
        "part_metadata",
        "default",
        "example",
        "labels",
        "metadata",
        "parameters_json_schema",
        "response_json_schema",
        "partial_args",
    }
)
# Fields mapping user-chosen names to nested objects: keys kept, values converted.
NAMED_MAPS = frozenset({"properties", "defs"})
# Fields whose type is one of google-genai's case-insensitive enums (names equal values, upper-case): a name
# given in another case is sent as the enum's value, as the SDK's ``CaseInSensitiveEnum`` does.
ENUM_FIELDS = frozenset(
    {
        "api_spec",
        "auth_type",
        "behavior",
        "blocking_confidence",
        "category",
        "disabled_safety_policies",
        "environment",
        "feature_selection_preference",
        "http_element_location",
        "language",
        "level",
        "media_processing",
        "media_resolution",
        "method",
        "mode",
        "outcome",
        "prominent_people",
        "scheduling",
        "thinking_level",
        "threshold",
        "tool_type",
    }
)
# The one such enum whose values are lower-case.
LOWER_CASE_ENUMS = frozenset({"service_tier"})


def check_text(value: str, field: str) -> str:
    """A string that UTF-8 can encode (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            field,
            f"holds a character UTF-8 cannot encode ({value[exc.start : exc.end]!r}, a lone surrogate)",
            "remove it or decode the text correctly (for example errors='replace')",
        ) from None
    return value


def enum_value(name: str, value: Any) -> Any:
    """An enum field's value spelled as the API names it (``"block_none"`` -> ``"BLOCK_NONE"``)."""
    if isinstance(value, list):
        return [enum_value(name, v) for v in value]
    if not isinstance(value, str) or not value.replace("_", "").isalnum() or not value.isascii():
        return value
    if name in ENUM_FIELDS:
        return value.upper()
    if name in LOWER_CASE_ENUMS:
        return value.lower()
    return value


def b64(data: bytes | bytearray) -> str:
    """URL-safe base64, as google-genai encodes ``bytes`` fields."""
    return base64.urlsafe_b64encode(bytes(data)).decode("ascii")


def b64_field(value: Any, field: str) -> str:
    """A ``bytes`` field (inline data, thought signature): bytes, or a base64 string in either alphabet."""
    if isinstance(value, bytes | bytearray):
        return b64(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(field, "is a string that is not base64", "pass the raw bytes instead") from None
        return b64(raw)
    raise InvalidInputError(field, f"is a {type(value).__name__}", "pass bytes (or a base64 string)")


def model_dict(value: BaseModel) -> dict[str, Any]:
    """A pydantic object (google-genai types included) as a dict with its snake_case field names."""
    return value.model_dump(exclude_none=True)


def plain(value: Any, field: str, *, snake: bool = True) -> Any:
    """JSON data from ``value``; keys to snake_case when ``snake`` (except in free-form fields)."""
    if isinstance(value, BaseModel):
        value = model_dict(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value, field, snake=snake)
    if isinstance(value, str):
        return check_text(value, field)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(field, f"is {value}, which JSON cannot carry", "use a finite number")
        return value
    if isinstance(value, bytes | bytearray):
        return b64(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()  # as encode_unserializable_types
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{field}.{key!r}", "is a key that is not a string", "use string keys")
            check_text(key, f"{field}.{key!r}")
            name = to_snake(key) if snake and not key.startswith("$") else key
            where = f"{field}.{name}"
            if item is None and snake:
                continue
            if name in FREE_FORM and snake:
                out[name] = plain(item, where, snake=False)
            elif name in NAMED_MAPS and snake and isinstance(item, Mapping):
                out[name] = {k: plain(v, f"{where}.{k}") for k, v in item.items()}
            else:
                converted = plain(item, where, snake=snake)
                out[name] = enum_value(name, converted) if snake else converted
        return out
    if isinstance(value, list | tuple):
        return [plain(item, f"{field}[{i}]", snake=snake) for i, item in enumerate(value)]
    raise InvalidInputError(
        field, f"is a {type(value).__name__}, which is not JSON data", "use strings, numbers, lists and dicts"
    )


def snake_keys(value: Any, field: str) -> dict[str, Any]:
    """A mapping (or pydantic object) with snake_case top-level keys and None values dropped."""
    if isinstance(value, BaseModel):
        value = model_dict(value)
    if not isinstance(value, Mapping):
        raise InvalidInputError(field, f"is a {type(value).__name__}", "pass a dict")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"{field}.{key!r}", "is a key that is not a string", "use string keys")
        if item is not None:
            out[to_snake(key)] = item
    return out


def not_on_backend(field: str, backend: str) -> InvalidInputError:
    """The error for a field the chosen backend does not have (the SDK raises ValueError)."""
    if backend == "gemini":
        return InvalidInputError(
            field,
            "exists only on Vertex AI, not on the Gemini Developer API",
            "remove it or use a vertex connection",
        )
    return InvalidInputError(
        field, "exists only on the Gemini Developer API, not on Vertex AI", "remove it or use a gemini connection"
    )


def camel(name: str) -> str:
    """snake_case to lowerCamelCase."""
    return to_camel(name)
