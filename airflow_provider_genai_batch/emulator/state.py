"""In-memory state of one emulator: settings, jobs, files, uploads, GCS objects, BigQuery tables, counters.

Everything lives in one ``Store`` guarded by one re-entrant lock. Request handlers and the control API take the
lock for short, O(1) critical sections (a job lookup, an append); only listing and result materialization walk
collections.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from airflow_provider_genai_batch.emulator.errors import invalid_argument
from airflow_provider_genai_batch.emulator.responses import RequestKind

if TYPE_CHECKING:
    from airflow_provider_genai_batch.emulator.faults import FaultRule

__all__ = [
    "FINAL_STATES",
    "Backend",
    "EmulatorConfig",
    "FailedRequests",
    "FileRecord",
    "FilesUpload",
    "FinalState",
    "GcsObject",
    "GcsUpload",
    "Job",
    "Outcome",
    "RequestItem",
    "RowFailure",
    "SourceKind",
    "Store",
]

Backend = Literal["gemini", "vertex"]
FinalState = Literal["SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "EXPIRED", "CANCELLED", "STUCK_PENDING"]
FINAL_STATES: tuple[str, ...] = get_args(FinalState)
SourceKind = Literal["inline", "file", "gcs", "bigquery"]
#: ``add_outcome(failed_requests=...)``: indices, ``{index: code}`` or ``(index, code[, message])`` pairs.
FailedRequests = Iterable[Any] | Mapping[Any, Any]


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise invalid_argument(f"{name}: expected a number of seconds >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class EmulatorConfig:
    """Settings of an emulator; change them at run time with ``configure(...)``.

    Example::

        >>> EmulatorConfig(job_seconds=0.5).pending_seconds
        0.2
    """

    #: The Gemini API key (``x-goog-api-key`` or ``?key=``); also accepted by Vertex express-mode paths.
    api_key: str = "test-key"
    #: How long a job stays RUNNING (its counts grow linearly meanwhile).
    job_seconds: float = 1.0
    #: How long a job stays PENDING before it runs.
    pending_seconds: float = 0.2
    #: How long a cancelled Vertex job stays CANCELLING before it is CANCELLED (Gemini cancels at once).
    cancel_seconds: float = 0.1
    #: Rows per Vertex GCS output shard: one ``predictions.jsonl`` up to this many rows, else numbered shards.
    vertex_shard_rows: int = 10_000
    #: Bearer tokens accepted by Vertex and GCS routes; empty means any non-empty token.
    accepted_tokens: tuple[str, ...] = ()
    #: Check create bodies, inline requests and input lines against Google's published schemas
    #: (``schema_check.py``); ``False`` accepts anything shaped like a request.
    strict: bool = True
    #: Return results (inline responses, result-file lines, prediction rows) in a shuffled order, seeded by the
    #: job name, as Google may; ``False`` keeps request order.
    shuffle_results: bool = True
    #: Order of the Gemini batch list: ``newest_first``, ``oldest_first`` or ``unfinished_first`` (unfinished
    #: jobs, then finished ones, each newest-first); Google documents none.
    gemini_list_order: str = "newest_first"
    #: Answer ``404 NOT_FOUND`` for a model Google does not publish (``published_models.py``); ``False`` accepts
    #: any model name (for tests that make names up).
    check_models: bool = True
    #: Model ids accepted besides the published ones (models newer than the emulator's list, or test names).
    extra_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key:
            raise invalid_argument("api_key: must be a non-empty string")
        for name in ("job_seconds", "pending_seconds", "cancel_seconds"):
            object.__setattr__(self, name, _seconds(name, getattr(self, name)))
        rows = self.vertex_shard_rows
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise invalid_argument(f"vertex_shard_rows: expected an integer >= 1, got {rows!r}")
        if not isinstance(self.shuffle_results, bool):
            raise invalid_argument(f"shuffle_results: expected true or false, got {self.shuffle_results!r}")
        tokens = self.accepted_tokens
        if not isinstance(tokens, list | tuple) or not all(isinstance(t, str) and t for t in tokens):
            raise invalid_argument("accepted_tokens: expected a list of non-empty strings")
        object.__setattr__(self, "accepted_tokens", tuple(tokens))
        if not isinstance(self.strict, bool):
            raise invalid_argument(f"strict: expected true or false, got {self.strict!r}")
        if not isinstance(self.check_models, bool):
            raise invalid_argument(f"check_models: expected true or false, got {self.check_models!r}")
        models = self.extra_models
        if not isinstance(models, list | tuple) or not all(isinstance(m, str) and m for m in models):
            raise invalid_argument("extra_models: expected a list of non-empty model ids")
        object.__setattr__(self, "extra_models", tuple(models))
        if self.gemini_list_order not in ("newest_first", "oldest_first", "unfinished_first"):
            raise invalid_argument(
                "gemini_list_order: expected 'newest_first', 'oldest_first' or 'unfinished_first', "
                f"got {self.gemini_list_order!r}"
            )

    def updated(self, **changes: Any) -> EmulatorConfig:
        """A copy with ``changes`` applied; unknown names raise a 400 ``EmulatorError``."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise invalid_argument(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-compatible values."""
        data = asdict(self)
        data["accepted_tokens"] = list(self.accepted_tokens)
        data["extra_models"] = list(self.extra_models)
        return data


