"""Completion policy: from a finished attempt's per-row outcomes, which rows a follow-up job resubmits. Pure.

Every row of the input ends in exactly one of: answered (by some attempt), failed for good (a 400-class error
but 429: resubmitting the same request cannot help), or given up (no answer, or a retryable error: 429, 500, 503,
504 / ``DEADLINE_EXCEEDED``, when a bound stops the resubmissions). A row answered by attempt *k* is never sent
again. Attempt *k + 1* sends exactly the rows still open after attempt *k*, in input order, so its input (and the
mapping of its results back to input positions) follows from the attempts before it: a task retried after a
crash recomputes the same follow-up, and its key (``followup_key``: the parent's key and the attempt number)
finds the job already made instead of paying for a second one.

Example::

    policy = CompletionPolicy(max_attempts=3)
    ledger = RowLedger(total=4)
    ledger.absorb(1, range(4), [(0, None, None), (1, 429, "RESOURCE_EXHAUSTED"), (3, 400, "INVALID_ARGUMENT")])
    ledger.open_rows()                          # [1, 2]: 2 got no answer, 1 failed retryably, 3 failed for good
    policy.next_step(ledger, attempt=1, elapsed=10.0, spent=Spend())   # NextStep("resubmit", rows=[1, 2])
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ATTEMPTS_XCOM_KEY",
    "RETRYABLE_CODES",
    "CompletionPolicy",
    "NextStep",
    "RowLedger",
    "Spend",
    "StuckWatch",
    "followup_key",
    "is_retryable_row_error",
]

#: XCom key of a create task's attempts (job names, attempt 1 first), pushed whenever a follow-up is made and before
#: each deferral: the deferred task resumes from it, and the reaper finds follow-ups (verified by key) through it.
ATTEMPTS_XCOM_KEY = "genai_batch_attempts"

#: HTTP codes of a row error worth resubmitting; every other 4xx is the request's own fault.
RETRYABLE_CODES = frozenset({429, 500, 503, 504})
_RETRYABLE_STATUSES = frozenset({"RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})

# Row states in the ledger.
_OPEN, _ANSWERED, _FAILED, _RETRYABLE = 0, 1, 2, 3

OnStuck = Literal["wait", "fail", "resubmit"]


def is_retryable_row_error(code: int | None, status: str | None) -> bool:
    """Whether a row that failed with ``code`` / ``status`` may succeed when sent again (never a 400-class but 429).

    Example::

        >>> is_retryable_row_error(429, "RESOURCE_EXHAUSTED"), is_retryable_row_error(400, "INVALID_ARGUMENT")
        (True, False)
    """
    if code is not None:
        return code in RETRYABLE_CODES
    return status in _RETRYABLE_STATUSES


def followup_key(parent_key: str, attempt: int) -> str:
    """The idempotency key of attempt ``attempt`` (2, 3...) of the task whose first job carries ``parent_key``.

    Example::

        >>> len(followup_key("0123456789abcdef01234567", 2))
        24
    """
    if attempt < 2:
        raise ValueError("attempt 1 carries the task's own key")
    payload = json.dumps(["genai-batch-followup", parent_key, attempt], separators=(",", ":")).encode()
    return hashlib.sha256(payload).hexdigest()[: len(parent_key)]


def _check_optional_positive(name: str, value: Any) -> float | None:
    from airflow_provider_genai_batch.client.errors import InvalidInputError

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidInputError(f"completion.{name}", f"must be a number > 0, got {value!r}", "pass seconds or None")
    return float(value)


@dataclass(frozen=True)
class Spend:
    """What the attempts so far cost: tokens, and (with prices) an estimated cost."""

    tokens: int = 0
    cost: float | None = None


@dataclass(frozen=True)
class NextStep:
    """What follows an attempt: ``resubmit`` ``rows`` (input positions) as attempt ``attempt + 1``, ``done``
    (no row left open), or ``stop`` (a bound was hit: ``rows`` are given up, ``reason`` says which bound)."""

    kind: Literal["resubmit", "done", "stop"]
    rows: tuple[int, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class CompletionPolicy:
    """How a create operator finishes every row: follow-up jobs for open rows, bounded.

    :param max_attempts: jobs at most, the first included (1: no follow-up).
    :param resubmit_rows: resubmit rows without an answer and rows failed retryably (else only report them).
    :param on_stuck: a job making no progress for ``stuck_after`` seconds, or PENDING for ``pending_after``:
        ``"wait"`` (keep waiting), ``"fail"`` (fail the task at once, naming the job) or ``"resubmit"`` (cancel
        it and resubmit its rows as the next attempt; worker only decides, the trigger only reports).
    :param stuck_after: seconds without a change of state or counts; None: never stuck.
    :param pending_after: seconds in PENDING; None: never stuck.
    :param deadline: seconds from the first attempt's start after which no follow-up is submitted.
    :param max_tokens: no follow-up once the attempts' tokens plus the follow-up's estimate would exceed it.
    :param max_cost: the same in the currency of ``prices`` (``{model: {"input", "output"[, "cached"]}}`` per
        million tokens, as the results writer takes).
    """

    max_attempts: int = 3
    resubmit_rows: bool = True
    on_stuck: OnStuck = "wait"
    stuck_after: float | None = None
    pending_after: float | None = None
    deadline: float | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    prices: dict[str, dict[str, float]] | None = field(default=None, hash=False, compare=False)

    def __post_init__(self) -> None:
        from airflow_provider_genai_batch.client.errors import InvalidInputError
        from airflow_provider_genai_batch.client.usage import check_prices

        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
            raise InvalidInputError(
                "completion.max_attempts", f"must be an integer 1..100, got {attempts!r}", "pass e.g. 3"
            )
        if self.on_stuck not in ("wait", "fail", "resubmit"):
            raise InvalidInputError(
                "completion.on_stuck", f"must be 'wait', 'fail' or 'resubmit', got {self.on_stuck!r}", "pick one"
            )
        for name in ("stuck_after", "pending_after", "deadline", "max_cost"):
            object.__setattr__(self, name, _check_optional_positive(name, getattr(self, name)))
        tokens = self.max_tokens
        if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0):
            raise InvalidInputError("completion.max_tokens", f"must be an integer > 0, got {tokens!r}", "pass tokens")
        object.__setattr__(self, "prices", check_prices(self.prices, "completion.prices"))
        if self.max_cost is not None and self.prices is None:
            raise InvalidInputError("completion.max_cost", "needs prices", "pass prices={model: {input, output}}")

    def next_step(self, ledger: RowLedger, *, attempt: int, elapsed: float, spent: Spend) -> NextStep:
        """After attempt ``attempt`` (1-based) was absorbed, ``elapsed`` seconds after the first began."""
        rows = tuple(ledger.open_rows())
        if not rows:
            return NextStep("done")
        if not self.resubmit_rows:
            return NextStep("stop", rows, "resubmit_rows=False")
        if attempt >= self.max_attempts:
            return NextStep("stop", rows, f"max_attempts={self.max_attempts} reached")
        if self.deadline is not None and elapsed >= self.deadline:
            return NextStep("stop", rows, f"the completion deadline ({self.deadline:g} s) passed")
        answered = ledger.answered
        per_row_tokens = spent.tokens / answered if answered else 0.0
        if self.max_tokens is not None:
            estimate = spent.tokens + per_row_tokens * len(rows)
            if estimate > self.max_tokens:
                return NextStep(
                    "stop",
                    rows,
                    f"the token budget ({self.max_tokens}) would be exceeded: {spent.tokens} spent, "
                    f"about {round(per_row_tokens * len(rows))} more for {len(rows)} rows",
                )
        if self.max_cost is not None and spent.cost is not None:
            per_row_cost = spent.cost / answered if answered else 0.0
            if spent.cost + per_row_cost * len(rows) > self.max_cost:
                return NextStep(
                    "stop",
                    rows,
                    f"the cost budget ({self.max_cost:g}) would be exceeded: {spent.cost:g} spent, "
                    f"about {per_row_cost * len(rows):g} more for {len(rows)} rows",
                )
        return NextStep("resubmit", rows)


class RowLedger:
    """Each input row's outcome across attempts, in bounded memory (3 bytes a row plus the open rows' errors)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._state = array("b", bytes(total))
        self._attempt = array("h", bytes(2 * total))
        #: The last error of each row not answered: ``(code, status, message)``.
        self.errors: dict[int, tuple[int | None, str | None, str]] = {}

    def absorb(
        self,
        attempt: int,
        rows: Sequence[int],
        results: Iterable[tuple[int, int | None, str | None] | tuple[int, int | None, str | None, str]],
    ) -> None:
        """Record attempt ``attempt`` whose input was the input rows ``rows`` (in order): ``results`` are
        ``(position in that attempt, error code, error status[, message])``, code and status None when answered.
        Rows of the attempt without a result stay (or become) open."""
        for row in rows:
            if self._state[row] == _RETRYABLE:
                self._state[row] = _OPEN
        for result in results:
            position, code, status = result[0], result[1], result[2]
            row = rows[position]
            if self._state[row] == _ANSWERED:
                continue  # never answered twice (a row is resubmitted only when open)
            self._attempt[row] = attempt
            if code is None and status is None:
                self._state[row] = _ANSWERED
                self.errors.pop(row, None)
                continue
            message = result[3] if len(result) > 3 else ""
            self.errors[row] = (code, status, str(message))
            self._state[row] = _RETRYABLE if is_retryable_row_error(code, status) else _FAILED

    def open_rows(self) -> list[int]:
        """Rows without an answer or failed retryably, in input order: what a follow-up would send."""
        return [row for row, state in enumerate(self._state) if state in (_OPEN, _RETRYABLE)]

    def attempt_of(self, row: int) -> int:
        """The attempt whose result is the row's final one (0: none yet)."""
        return int(self._attempt[row])

    @property
    def answered(self) -> int:
        """Rows answered by some attempt."""
        return self._state.count(_ANSWERED)

    @property
    def failed(self) -> int:
        """Rows failed for good (a non-retryable error)."""
        return self._state.count(_FAILED)


