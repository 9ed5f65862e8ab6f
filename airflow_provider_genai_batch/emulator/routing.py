"""A small regex router (Google paths such as ``batches/ID:cancel`` do not fit path templates), request
context, authentication checks and response helpers shared by the route modules.

Paths are matched first as they are, then with up to three leading segments ignored, so the emulator also
answers clients whose base URL has a path prefix (``http://host/gemini/`` -> ``/gemini/v1/batches/x``).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from airflow_provider_genai_batch.emulator.errors import EmulatorError, invalid_argument
from airflow_provider_genai_batch.emulator.state import EmulatorConfig, Store

__all__ = [
    "Auth",
    "Handler",
    "Match",
    "RequestContext",
    "Route",
    "Router",
    "byte_chunks",
    "check_auth",
    "empty_response",
    "error_response",
    "json_response",
    "normalize_path",
]

Auth = Literal["none", "api_key", "bearer", "api_key_or_bearer"]
Handler = Callable[["RequestContext"], Awaitable[Response]]

_MAX_PREFIX_SEGMENTS = 3
_MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential."
)
_INVALID_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential."
)
_NO_API_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or "
    "other form of API consumer identity to call this API."
)


@dataclass(frozen=True)
class Route:
    """One endpoint: method, full-path regex (named groups become parameters), stats label, handler.

    Example::

        >>> async def get(ctx: RequestContext) -> Response: ...
        >>> Route("GET", r"/v1/batches/(?P<id>[^/:]+)", "gemini.batches.get", get, auth="api_key").label
        'gemini.batches.get'
    """

    method: str
    pattern: str
    label: str
    handler: Handler
    auth: Auth = "none"
    #: Query parameters that must be present (value ``None``) or equal to a value, to tell apart routes that
    #: share a path (``?upload_id=`` chunks and upload starts, ``?alt=media`` downloads and metadata).
    query: Mapping[str, str | None] = field(default_factory=dict)
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))

    def match(self, method: str, path: str, query: Mapping[str, str]) -> dict[str, str] | None:
        """The path parameters (URL-decoded) if this route takes the request, else ``None``."""
        if method != self.method:
            return None
        for name, value in self.query.items():
            if name not in query or (value is not None and query[name] != value):
                return None
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {k: unquote(v) for k, v in found.groupdict().items() if v is not None}


@dataclass(frozen=True)
class Match:
    """A routed request: its route, path parameters and the ignored path prefix (``""`` if none)."""

    route: Route
    params: dict[str, str]
    prefix: str


class Router:
    """Finds the route of a request; see the module docstring for path prefixes.

    Example::

        >>> async def get(ctx: RequestContext) -> Response: ...
        >>> router = Router([Route("GET", r"/v1/batches/(?P<id>[^/:]+)", "gemini.batches.get", get)])
        >>> match = router.match("GET", "/gemini/v1/batches/abc", {})
        >>> match.params, match.prefix
        ({'id': 'abc'}, '/gemini')
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)

    def match(self, method: str, path: str, query: Mapping[str, str]) -> Match | None:
        """The first route taking ``path`` as it is, else with a prefix of 1 to 3 segments ignored."""
        candidates = [("", path)]
        rest = path
        for _ in range(_MAX_PREFIX_SEGMENTS):
            cut = rest.find("/", 1)
            if cut <= 0:
                break
            rest = rest[cut:]
            candidates.append((path[: len(path) - len(rest)], rest))
        for prefix, candidate in candidates:
            for route in self.routes:
                params = route.match(method, candidate, query)
                if params is not None:
                    return Match(route, params, prefix)
        return None


def normalize_path(raw_path: bytes | None, path: str) -> str:
    """The request path with each segment decoded, except ``/`` and ``%`` inside a segment (``%2F``, ``%25``).

    GCS object names may contain encoded slashes; keeping them encoded lets a route capture a whole name,
    and ``Route.match`` decodes the captured value.
    """
    raw = raw_path.decode("latin-1") if raw_path else quote(path)
    return "/".join(quote(unquote(segment), safe="!$&'()*+,;=:@-._~ ") for segment in raw.split("/"))