@dataclass(frozen=True)
class RowFailure:
    """How one request of a job fails: an HTTP code (its Google status follows from it) and a message.

    Example::

        >>> RowFailure(429).message
        'Request failed on purpose with 429 (an emulator outcome).'
    """

    code: int = 400
    message: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.code, bool) or not isinstance(self.code, int) or not 400 <= self.code <= 599:
            raise invalid_argument(f"failed_requests: a row's code must be an HTTP code 400..599, got {self.code!r}")
        if not isinstance(self.message, str):
            raise invalid_argument("failed_requests: a row's message must be a string")
        if not self.message:
            object.__setattr__(self, "message", f"Request failed on purpose with {self.code} (an emulator outcome).")


def _index(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_argument(f"failed_requests: a request index must be an integer >= 0, got {value!r}")
    return value


def _row_failure(value: Any) -> RowFailure:
    if isinstance(value, RowFailure):
        return value
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"code", "message"})
        if unknown:
            raise invalid_argument(f"failed_requests: unknown field(s) {', '.join(unknown)}; known: code, message")
        return RowFailure(value.get("code", 400), value.get("message") or "")
    if isinstance(value, list | tuple):
        if not 1 <= len(value) <= 2:
            raise invalid_argument("failed_requests: expected [code] or [code, message] for a row")
        return RowFailure(value[0], value[1] if len(value) == 2 else "")
    return RowFailure(value)


def row_failures(failed: Any) -> dict[int, RowFailure]:
    """``failed_requests`` in any of its forms, as failures by request index.

    Forms: indices (``[3, 7]``: each fails with 400 INVALID_ARGUMENT); a mapping of index to code, to
    ``[code, message]`` or to ``{"code", "message"}`` (``{3: 429, 7: 400}``; JSON keys may be strings); or pairs
    and triples (``[(3, 429), (7, 500, "boom")]``).

    Example::

        >>> row_failures({3: 429})[3].code
        429
    """
    if isinstance(failed, str | bytes):
        raise invalid_argument("failed_requests: expected request indices or a mapping of index to error code")
    if isinstance(failed, dict):
        return {_index(i): _row_failure(v) for i, v in failed.items()}
    rows: dict[int, RowFailure] = {}
    try:
        entries = list(failed)
    except TypeError:
        raise invalid_argument("failed_requests: expected request indices or a mapping of index to code") from None
    for entry in entries:
        if isinstance(entry, list | tuple):
            if len(entry) < 2:
                raise invalid_argument("failed_requests: a pair needs an index and a code: [index, code(, message)]")
            rows[_index(entry[0])] = _row_failure(list(entry[1:]))
        else:
            rows[_index(entry)] = RowFailure()
    return rows