class StuckWatch:
    """Whether a job is stuck: no change of state or counts for ``stuck_after`` seconds (counted from this watch's
    first look), or not started (PENDING or QUEUED) for ``pending_after`` seconds (counted from the job's creation
    when known and earlier, so a retried try or a re-created trigger does not restart the count).

    Example::

        >>> watch = StuckWatch(stuck_after=None, pending_after=60)
        >>> watch.observe("JOB_STATE_PENDING", (0, 0), now=1000.0, pending_since=900.0)
        'still PENDING 100 s after its creation (pending_after=60)'
    """

    __slots__ = ("_created", "_first_seen", "_last_change", "_last_seen", "pending_after", "stuck_after")

    def __init__(self, *, stuck_after: float | None, pending_after: float | None) -> None:
        self.stuck_after = stuck_after
        self.pending_after = pending_after
        self._first_seen: float | None = None
        self._created: float | None = None
        self._last_change = 0.0
        self._last_seen: tuple[Any, ...] | None = None

    @classmethod
    def for_policy(cls, policy: CompletionPolicy | None) -> StuckWatch | None:
        """The watch ``policy`` asks for; None when it keeps waiting (``on_stuck="wait"``) or sets no threshold."""
        if policy is None or policy.on_stuck == "wait":
            return None
        if policy.stuck_after is None and policy.pending_after is None:
            return None
        return cls(stuck_after=policy.stuck_after, pending_after=policy.pending_after)

    def observe(
        self, state: str, counts: tuple[Any, ...], now: float, *, pending_since: float | None = None
    ) -> str | None:
        """The reason the job is stuck, or None; ``state`` as ``JOB_STATE_*``, ``counts`` any comparable tuple,
        ``pending_since`` the job's creation (epoch seconds) when known (remembered for later looks)."""
        seen = (state, *counts)
        if self._first_seen is None:
            self._first_seen = now
        if pending_since is not None:
            self._created = pending_since if self._created is None else min(self._created, pending_since)
        if seen != self._last_seen:
            self._last_seen, self._last_change = seen, now
        not_started = state.endswith(("PENDING", "QUEUED"))
        if self.pending_after is not None and not_started:
            since = self._first_seen if self._created is None else min(self._created, self._first_seen)
            if now - since >= self.pending_after:
                origin = "its creation" if since < self._first_seen else "the first look"
                short = state.removeprefix("JOB_STATE_").removeprefix("BATCH_STATE_")
                return f"still {short} {now - since:.0f} s after {origin} (pending_after={self.pending_after:g})"
        if self.stuck_after is not None and now - self._last_change >= self.stuck_after:
            return f"no progress for {now - self._last_change:.0f} s (stuck_after={self.stuck_after:g})"
        return None
