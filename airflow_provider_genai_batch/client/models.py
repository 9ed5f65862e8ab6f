"""Typed models of the batch APIs, named as in google-genai's ``types``.

Every model accepts snake_case or camelCase keys, and google-genai ``types`` objects (any pydantic model),
so code written for the SDK moves over unchanged. Unknown fields are ignored, never an error.

Example::

    job = BatchJob.model_validate({"name": "batches/abc", "state": "JOB_STATE_RUNNING"})
    job.done                      # False
    InlinedRequest.model_validate({"contents": "what is 1+1?", "metadata": {"key": "q1"}})
"""

from __future__ import annotations

import datetime as dt
from enum import Enum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "FAILURE_STATES",
    "SUCCESS_STATES",
    "TERMINAL_STATES",
    "BatchJob",
    "BatchJobDestination",
    "BatchJobSource",
    "BatchStats",
    "CompletionStats",
    "CreateBatchJobConfig",
    "EmbedContentBatch",
    "File",
    "InlinedRequest",
    "InlinedResponse",
    "JobError",
    "JobState",
    "OutputInfo",
    "RequestCounts",
]


class ApiModel(BaseModel):
    """Base: camelCase or snake_case in, unknown fields ignored, foreign pydantic objects accepted."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _accept_foreign_models(cls, data: Any) -> Any:
        if isinstance(data, BaseModel) and not isinstance(data, cls):
            return data.model_dump(exclude_none=True)
        return data


class JobState(StrEnum):
    """Job states as google-genai names them; Gemini's ``BATCH_STATE_*`` map onto these."""

    UNSPECIFIED = "JOB_STATE_UNSPECIFIED"
    QUEUED = "JOB_STATE_QUEUED"
    PENDING = "JOB_STATE_PENDING"
    RUNNING = "JOB_STATE_RUNNING"
    SUCCEEDED = "JOB_STATE_SUCCEEDED"
    FAILED = "JOB_STATE_FAILED"
    CANCELLING = "JOB_STATE_CANCELLING"
    CANCELLED = "JOB_STATE_CANCELLED"
    PAUSED = "JOB_STATE_PAUSED"
    EXPIRED = "JOB_STATE_EXPIRED"
    UPDATING = "JOB_STATE_UPDATING"
    PARTIALLY_SUCCEEDED = "JOB_STATE_PARTIALLY_SUCCEEDED"

    @classmethod
    def parse(cls, raw: str | None) -> JobState:
        """Map a wire state (``BATCH_STATE_X`` or ``JOB_STATE_X``, any case) to a JobState.

        Unknown values give ``UNSPECIFIED``: a caller must never read them as success.
        """
        if not raw:
            return cls.UNSPECIFIED
        value = raw.strip().upper()
        if value.startswith("BATCH_STATE_"):
            value = "JOB_STATE_" + value[len("BATCH_STATE_") :]
        try:
            return cls(value)
        except ValueError:
            return cls.UNSPECIFIED

    @property
    def is_terminal(self) -> bool:
        """Whether the job can no longer change (note: PARTIALLY_SUCCEEDED is terminal, unlike the SDK's done)."""
        return self in TERMINAL_STATES

    @classmethod
    def coerce(cls, state: object) -> JobState:
        """``state`` itself when it is a JobState, else :meth:`parse` of its text (``None`` is UNSPECIFIED)."""
        if isinstance(state, JobState):
            return state
        raw = getattr(state, "value", state)
        return cls.parse(raw if isinstance(raw, str) else None)

    @property
    def short(self) -> str:
        """``SUCCEEDED`` for ``JOB_STATE_SUCCEEDED``."""
        return self.value.removeprefix("JOB_STATE_")

    @property
    def is_success(self) -> bool:
        """SUCCEEDED or PARTIALLY_SUCCEEDED: the job ended with results (how many failed is the policy's call)."""
        return self in SUCCESS_STATES

    @property
    def is_failure(self) -> bool:
        """FAILED, CANCELLED or EXPIRED: the job ended without results and will never change."""
        return self in FAILURE_STATES

    @property
    def is_reattachable(self) -> bool:
        """Whether a retried task may adopt a job in this state (not failed, not on its way to CANCELLED)."""
        return not self.is_failure and self is not JobState.CANCELLING