@dataclass
class Outcome:
    """How the next matching job(s) end; see ``EmulatorControls.add_outcome``."""

    final_state: FinalState = "SUCCEEDED"
    #: Indices, ``{index: code}``, or ``(index, code[, message])`` pairs; normalized to a mapping (``row_failures``).
    failed_requests: Any = ()
    error_message: str | None = None
    job_seconds: float | None = None
    pending_seconds: float | None = None
    match_display_name: str | None = None
    backend: Backend | None = None
    #: How many more jobs this outcome applies to; ``None`` means every matching job until ``reset()``.
    count: int | None = 1
    #: EXPIRED only: how many requests (the first ones) are processed before the job expires. Its counts show them
    #: while it runs and once it has expired; Google writes no results for an expired job, so neither do we.
    expired_done: int = 0

    def __post_init__(self) -> None:
        if self.final_state not in FINAL_STATES:
            raise invalid_argument(f"final_state: {self.final_state!r} is not one of {', '.join(FINAL_STATES)}")
        self.failed_requests = row_failures(self.failed_requests)
        done = self.expired_done
        if isinstance(done, bool) or not isinstance(done, int) or done < 0:
            raise invalid_argument(f"expired_done: expected an integer >= 0, got {done!r}")
        if done and self.final_state != "EXPIRED":
            raise invalid_argument("expired_done: applies only to final_state EXPIRED")
        for name in ("job_seconds", "pending_seconds"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, _seconds(name, value))
        if self.backend not in (None, "gemini", "vertex"):
            raise invalid_argument(f"backend: {self.backend!r} is not 'gemini' or 'vertex'")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise invalid_argument(f"count: expected an integer >= 1 or null, got {self.count!r}")
        if self.error_message is not None and not isinstance(self.error_message, str):
            raise invalid_argument("error_message: expected a string")
        if self.match_display_name is not None and not isinstance(self.match_display_name, str):
            raise invalid_argument("match_display_name: expected a string")

    def matches(self, backend: Backend, display_name: str | None) -> bool:
        """Whether a job created on ``backend`` with ``display_name`` takes this outcome."""
        if self.backend is not None and self.backend != backend:
            return False
        return self.match_display_name is None or self.match_display_name in (display_name or "")


@dataclass
class RequestItem:
    """One request of a batch, with what is echoed next to its result."""

    request: dict[str, Any]
    #: Gemini inline ``metadata`` (values as strings).
    metadata: dict[str, str] | None = None
    #: Other top-level fields of an input line or BigQuery row (``key``...), carried into the output.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Job:
    """A batch job of either backend. Its state is derived from timestamps when read (see ``jobs.py``)."""

    backend: Backend
    id: str
    name: str
    seq: int
    kind: RequestKind
    #: Where the requests came from: inline, a Files API file, GCS objects or a BigQuery table.
    source: SourceKind
    model: str
    display_name: str | None
    create_time: float
    pending_seconds: float
    job_seconds: float
    final_state: FinalState
    error_message: str | None
    items: list[RequestItem]
    #: Indices of requests that fail individually, sorted.
    failed: tuple[int, ...]
    #: Why the input could not be read (the job then FAILS when it would start running).
    input_error: str | None
    #: The request's input configuration, echoed in responses.
    input_config: dict[str, Any]
    #: Vertex only: the output configuration, echoed in responses.
    output_config: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    project: str = ""
    location: str = ""
    cancel_time: float | None = None
    #: Set by ``finish_job``: the job ends in ``final_state`` at this time.
    forced_end: float | None = None
    #: Results, once materialized: Gemini ``output`` or Vertex ``outputInfo`` (wire JSON).
    output: dict[str, Any] | None = None
    settled: bool = False
    #: How chosen requests fail (by index; the others of ``failed`` fail with 400 INVALID_ARGUMENT).
    row_errors: dict[int, RowFailure] = field(default_factory=dict)
    #: EXPIRED jobs: requests processed before expiry (counted, no results).
    expired_done: int = 0


