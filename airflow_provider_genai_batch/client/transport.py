"""The only code that sends: one retry policy, a sync and an async transport on httpx.

Retries: 408, 429, 500, 502, 503, 504 and connection errors, exponential backoff with full jitter, honouring
``Retry-After`` or, without it, a ``google.rpc.RetryInfo`` ``retryDelay`` in the error body. A request marked
``idempotent=False`` (a create) is re-sent only when it provably never reached
the server (connect failed) or the server explicitly refused it with 429; anything else is surfaced, so the
caller's look-up-then-create logic decides, never a blind second create.

Example::

    transport = SyncTransport(settings, auth)
    response = transport.send(ApiRequest("GET", url))
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_provider_genai_batch import __version__
from airflow_provider_genai_batch.client.auth import AuthProvider
from airflow_provider_genai_batch.client.errors import (
    TRANSIENT_STATUS_CODES,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    error_for_status,
    retry_delay_from_details,
)
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.wire.common import ApiRequest, ApiResponse

log = logging.getLogger(__name__)

USER_AGENT = f"airflow-provider-genai-batch/{__version__}"
# Exceptions raised before any byte of the request left this process.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again and how long to wait. Pure.

    Example::

        RetryPolicy(max_retries=5).delay(attempt=2, retry_after=None)   # about 2-4 s
    """

    max_retries: int = 5
    initial_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 300.0

    @classmethod
    def from_settings(cls, settings: ClientSettings) -> RetryPolicy:
        """The policy a client's settings describe."""
        return cls(settings.max_retries, settings.retry_initial_delay, settings.retry_max_delay)

    def delay(self, attempt: int, retry_after: float | None, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.initial_delay * (2.0**attempt))
        return ceiling / 2 + rand() * ceiling / 2

    def retry_status(self, request: ApiRequest, status_code: int, attempt: int) -> bool:
        """Whether a response with this status may be retried."""
        if attempt >= self.max_retries or status_code not in TRANSIENT_STATUS_CODES:
            return False
        return request.idempotent or status_code == 429

    def retry_exception(self, request: ApiRequest, exc: Exception, attempt: int) -> bool:
        """Whether a transport exception may be retried."""
        if attempt >= self.max_retries or not isinstance(exc, httpx.TransportError):
            return False
        return request.idempotent or isinstance(exc, _NOT_SENT)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(parsed.timestamp() - time.time(), 0.0)


def error_from_response(request: ApiRequest, response: ApiResponse) -> APIStatusError:
    """The exception for a non-OK answer, keeping HTTP status, Google status and message."""
    google_status: str | None = None
    message = ""
    details: Any = None
    try:
        body = response.json()
    except Exception:
        body = {}
        message = response.content[:500].decode(errors="replace").strip()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        google_status = error.get("status") if isinstance(error.get("status"), str) else None
        message = str(error.get("message") or "")
        details = error.get("details")
    cls = error_for_status(response.status_code)
    return cls(
        response.status_code,
        google_status,
        message or f"HTTP {response.status_code}",
        method=request.method,
        path=request.path,
        details=details,
        retry_after=_retry_after(response, details),
    )


def _retry_after(response: ApiResponse, details: Any) -> float | None:
    """The server's wait: the ``Retry-After`` header, else a ``google.rpc.RetryInfo`` in the error's details
    (Google's APIs send the latter on 429 RESOURCE_EXHAUSTED, e.g. ``"retryDelay": "21s"``)."""
    header = parse_retry_after(response.headers.get("retry-after"))
    return header if header is not None else retry_delay_from_details(details)


def connection_error(request: ApiRequest, exc: Exception) -> APIConnectionError:
    """Our exception for an httpx transport error (its text never holds headers or the query)."""
    sent = not isinstance(exc, _NOT_SENT)
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(f"{type(exc).__name__}: {exc}", method=request.method, path=request.path, request_sent=sent)