SUCCESS_STATES = frozenset({JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED})
FAILURE_STATES = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})
TERMINAL_STATES = SUCCESS_STATES | FAILURE_STATES


class JobError(ApiModel):
    """A google.rpc.Status: job-level or per-request error."""

    code: int | None = None
    message: str | None = None
    status: str | None = None
    details: list[Any] = Field(default_factory=list)

    def describe(self) -> str:
        """One line: ``400 INVALID_ARGUMENT: message``."""
        parts = [str(self.code) if self.code is not None else "", self.status or ""]
        head = " ".join(p for p in parts if p)
        return f"{head}: {self.message}" if head else (self.message or "unknown error")


class CompletionStats(ApiModel):
    """Vertex request counts (int64 strings on the wire)."""

    successful_count: int | None = None
    failed_count: int | None = None
    incomplete_count: int | None = None


class BatchStats(ApiModel):
    """Gemini request counts (int64 strings on the wire); the SDK drops them, we keep them."""

    request_count: int | None = None
    successful_request_count: int | None = None
    failed_request_count: int | None = None
    pending_request_count: int | None = None


class RequestCounts(ApiModel):
    """Request counts of a job, whatever the backend."""

    total: int | None = None
    succeeded: int = 0
    failed: int = 0
    pending: int | None = None

    @property
    def done(self) -> int:
        """Requests finished, successfully or not."""
        return self.succeeded + self.failed

    @property
    def percent(self) -> float | None:
        """Percentage of requests finished (0 to 100), when the total is known: the requests no longer pending
        when the pending count is known, else those that succeeded or failed."""
        if not self.total:
            return None
        finished = self.total - self.pending if self.pending is not None else self.done
        return round(100.0 * min(max(finished, 0), self.total) / self.total, 1)


class OutputInfo(ApiModel):
    """Where Vertex wrote the results."""

    gcs_output_directory: str | None = None
    bigquery_output_table: str | None = None
    bigquery_output_dataset: str | None = None