@dataclass(eq=False)
class FileRecord:
    """A Files API file (uploaded, or generated as a batch's results)."""

    id: str
    seq: int
    data: bytes
    mime_type: str
    display_name: str | None
    create_time: float
    source: Literal["UPLOADED", "GENERATED"]
    sha256: str = ""

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()


@dataclass(eq=False)
class FilesUpload:
    """A Files API resumable upload in progress."""

    id: str
    file_id: str
    mime_type: str
    display_name: str | None
    declared_size: int | None
    data: bytearray = field(default_factory=bytearray)
    file: FileRecord | None = None


@dataclass(eq=False)
class GcsObject:
    """A GCS object (buckets exist implicitly)."""

    bucket: str
    name: str
    data: bytes
    content_type: str
    generation: int
    create_time: float
    md5: bytes = b""

    def __post_init__(self) -> None:
        self.md5 = hashlib.md5(self.data, usedforsecurity=False).digest()


@dataclass(eq=False)
class GcsUpload:
    """A GCS JSON API resumable upload session."""

    id: str
    bucket: str
    name: str
    content_type: str
    total: int | None
    data: bytearray = field(default_factory=bytearray)
    object: GcsObject | None = None


class Store:
    """All the state of one emulator, behind ``lock``.

    Example::

        >>> store = Store(EmulatorConfig(job_seconds=0.1))
        >>> with store.lock:
        ...     obj = store.put_object("bucket", "in.jsonl", b"{}", "application/jsonl")
        >>> obj.generation >= 1
        True
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.lock = threading.RLock()
        self.initial_config = config or EmulatorConfig()
        self.reset()

    def reset(self) -> None:
        """Forget everything and restore the initial settings."""
        with self.lock:
            self.config = self.initial_config
            self.gemini_jobs: dict[str, Job] = {}
            self.vertex_jobs: dict[str, Job] = {}
            #: Jobs whose results may still have to be materialized.
            self.unsettled: dict[int, Job] = {}
            self.files: dict[str, FileRecord] = {}
            self.files_uploads: dict[str, FilesUpload] = {}
            self.objects: dict[tuple[str, str], GcsObject] = {}
            self.gcs_uploads: dict[str, GcsUpload] = {}
            self.tables: dict[str, list[dict[str, Any]]] = {}
            self.outcomes: list[Outcome] = []
            self.faults: list[FaultRule] = []
            self.requests: Counter[str] = Counter()
            self.counters: Counter[str] = Counter()
            self.faults_fired: Counter[str] = Counter()
            self.clock_offset = 0.0
            self._seq = itertools.count(1)
            # webhooks (emulator/webhooks.py): registrations, faults and deliveries; made again on first use
            self.__dict__.pop("_webhook_hub", None)

    def now(self) -> float:
        """The emulator's clock: wall-clock time plus whatever ``advance_clock`` added."""
        return time.time() + self.clock_offset

    def next_seq(self) -> int:
        """A creation sequence number (orders lists newest first)."""
        return next(self._seq)

    def take_outcome(self, backend: Backend, display_name: str | None) -> Outcome | None:
        """The first queued outcome matching a new job, consumed once."""
        with self.lock:
            for index, outcome in enumerate(self.outcomes):
                if outcome.matches(backend, display_name):
                    if outcome.count is not None:
                        outcome.count -= 1
                        if outcome.count == 0:
                            del self.outcomes[index]
                    return outcome
        return None

    def add_job(self, job: Job) -> None:
        """Register a new job and count it."""
        with self.lock:
            jobs = self.gemini_jobs if job.backend == "gemini" else self.vertex_jobs
            jobs[job.id] = job
            self.unsettled[id(job)] = job
            self.counters["jobs_created"] += 1
            self.counters[f"jobs_created.{job.backend}"] += 1

    def put_object(self, bucket: str, name: str, data: bytes, content_type: str) -> GcsObject:
        """Create or replace a GCS object (a new generation)."""
        with self.lock:
            obj = GcsObject(bucket, name, bytes(data), content_type, self.next_seq(), self.now())
            self.objects[(bucket, name)] = obj
            return obj
