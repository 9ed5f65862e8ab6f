"""Injected faults: error statuses, delays and dropped connections, for testing clients' retry logic.

A fault rule matches requests by method and a regex searched in the path, lets the first ``skip`` matching
requests through, fires with a probability (seeded, so runs are reproducible) at most ``count`` times, and then:

- ``status``: answers ``status`` with a Google error body (``google_status`` derived from the code unless
  given) and a ``Retry-After`` header when ``retry_after`` is set; a 429 also carries Google's quota details,
  ``QuotaFailure`` and ``RetryInfo`` with ``retryDelay`` = ``retry_delay`` seconds (default 1; Google sends
  values such as 15 s or 53 s). The request is not processed.
- ``delay``: waits ``delay_seconds``, then processes the request normally.
- ``drop``: closes the connection without any response; the request is not processed.
- ``apply_then_drop``: processes the request (a create does create the job), then closes the connection
  without sending the response: the case that makes naive clients submit twice.

``delay_seconds`` also delays the other kinds. Admin routes (``/_emulator/``) are never faulted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from airflow_provider_genai_batch.emulator.errors import EmulatorError, invalid_argument
from airflow_provider_genai_batch.emulator.state import Store

__all__ = [
    "FAULT_KINDS",
    "ConnectionDropped",
    "FaultKind",
    "FaultRule",
    "install_log_filter",
    "pick_fault",
    "run_fault",
]

FaultKind = Literal["status", "delay", "drop", "apply_then_drop"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _number(name: str, value: Any, *, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise invalid_argument(f"{name}: expected a number >= {low:g}, got {value!r}")
    if high is not None and value > high:
        raise invalid_argument(f"{name}: expected a number <= {high:g}, got {value!r}")
    return float(value)


@dataclass(eq=False)
class FaultRule:
    """One fault to inject; see the module docstring.

    Example::

        >>> rule = FaultRule(kind="status", method="POST", path=r":batchGenerateContent$", status=429,
        ...                  retry_after=2)
        >>> rule.matches("POST", "/v1/models/gemini-2.5-flash:batchGenerateContent")
        True
    """

    kind: FaultKind = "status"
    method: str | None = None
    path: str | None = None
    status: int = 429
    google_status: str | None = None
    message: str | None = None
    retry_after: float | None = None
    retry_delay: float = 1.0
    delay_seconds: float = 0.0
    count: int | None = 1
    skip: int = 0
    probability: float = 1.0
    seed: int | None = None
    _regex: re.Pattern[str] | None = field(init=False, repr=False, default=None)
    _rng: random.Random = field(init=False, repr=False, default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise invalid_argument(f"kind: {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if self.method is not None:
            if not isinstance(self.method, str):
                raise invalid_argument("method: expected an HTTP method such as 'GET'")
            self.method = self.method.upper()
        if self.path is not None:
            try:
                self._regex = re.compile(self.path)
            except (re.error, TypeError) as exc:
                raise invalid_argument(f"path: not a valid regular expression ({exc})") from None
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 400 <= self.status <= 599:
            raise invalid_argument(f"status: expected an HTTP error status 400..599, got {self.status!r}")
        if self.retry_after is not None:
            self.retry_after = _number("retry_after", self.retry_after, low=0)
        self.retry_delay = _number("retry_delay", self.retry_delay, low=0)
        self.delay_seconds = _number("delay_seconds", self.delay_seconds, low=0)
        self.probability = _number("probability", self.probability, low=0, high=1)
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise invalid_argument(f"count: expected an integer >= 1 or null, got {self.count!r}")
        if isinstance(self.skip, bool) or not isinstance(self.skip, int) or self.skip < 0:
            raise invalid_argument(f"skip: expected an integer >= 0, got {self.skip!r}")
        self._rng = random.Random(self.seed)

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path is eligible for this fault."""
        if self.method is not None and self.method != method:
            return False
        return self._regex is None or self._regex.search(path) is not None

    def error(self) -> EmulatorError:
        """The error answered by a ``status`` fault. A 429 carries what Google's quota errors carry: a
        ``google.rpc.QuotaFailure`` and a ``google.rpc.RetryInfo`` whose ``retryDelay`` is ``retry_delay``
        (tests/client/real_responses/errors/429_quotafailure_help_retryinfo_15s.json)."""
        headers = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
        details: list[dict[str, Any]] = []
        if self.status == 429:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/batch_requests",
                            "quotaId": "BatchRequestsPerMinutePerProject",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{self.retry_delay:g}s"},
            ]
        return EmulatorError(self.status, self.message, self.google_status, headers, details)


def pick_fault(store: Store, method: str, path: str) -> FaultRule | None:
    """The first rule that fires for this request (consuming one of its ``count``), or ``None``."""
    with store.lock:
        for index, rule in enumerate(store.faults):
            if not rule.matches(method, path):
                continue
            if rule.skip:
                rule.skip -= 1
                continue
            if rule.probability < 1 and rule._rng.random() >= rule.probability:
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count == 0:
                    del store.faults[index]
            store.faults_fired[rule.kind] += 1
            return rule
    return None


class ConnectionDropped(Exception):
    """Raised out of the ASGI app so that the server closes the connection without a response."""


async def _drop_connection(send: Send) -> None:
    # uvicorn marks the response as started before it validates the headers: an invalid header makes it
    # write nothing, and the exception that follows makes it close the transport instead of sending a 500.
    try:
        await send({"type": "http.response.start", "status": 500, "headers": [(b"x-emulator-drop", b"\n")]})
    except Exception as exc:
        raise ConnectionDropped("fault injected: connection dropped") from exc
    raise ConnectionDropped("fault injected: connection dropped")


async def _discard(message: Message) -> None:
    """An ASGI ``send`` that throws the response away."""


async def _send_error(error: EmulatorError, send: Send) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def run_fault(rule: FaultRule, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one request under ``rule``; ``app`` serves it normally."""
    if rule.delay_seconds:
        await asyncio.sleep(rule.delay_seconds)
    if rule.kind == "delay":
        await app(scope, receive, send)
    elif rule.kind == "status":
        await _send_error(rule.error(), send)
    elif rule.kind == "drop":
        await _drop_connection(send)
    else:
        await app(scope, receive, _discard)
        await _drop_connection(send)


class _DropFilter(logging.Filter):
    """Hides the server's "Exception in ASGI application" records caused by ``ConnectionDropped``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def install_log_filter(logger_name: str = "uvicorn.error") -> None:
    """Keep injected connection drops out of the server's error log (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())