def _string_metadata(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("metadata must be a mapping of strings to strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise ValueError(f"metadata[{key!r}] must be a string, got {type(item).__name__}")
    return value


class InlinedRequest(ApiModel):
    """One generation request: contents (a string, Content dicts...), an optional config and metadata.

    Example::

        InlinedRequest(contents="what is 1+1?", config={"temperature": 0}, metadata={"key": "q1"})
    """

    model: str | None = None
    contents: Any = None
    config: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_strings(cls, value: Any) -> Any:
        return _string_metadata(value)

    @field_validator("config", mode="before")
    @classmethod
    def _config_as_dict(cls, value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(exclude_none=True)
        return value


class InlinedResponse(ApiModel):
    """One inline result: the response (a GenerateContentResponse as a dict) or an error, with metadata."""

    response: dict[str, Any] | None = None
    error: JobError | None = None
    metadata: dict[str, str] | None = None


class EmbedContentBatch(ApiModel):
    """Embeddings source as in google-genai: contents plus one config applied to each.

    Example::

        EmbedContentBatch(contents=["hello", "world"], config={"output_dimensionality": 8})
    """

    contents: list[Any]
    config: dict[str, Any] | None = None


class BatchJobSource(ApiModel):
    """Where a job's input is: inlined requests, a Files API file, GCS URIs or a BigQuery table."""

    format: str | None = None
    gcs_uri: list[str] | None = None
    bigquery_uri: str | None = None
    file_name: str | None = None
    inlined_requests: list[InlinedRequest] | None = None

    @field_validator("gcs_uri", mode="before")
    @classmethod
    def _one_uri_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class BatchJobDestination(ApiModel):
    """Where a job's results are."""

    format: str | None = None
    gcs_uri: str | None = None
    bigquery_uri: str | None = None
    file_name: str | None = None
    inlined_responses: list[InlinedResponse] | None = None
    inlined_embed_content_responses: list[InlinedResponse] | None = None


class _WebhookConfig(ApiModel):
    """google-genai's ``types.WebhookConfig``: ``uris`` and ``user_metadata``; an unknown field is refused, as the
    SDK refuses it."""

    model_config = ConfigDict(extra="forbid")

    uris: list[str] | None = None
    user_metadata: dict[str, Any] | None = None


class CreateBatchJobConfig(ApiModel):
    """Options of ``create``: display name, destination (Vertex), labels (Vertex), webhook (Gemini).

    ``webhook_config`` (a dict, camelCase or snake_case, or google-genai's ``WebhookConfig``) is kept as the JSON
    google-genai 3.3.0 sends: snake_case keys, ``None`` fields dropped.

    Example::

        CreateBatchJobConfig(display_name="nightly", dest="gs://bucket/out")
    """

    display_name: str | None = None
    dest: BatchJobDestination | str | None = None
    labels: dict[str, str] | None = None
    webhook_config: dict[str, Any] | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _label_strings(cls, value: Any) -> Any:
        return _string_metadata(value)

    @field_validator("webhook_config", mode="before")
    @classmethod
    def _webhook_as_sent(cls, value: Any) -> Any:
        if value is None:
            return None
        return _WebhookConfig.model_validate(value).model_dump(exclude_none=True, mode="json")


class File(ApiModel):
    """A Files API file (Gemini)."""

    name: str | None = None
    display_name: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    state: str | None = None
    source: str | None = None
    uri: str | None = None
    download_uri: str | None = None
    create_time: dt.datetime | None = None
    expiration_time: dt.datetime | None = None
    sha256_hash: str | None = None


class BatchJob(ApiModel):
    """A batch job of either backend, as google-genai's ``BatchJob`` plus request counts and labels.

    Example::

        job = client.batches.get(name="batches/abc")
        if job.done and job.state is JobState.SUCCEEDED: ...
    """

    name: str
    backend: str | None = None
    display_name: str | None = None
    state: JobState = JobState.UNSPECIFIED
    raw_state: str | None = None
    model: str | None = None
    create_time: dt.datetime | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    update_time: dt.datetime | None = None
    error: JobError | None = None
    src: BatchJobSource | None = None
    dest: BatchJobDestination | None = None
    completion_stats: CompletionStats | None = None
    batch_stats: BatchStats | None = None
    output_info: OutputInfo | None = None
    labels: dict[str, str] | None = None

    @field_validator("state", mode="before")
    @classmethod
    def _parse_state(cls, value: Any) -> Any:
        if isinstance(value, JobState):
            return value
        if isinstance(value, Enum):
            value = value.value
        return JobState.parse(value if isinstance(value, str) else None)

    @property
    def done(self) -> bool:
        """True in the five terminal states, PARTIALLY_SUCCEEDED included."""
        return self.state.is_terminal

    @property
    def id(self) -> str:
        """The last path segment of the name."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def request_counts(self) -> RequestCounts:
        """Total, succeeded, failed and pending requests from batchStats (Gemini) or completionStats (Vertex).

        Counts are never negative and pending never exceeds the total: a negative count (Vertex reports
        ``incompleteCount: -1`` when it does not know) is unknown (None, or 0 for succeeded and failed). A
        succeeded job has nothing pending whatever its counts say (list entries can be stale: a SUCCEEDED job
        listed with every request pending).
        """
        finished = self.state.is_success
        if self.batch_stats is not None:
            stats = self.batch_stats
            succeeded = _count(stats.successful_request_count) or 0
            failed = _count(stats.failed_request_count) or 0
            total = _count(stats.request_count)
            pending = _count(stats.pending_request_count)
            if pending is None and total is not None:
                pending = total - succeeded - failed
        elif self.completion_stats is not None:
            comp = self.completion_stats
            succeeded = _count(comp.successful_count) or 0
            failed = _count(comp.failed_count) or 0
            pending = _count(comp.incomplete_count)
            # proto3 JSON leaves zero counts out: an absent incompleteCount is 0, a negative one unknown.
            if comp.incomplete_count is None:
                pending = 0
            total = succeeded + failed + pending if pending is not None else None
        else:
            return RequestCounts(pending=0 if finished else None)
        if finished:
            pending = 0
        if total is not None and pending is not None:
            pending = min(max(pending, 0), max(total - succeeded - failed, 0) if not finished else 0)
        if total is not None and succeeded + failed > total:
            total = succeeded + failed + (pending or 0)
        return RequestCounts(total=total, succeeded=succeeded, failed=failed, pending=pending)


def _count(value: int | None) -> int | None:
    """A count as reported, or None when absent or negative (Vertex's -1 means unknown)."""
    return value if value is not None and value >= 0 else None