class Attempts:
    """The retry loop's state for one logical request; shared by the sync and async transports."""

    def __init__(self, policy: RetryPolicy, request: ApiRequest) -> None:
        self.policy = policy
        self.request = request
        self.attempt = 0

    def after_response(self, response: ApiResponse) -> float | None:
        """None when the response is final and OK; a delay to retry; raises for a final error."""
        if response.status_code in self.request.ok_statuses:
            return None
        error = error_from_response(self.request, response)
        if not self.policy.retry_status(self.request, response.status_code, self.attempt):
            raise error
        if error.retry_after is not None and error.retry_after > self.policy.max_retry_after:
            raise error
        return self._next(error.retry_after, f"{response.status_code} {error.google_status or ''}")

    def after_exception(self, exc: Exception) -> float:
        """A delay to retry after a transport error; raises our exception when not retried."""
        if not self.policy.retry_exception(self.request, exc, self.attempt):
            raise connection_error(self.request, exc) from exc
        return self._next(None, type(exc).__name__)

    def _next(self, retry_after: float | None, why: str) -> float:
        delay = self.policy.delay(self.attempt, retry_after)
        self.attempt += 1
        log.info(
            "Retrying %s %s after %s (attempt %d of %d) in %.1fs",
            self.request.method,
            self.request.path,
            why.strip(),
            self.attempt,
            self.policy.max_retries,
            delay,
        )
        return delay


def build_headers(request: ApiRequest, auth_headers: dict[str, str]) -> dict[str, str]:
    """Headers for one request: ours, the auth provider's (unless an upload chunk), the request's."""
    headers = {"user-agent": USER_AGENT, "x-goog-api-client": USER_AGENT}
    if request.authenticated:
        headers.update(auth_headers)
    headers.update(request.headers)
    return headers


# Bodies above this size (upload chunks) are handed to httpx as one-shot streams: an httpx response sits in a
# reference cycle with its request until the garbage collector runs, and a plain ``bytes`` body would keep every
# 8 MiB chunk sent so far alive with it (benchmark 5 measured 200 MiB of growth per GB uploaded).
ONE_SHOT_BODY_BYTES = 64 * 1024


def _once(data: bytes) -> Iterator[bytes]:
    yield data


async def _aonce(data: bytes) -> AsyncIterator[bytes]:
    yield data


def to_httpx(client: httpx.Client | httpx.AsyncClient, request: ApiRequest, headers: dict[str, str]) -> httpx.Request:
    """An httpx request for an ApiRequest."""
    content: Any = request.content
    if content is not None and len(content) > ONE_SHOT_BODY_BYTES:
        headers = {**headers, "Content-Length": str(len(content))}
        content = _aonce(content) if isinstance(client, httpx.AsyncClient) else _once(content)
    return client.build_request(
        request.method,
        request.url,
        params=request.params or None,
        json=request.json,
        content=content,
        headers=headers,
    )


def from_httpx(response: httpx.Response) -> ApiResponse:
    """An ApiResponse from a fully read httpx response."""
    return ApiResponse(response.status_code, lower_headers(response), response.content)


def lower_headers(response: httpx.Response) -> dict[str, str]:
    """Response headers with lower-case names."""
    return {k.lower(): v for k, v in response.headers.items()}


def http_timeout(settings: ClientSettings) -> httpx.Timeout:
    """The httpx timeout for a client's settings."""
    return httpx.Timeout(settings.timeout, connect=settings.connect_timeout)


def http_limits(settings: ClientSettings) -> httpx.Limits:
    """One pool per client; keep-alive connections up to the pool size."""
    return httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_connections,
        # httpx's default of 5 s closes a connection between two polls of a triggerer watching many jobs at
        # 30 s intervals; Google's front ends keep idle connections longer than this.
        keepalive_expiry=60.0,
    )


