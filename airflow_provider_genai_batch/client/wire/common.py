"""Value types and helpers shared by the wire modules. Pure: no I/O.

Example::

    request = ApiRequest("GET", "https://host/v1beta/batches/abc", idempotent=True)
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from airflow_provider_genai_batch.client.errors import InvalidInputError, InvalidResponseError
from airflow_provider_genai_batch.client.names import GcsUri

JsonDict = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request to send. ``idempotent`` says whether it may be re-sent after it may have arrived.

    ``authenticated=False`` is for resumable-upload chunks: the upload URL itself is the credential.
    """

    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    json: JsonDict | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotent: bool = True
    authenticated: bool = True
    ok_statuses: tuple[int, ...] = (200,)

    @property
    def path(self) -> str:
        """The URL's path, for error messages (never the query: it may hold ``?key=``)."""
        without_scheme = self.url.split("://", 1)[-1]
        slash = without_scheme.find("/")
        return without_scheme[slash:].split("?", 1)[0] if slash >= 0 else "/"


@dataclass(frozen=True)
class ApiResponse:
    """A received response: status, headers (lower-case keys) and the raw body."""

    status_code: int
    headers: dict[str, str]
    content: bytes = b""

    def json(self) -> JsonDict:
        """The body as a JSON object ({} for an empty body)."""
        if not self.content.strip():
            return {}
        try:
            body = json.loads(self.content)
        except ValueError as exc:
            raise InvalidResponseError(f"the API answered {self.status_code} with a body that is not JSON") from exc
        if not isinstance(body, dict):
            raise InvalidResponseError(f"the API answered {self.status_code} with JSON that is not an object")
        return body


def join_url(base: str, *parts: str) -> str:
    """``join_url("http://h/", "v1beta", "batches/x")`` -> ``http://h/v1beta/batches/x``."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


def dump_value(value: Any) -> Any:
    """Plain JSON data from pydantic objects (google-genai types included), recursively."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True, by_alias=True, mode="json")
    if isinstance(value, dict):
        return {k: dump_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [dump_value(v) for v in value]
    return value


def int64(value: Any) -> int | None:
    """Parse an int64 that the API may send as a string (never a bool, a fraction or an exponent)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise InvalidResponseError(f"expected an integer, got {value!r}")


def object_field(container: JsonDict, key: str) -> JsonDict:
    """A field that must be a JSON object when present ({} when absent)."""
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidResponseError(f"'{key}' is a {type(value).__name__}, expected an object")
    return value


def page_params(
    page_size: int | None, page_token: str | None, *, snake_case: bool = False, **extra: str | None
) -> dict[str, str]:
    """The query of one list page: ``pageSize`` and ``pageToken`` (``page_size`` and ``page_token`` with
    ``snake_case``) and each of ``extra`` that is set; a parameter not given is left out."""
    size, token = ("page_size", "page_token") if snake_case else ("pageSize", "pageToken")
    given = {size: str(page_size) if page_size else None, token: page_token, **extra}
    return {name: value for name, value in given.items() if value}


def required_name(body: JsonDict, missing: str) -> str:
    """The resource's ``name`` (``missing`` is the error when it has none)."""
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidResponseError(missing)
    return name


#: The fields a job resource spells alike on both APIs (Gemini's batch ``metadata``, a Vertex job), by the
#: ``BatchJob`` field each fills.
_JOB_FIELDS = {
    "display_name": "displayName",
    "state": "state",
    "raw_state": "state",
    "model": "model",
    "create_time": "createTime",
    "start_time": "startTime",
    "update_time": "updateTime",
    "end_time": "endTime",
}


def job_fields(resource: JsonDict) -> JsonDict:
    """The ``BatchJob`` fields both APIs spell alike, read from ``resource`` (None when absent)."""
    return {field_name: resource.get(key) for field_name, key in _JOB_FIELDS.items()}


def parse_page(body: JsonDict, keys: tuple[str, ...], parse: Callable[[JsonDict], T]) -> tuple[list[T], str | None]:
    """One list page: the items under the first of ``keys`` present, each parsed, and the next page's token."""
    items: Any = next((body[key] for key in keys if body.get(key)), [])
    if not isinstance(items, list):
        raise InvalidResponseError(f"'{keys[0]}' is not a list")
    token = body.get("nextPageToken") or None
    if token is not None and not isinstance(token, str):
        raise InvalidResponseError("'nextPageToken' is not a string")
    return [parse(item) for item in items], token


def response_parser(what: str) -> Callable[[Callable[[JsonDict], T]], Callable[[JsonDict], T]]:
    """Decorate a parser so that any malformed body raises InvalidResponseError naming ``what``, never an
    AttributeError or a pydantic error from deep inside."""

    def decorate(parse: Callable[[JsonDict], T]) -> Callable[[JsonDict], T]:
        @functools.wraps(parse)
        def wrapper(body: JsonDict) -> T:
            if not isinstance(body, dict):
                raise InvalidResponseError(f"{what}: the API answered a {type(body).__name__}, not an object")
            try:
                return parse(body)
            except InvalidResponseError as exc:
                raise InvalidResponseError(f"{what}: {exc}") from None
            except (AttributeError, TypeError, ValueError, KeyError) as exc:  # pydantic's ValidationError included
                problem = exc.errors(include_input=False)[0]["msg"] if isinstance(exc, ValidationError) else exc
                raise InvalidResponseError(f"{what}: unexpected response shape ({problem})") from None

        return wrapper

    return decorate


_BQ_RE = re.compile(
    r"^bq://(?P<project>(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{0,29})\.(?P<dataset>[A-Za-z0-9_]{1,1024})"
    r"(?:\.(?P<table>[A-Za-z0-9_$-][A-Za-z0-9_$ -]{0,1023}))?$"
)


def parse_gcs_uri(uri: Any, field_name: str) -> tuple[str, str]:
    """``gs://bucket/path`` -> (bucket, path) (``client.names.GcsUri.parse``)."""
    parsed = GcsUri.parse(uri, field_name)
    return parsed.bucket, parsed.name


def matched(pattern: re.Pattern[str], value: Any, field_name: str, what: str, fix: str) -> re.Match[str]:
    """``pattern`` matched at the start of ``value``, else ``InvalidInputError(field_name, "<value> is not
    <what>", fix)`` (a value that is not a string is refused too)."""
    match = pattern.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInputError(field_name, f"{value!r} is not {what}", fix)
    return match


def check_bigquery_uri(uri: Any, field_name: str, *, need_table: bool) -> str:
    """Validate ``bq://project.dataset[.table]``."""
    match = matched(
        _BQ_RE, uri, field_name, "a BigQuery URI", "use bq://project.dataset.table (or bq://project.dataset)"
    )
    if need_table and not match.group("table"):
        raise InvalidInputError(field_name, f"{uri!r} names no table", "use bq://project.dataset.table")
    return str(uri)


def compact_json(value: Any) -> bytes:
    """JSON without spaces, UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
