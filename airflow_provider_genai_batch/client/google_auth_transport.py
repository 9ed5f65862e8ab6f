"""A google-auth transport on httpx, so that refreshing a token needs neither ``requests`` nor aiohttp.

google-auth asks for a ``google.auth.transport.Request`` callable whenever it talks to a token endpoint. This module
implements one on a sync ``httpx.Client`` (httpx is already a dependency of the client). Importing it imports
google-auth, so ``auth.py`` imports it lazily.

Example::

    request = HttpxRequest(timeout=httpx.Timeout(60.0, connect=10.0))
    credentials.refresh(request)
    request.close()
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from google.auth import exceptions, transport

__all__ = ["HttpxRequest", "HttpxResponse"]


class HttpxResponse(transport.Response):
    """An ``httpx.Response`` seen through google-auth's ``transport.Response`` interface."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers."""
        return self._response.headers

    @property
    def data(self) -> bytes:
        """The response body."""
        return self._response.content


class HttpxRequest(transport.Request):
    """google-auth's ``transport.Request`` on one reusable sync ``httpx.Client``.

    httpx failures become ``google.auth.exceptions.TransportError`` (with the httpx error as ``__cause__``),
    as google-auth expects. Thread-safe: ``httpx.Client`` may be shared by threads.

    Example::

        request = HttpxRequest(timeout=30.0)
        response = request("https://oauth2.googleapis.com/token", method="POST", body=b"...")
        print(response.status)
        request.close()
    """

    def __init__(self, *, timeout: httpx.Timeout | float = 60.0) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: object,
    ) -> HttpxResponse:
        """Send one request. ``timeout`` (seconds) overrides the client's; other keyword arguments are options
        of the ``requests`` transport (``cert``, ``verify``...) that google-auth passes through: not supported.
        """
        if kwargs:
            raise exceptions.TransportError(  # type: ignore[no-untyped-call]
                f"the httpx transport does not support the options {', '.join(sorted(kwargs))}"
            )
        try:
            response = self._client.request(
                method,
                url,
                content=body,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.HTTPError as exc:
            where = httpx.URL(url).copy_with(query=None, fragment=None)
            raise exceptions.TransportError(  # type: ignore[no-untyped-call]
                f"{method} {where} failed: {type(exc).__name__}: {exc}"
            ) from exc
        return HttpxResponse(response)

    def close(self) -> None:
        """Close the connection pool (idempotent)."""
        self._client.close()
