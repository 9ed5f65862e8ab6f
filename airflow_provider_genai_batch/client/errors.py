"""One exception hierarchy for the batch client.

Every API error keeps the HTTP status, the Google status (``NOT_FOUND``...) and the server's message. No
exception text ever contains a credential: messages are built from the response body and the request's
method and path only (never headers or query strings, where ``?key=`` could sit), and text relayed from a
server or a library passes ``redaction.scrub`` (a proxy or a token endpoint may echo what it was sent).

Example::

    try:
        client.batches.get(name="batches/missing")
    except NotFoundError as exc:
        print(exc.status_code, exc.google_status, exc.message)   # 404 NOT_FOUND Requested entity...
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "GenAIBatchError",
    "InternalServerError",
    "InvalidInputError",
    "InvalidResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServiceUnavailableError",
    "UnsupportedOperationError",
    "error_for_status",
    "is_transient",
]


class GenAIBatchError(Exception):
    """Root of every error raised by this package's client."""


class InvalidInputError(GenAIBatchError, ValueError):
    """Bad input, rejected before any network call.

    Example::

        InvalidInputError("src", "a Vertex job cannot take inlined requests", "set gcs_staging_prefix")
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. {fix}")


class UnsupportedOperationError(InvalidInputError):
    """The chosen backend has no such operation (for example embeddings batches on Vertex)."""


class InvalidResponseError(GenAIBatchError):
    """The API answered 200 with a body this client cannot understand."""


class APIConnectionError(GenAIBatchError):
    """The request could not be completed: connection refused, reset, or dropped mid-response.

    ``request_sent`` is False only when the request provably never reached the server (connect failed).
    """

    def __init__(self, message: str, *, method: str = "", path: str = "", request_sent: bool = True) -> None:
        self.method = method
        self.path = path
        self.request_sent = request_sent
        message = _scrubbed(message)
        super().__init__(f"{message} ({method} {path})" if method else message)


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, write, read or pool)."""


class APIStatusError(GenAIBatchError):
    """The API answered with a non-200 status.

    Attributes: ``status_code`` (HTTP), ``google_status`` (e.g. ``RESOURCE_EXHAUSTED``), ``message``,
    ``details`` (the parsed error body), ``retry_after`` (seconds, when the server said so).
    """

    def __init__(
        self,
        status_code: int,
        google_status: str | None,
        message: str,
        *,
        method: str = "",
        path: str = "",
        details: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.google_status = google_status
        self.message = message = _scrubbed(message)
        self.method = method
        self.path = path
        self.details = details
        self.retry_after = retry_after
        where = f" ({method} {path})" if method else ""
        super().__init__(f"{status_code} {google_status or ''}: {message}{where}".replace("  ", " "))


def _scrubbed(message: str) -> str:
    """Relayed text without secret-looking values; imported here so that importing this module stays free
    (the operators import it at DAG parse time)."""
    from airflow_provider_genai_batch.client.redaction import scrub

    return scrub(message)


class BadRequestError(APIStatusError):
    """400: INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE."""


class AuthenticationError(APIStatusError):
    """401 UNAUTHENTICATED."""


class PermissionDeniedError(APIStatusError):
    """403 PERMISSION_DENIED."""


class NotFoundError(APIStatusError):
    """404 NOT_FOUND."""


class RequestTimeoutError(APIStatusError):
    """408 from the server."""


class ConflictError(APIStatusError):
    """409 ALREADY_EXISTS or ABORTED."""


class RateLimitError(APIStatusError):
    """429 RESOURCE_EXHAUSTED."""


class InternalServerError(APIStatusError):
    """500 and other 5xx without a more specific class."""


class ServiceUnavailableError(InternalServerError):
    """502, 503 or 504."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    429: RateLimitError,
    502: ServiceUnavailableError,
    503: ServiceUnavailableError,
    504: ServiceUnavailableError,
}

TRANSIENT_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})


def error_for_status(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP status."""
    if status_code in _STATUS_CLASSES:
        return _STATUS_CLASSES[status_code]
    if status_code >= 500:
        return InternalServerError
    return APIStatusError


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same read-only call again later may succeed."""
    if isinstance(exc, APIStatusError):
        return exc.status_code in TRANSIENT_STATUS_CODES
    return isinstance(exc, APIConnectionError)
