"""Google-style API errors: the exception the emulator raises and the JSON body it is answered with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "RPC_CODES",
    "EmulatorError",
    "failed_precondition",
    "google_status_for",
    "invalid_argument",
    "not_found",
]

_STATUS_BY_HTTP_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request is missing required authentication credential.",
    403: "The caller does not have permission.",
    404: "Requested entity was not found.",
    408: "Request timed out.",
    409: "The resource already exists.",
    429: "Resource has been exhausted (e.g. check quota).",
    499: "The operation was cancelled.",
    500: "Internal error encountered.",
    501: "Operation is not implemented, or supported, or enabled.",
    502: "Bad gateway.",
    503: "The service is currently unavailable.",
    504: "Deadline exceeded.",
}

#: google.rpc.Code numbers, used in job-level ``error`` objects (a google.rpc.Status, as the real services do).
RPC_CODES = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "FAILED_PRECONDITION": 9,
    "INTERNAL": 13,
}


def google_status_for(code: int) -> str:
    """The Google status string usually paired with an HTTP status code (``UNKNOWN`` when there is none)."""
    return _STATUS_BY_HTTP_CODE.get(code, "UNKNOWN")


class EmulatorError(Exception):
    """An API error, answered as ``{"error": {"code": ..., "message": ..., "status": ...}}`` (plus ``details``,
    e.g. a ``google.rpc.BadRequest`` with ``fieldViolations``, when given).

    Raised by request handlers and by the control API (in process and, through ``EmulatorClient``, over HTTP).

    Example::

        >>> err = EmulatorError(404, "Requested entity was not found.")
        >>> err.body()
        {'error': {'code': 404, 'message': 'Requested entity was not found.', 'status': 'NOT_FOUND'}}
    """

    def __init__(
        self,
        code: int,
        message: str | None = None,
        status: str | None = None,
        headers: Mapping[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.code = code
        self.details = list(details or [])
        self.status = status or google_status_for(code)
        self.message = message or _DEFAULT_MESSAGES.get(code, "Error.")
        self.headers = dict(headers or {})
        super().__init__(f"{code} {self.status}: {self.message}")

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid_argument(message: str) -> EmulatorError:
    """A 400 INVALID_ARGUMENT error; the message should name the offending field."""
    return EmulatorError(400, message, "INVALID_ARGUMENT")


def failed_precondition(message: str) -> EmulatorError:
    """A 400 FAILED_PRECONDITION error (the resource is not in a state that allows the operation)."""
    return EmulatorError(400, message, "FAILED_PRECONDITION")


def not_found(message: str = "Requested entity was not found.") -> EmulatorError:
    """A 404 NOT_FOUND error."""
    return EmulatorError(404, message, "NOT_FOUND")
