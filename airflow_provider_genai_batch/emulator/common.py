"""Small wire helpers shared by the route modules: timestamps, ids, field spelling and paging."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from airflow_provider_genai_batch.emulator.errors import invalid_argument

__all__ = [
    "get_field",
    "new_id",
    "new_numeric_id",
    "page",
    "parse_page_size",
    "rfc3339",
    "snake_case",
]

T = TypeVar("T")

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def rfc3339(timestamp: float) -> str:
    """A POSIX timestamp as an RFC 3339 UTC string with microseconds, e.g. ``2025-01-01T00:00:00.123456Z``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(length: int) -> str:
    """A random id of lowercase letters and digits, like Gemini batch (36) and file (12) ids."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def new_numeric_id(length: int = 19) -> str:
    """A random all-digit id without a leading zero, like Vertex AI job and operation ids."""
    return str(secrets.choice("123456789")) + "".join(secrets.choice("0123456789") for _ in range(length - 1))


def snake_case(name: str) -> str:
    """``inputConfig`` -> ``input_config``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def get_field(obj: Mapping[str, Any], camel_name: str) -> Any:
    """Read a field by its lowerCamelCase name, falling back to its snake_case spelling (both are valid JSON)."""
    if camel_name in obj:
        return obj[camel_name]
    return obj.get(snake_case(camel_name))


def parse_page_size(value: str | None, *, default: int, maximum: int) -> int:
    """The ``pageSize`` query parameter: ``default`` when absent or 0, at most ``maximum``."""
    if value in (None, ""):
        return default
    try:
        size = int(value)
    except ValueError:
        raise invalid_argument(f"pageSize: {value!r} is not an integer") from None
    if size < 0:
        raise invalid_argument("pageSize: must not be negative")
    return min(size or default, maximum)


def page(
    items: Sequence[T],
    seq: Callable[[T], int],
    page_size: str | None,
    page_token: str | None,
    *,
    default: int,
    maximum: int,
) -> tuple[Sequence[T], str | None]:
    """One page of ``items`` (sorted newest first, by decreasing ``seq``) and the next page token.

    The token is the creation sequence number of the first item of the next page, so paging stays stable
    while new items are created between calls (they sort before the page already read). ``None`` marks the
    last page.
    """
    size = parse_page_size(page_size, default=default, maximum=maximum)
    start = 0
    if page_token:
        if not page_token.isdigit():
            raise invalid_argument(f"pageToken: {page_token!r} is not a valid page token")
        bound = int(page_token)
        start = next((i for i, item in enumerate(items) if seq(item) <= bound), len(items))
    end = start + size
    return items[start:end], (str(seq(items[end])) if end < len(items) else None)