class RangeResume:
    """Bookkeeping for a streamed download that resumes with ``Range`` after a dropped connection."""

    def __init__(self, request: ApiRequest) -> None:
        self.request = request
        self.received = 0
        self.skip = 0

    def next_request(self) -> ApiRequest:
        """The request for the remaining bytes."""
        headers = {**self.request.headers, "Accept-Encoding": "identity"}
        if self.received:
            headers["Range"] = f"bytes={self.received}-"
        return ApiRequest(self.request.method, self.request.url, self.request.params, headers=headers)

    def accept(self, status_code: int) -> None:
        """A 200 to a ranged request restarts from byte 0: skip what was already delivered."""
        self.skip = self.received if (self.received and status_code == 200) else 0

    def take(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` not yet delivered."""
        if self.skip:
            dropped = min(self.skip, len(chunk))
            self.skip -= dropped
            chunk = chunk[dropped:]
        self.received += len(chunk)
        return chunk


_STREAM_OK = (200, 206)


class SyncTransport:
    """Sends ApiRequests with retries on a pooled ``httpx.Client`` (blocking)."""

    def __init__(
        self,
        settings: ClientSettings,
        auth: AuthProvider,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.policy = RetryPolicy.from_settings(settings)
        self.auth = auth
        self._sleep = sleep
        self._owns_client = http_client is None
        self.http = http_client or httpx.Client(timeout=http_timeout(settings), limits=http_limits(settings))

    def send(self, request: ApiRequest) -> ApiResponse:
        """Send with retries; return the OK response or raise our exception."""
        attempts = Attempts(self.policy, request)
        while True:
            try:
                response = from_httpx(self.http.send(to_httpx(self.http, request, self._headers(request))))
            except httpx.TransportError as exc:
                delay = attempts.after_exception(exc)
            else:
                next_delay = attempts.after_response(response)
                if next_delay is None:
                    return response
                delay = next_delay
            (self._sleep or time.sleep)(delay)

    def stream(self, request: ApiRequest) -> Iterator[bytes]:
        """The response body in chunks; a connection dropped mid-body resumes with ``Range``."""
        resume = RangeResume(request)
        attempts = Attempts(self.policy, request)
        while True:
            current = resume.next_request()
            try:
                with self.http.stream(
                    current.method, current.url, params=current.params or None, headers=self._headers(current)
                ) as response:
                    if response.status_code not in _STREAM_OK:
                        response.read()
                        delay = attempts.after_response(
                            ApiResponse(response.status_code, lower_headers(response), response.content)
                        )
                    else:
                        resume.accept(response.status_code)
                        for chunk in response.iter_raw():
                            part = resume.take(chunk)
                            if part:
                                yield part
                        return
            except httpx.TransportError as exc:
                delay = attempts.after_exception(exc)
            if delay is not None:
                (self._sleep or time.sleep)(delay)

    def _headers(self, request: ApiRequest) -> dict[str, str]:
        return build_headers(request, self.auth.headers() if request.authenticated else {})

    def close(self) -> None:
        """Close the pool (when this transport made it)."""
        if self._owns_client:
            self.http.close()


class AsyncTransport:
    """Sends ApiRequests with retries on a pooled ``httpx.AsyncClient``; never blocks the event loop."""

    def __init__(
        self,
        settings: ClientSettings,
        auth: AuthProvider,
        *,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.policy = RetryPolicy.from_settings(settings)
        self.auth = auth
        self._sleep = sleep
        self._owns_client = http_client is None
        self.http = http_client or httpx.AsyncClient(timeout=http_timeout(settings), limits=http_limits(settings))
        # At most as many requests in httpx's pool as it has connections; the rest wait here, in FIFO order.
        # httpcore's pool re-scans every queued request on each change, so letting 10,000 triggers' polls queue
        # inside it costs quadratic CPU and stalls the event loop (BENCHMARKS.md, triggerer density).
        self._gate = asyncio.Semaphore(settings.max_connections)

    async def send(self, request: ApiRequest) -> ApiResponse:
        """Send with retries; return the OK response or raise our exception."""
        attempts = Attempts(self.policy, request)
        while True:
            try:
                prepared = to_httpx(self.http, request, await self._headers(request))
                async with self._gate:
                    raw = await self.http.send(prepared)
                response = from_httpx(raw)
            except httpx.TransportError as exc:
                delay = attempts.after_exception(exc)
            else:
                next_delay = attempts.after_response(response)
                if next_delay is None:
                    return response
                delay = next_delay
            await (self._sleep or asyncio.sleep)(delay)

    async def stream(self, request: ApiRequest) -> AsyncIterator[bytes]:
        """The response body in chunks; a connection dropped mid-body resumes with ``Range``."""
        resume = RangeResume(request)
        attempts = Attempts(self.policy, request)
        while True:
            current = resume.next_request()
            try:
                headers = await self._headers(current)
                async with (
                    self._gate,
                    self.http.stream(
                        current.method, current.url, params=current.params or None, headers=headers
                    ) as response,
                ):
                    if response.status_code not in _STREAM_OK:
                        await response.aread()
                        delay = attempts.after_response(
                            ApiResponse(response.status_code, lower_headers(response), response.content)
                        )
                    else:
                        resume.accept(response.status_code)
                        async for chunk in response.aiter_raw():
                            part = resume.take(chunk)
                            if part:
                                yield part
                        return
            except httpx.TransportError as exc:
                delay = attempts.after_exception(exc)
            if delay is not None:
                await (self._sleep or asyncio.sleep)(delay)

    async def _headers(self, request: ApiRequest) -> dict[str, str]:
        return build_headers(request, await self.auth.aheaders() if request.authenticated else {})

    async def aclose(self) -> None:
        """Close the pool (when this transport made it)."""
        if self._owns_client:
            await self.http.aclose()