def json_response(data: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response (every success is a 200, as the SDK demands)."""
    return JSONResponse(data, status_code=status_code, headers=dict(headers or {}))


def empty_response(headers: Mapping[str, str] | None = None, status_code: int = 200) -> Response:
    """A response with an empty body."""
    return Response(b"", status_code=status_code, headers=dict(headers or {}))


def error_response(error: EmulatorError) -> Response:
    """The Google error JSON for ``error``."""
    return json_response(error.body(), error.code, error.headers)


async def byte_chunks(data: bytes, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
    """``data`` in chunks of ``chunk_size`` bytes, for streamed downloads."""
    view = memoryview(data)
    for start in range(0, len(view), chunk_size):
        yield bytes(view[start : start + chunk_size])


def media_response(request: Request, data: bytes, media_type: str | None) -> Response:
    """The bytes of a file or object, streamed; honours ``Range: bytes=FIRST-[LAST]`` with 206, as Google's
    download endpoints do, so a client can resume a dropped download."""
    requested = request.headers.get("range", "")
    if not requested.startswith("bytes="):
        return StreamingResponse(byte_chunks(data), media_type=media_type, headers={"Content-Length": str(len(data))})
    first_text, _, last_text = requested.removeprefix("bytes=").partition("-")
    try:
        first = int(first_text)
        last = int(last_text) if last_text else len(data) - 1
    except ValueError:
        first, last = len(data), -1
    if first >= len(data) or last < first:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
    last = min(last, len(data) - 1)
    part = data[first : last + 1]
    headers = {"Content-Length": str(len(part)), "Content-Range": f"bytes {first}-{last}/{len(data)}"}
    return StreamingResponse(byte_chunks(part), status_code=206, media_type=media_type, headers=headers)


def _api_key(request: Request) -> str | None:
    return request.headers.get("x-goog-api-key") or request.query_params.get("key")


def _check_api_key(key: str | None, config: EmulatorConfig) -> None:
    if not key:
        raise EmulatorError(401, _NO_API_KEY, "UNAUTHENTICATED")
    if key != config.api_key:
        raise invalid_argument("API key not valid. Please pass a valid API key.")


def _check_bearer(request: Request, config: EmulatorConfig) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise EmulatorError(401, _MISSING_CREDENTIAL, "UNAUTHENTICATED")
    if config.accepted_tokens and token not in config.accepted_tokens:
        raise EmulatorError(401, _INVALID_CREDENTIAL, "UNAUTHENTICATED")


def check_auth(auth: Auth, request: Request, config: EmulatorConfig) -> None:
    """Raise the error the real service answers when the request's credentials do not pass.

    ``api_key``: Gemini (``x-goog-api-key`` or ``?key=``). ``bearer``: Vertex and GCS (``Authorization: Bearer``,
    any non-empty token unless ``accepted_tokens`` is set). ``api_key_or_bearer``: Vertex express mode.
    """
    if auth == "api_key":
        _check_api_key(_api_key(request), config)
    elif auth == "bearer":
        _check_bearer(request, config)
    elif auth == "api_key_or_bearer":
        key = _api_key(request)
        if key or "authorization" not in request.headers:
            _check_api_key(key, config)
        else:
            _check_bearer(request, config)


class RequestContext:
    """What a handler gets: the starlette request, path parameters, the store, and URL helpers."""

    def __init__(self, request: Request, match: Match, store: Store) -> None:
        self.request = request
        self.params = match.params
        self.prefix = match.prefix
        self.store = store

    @property
    def base_url(self) -> str:
        """The emulator's base URL as this client reached it, path prefix included (no trailing slash)."""
        url = self.request.url
        return f"{url.scheme}://{url.netloc}{self.prefix}"

    @property
    def version(self) -> str:
        """The API version of the path (``v1``, ``v1beta``, ``v1beta1``)."""
        return self.params.get("version", "v1")

    def query(self, name: str) -> str | None:
        """A query parameter, or ``None``."""
        return self.request.query_params.get(name)

    def header(self, name: str) -> str | None:
        """A request header (case-insensitive), or ``None``."""
        return self.request.headers.get(name)

    async def json_body(self) -> dict[str, Any]:
        """The JSON object in the body; an empty body is ``{}``; anything else is a 400 INVALID_ARGUMENT."""
        raw = await self.request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid_argument(f"Invalid JSON payload received. {exc}") from None
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received. Expected a JSON object.")
        return body
