"""Per-request results of a finished job, read as a stream whatever the destination.

``BatchResult`` carries the request's key and metadata, then the response or the per-request error. Lines are
split incrementally from byte chunks, so a result file of gigabytes is read in bounded memory.

Results come in the service's order, which need not be the request order. Attribution (``Attribution``):

- A job's results are *stamped* when its first result carries ``metadata.genai_batch_index`` (every request this
  client serialises does: inline requests, uploaded or staged JSONL, see ``wire/stamp.py``), or when it is a
  Vertex job reading one input object this client staged (``.../inputs/<sha256 prefix>.jsonl``).
- Stamped: ``index`` is the stamp, ``metadata`` is the user's metadata without it (None when the user gave
  none), ``key`` the user's key or ``str(index)``. A result without a stamp, or with a stamp that is not a
  decimal string, out of range or already seen, raises ``InvalidResponseError`` naming the job: never a guess.
- Not stamped (a JSONL file, gs:// objects or a BigQuery table the user supplied, or a job made by another
  tool): ``index`` numbers results in the order they are read, ``key`` and ``metadata`` are the user's as
  echoed (None when absent). A stamp on a later result of such a job raises too.

Example::

    for result in client.batches.iter_results(job):
        print(result.key, result.text if result.ok else result.error)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from airflow_provider_genai_batch.client.errors import InvalidInputError, InvalidResponseError
from airflow_provider_genai_batch.client.models import BatchJob, InlinedResponse, JobError, JobState
from airflow_provider_genai_batch.client.wire.stamp import STAMP_KEY, is_staged_input, stamp_from_request_labels

__all__ = [
    "Attribution",
    "BatchResult",
    "LineSplitter",
    "ResultsLocation",
    "inline_results",
    "parse_result_line",
    "results_location",
]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One request's outcome. A slotted dataclass, not a pydantic model: a results file of a gigabyte holds a
    million of them, and construction cost is most of the client's share of reading it (BENCHMARKS.md).

    ``index`` is the position of the request in the input (from its stamp; for an unstamped user file, the
    reading order), ``key`` the user's key (or ``str(index)`` for stamped requests without one: then
    ``generated_key`` is True, set where the key is made, never inferred from its value), ``metadata`` exactly
    the user's metadata (None when there was none). Results arrive in the service's order: sort by ``index``
    for request order.

    Example::

        BatchResult(index=0, key="q1", response={"candidates": [...]}).text
    """

    index: int
    key: str | None = None
    metadata: dict[str, str] | None = None
    response: dict[str, Any] | None = None
    error: JobError | None = None
    generated_key: bool = False

    @property
    def ok(self) -> bool:
        """True when the request produced a response and no error."""
        return self.error is None and self.response is not None

    @property
    def text(self) -> str | None:
        """The first candidate's text parts joined (thoughts excluded); None for errors and embeddings."""
        if not self.response:
            return None
        candidates = self.response.get("candidates") or []
        if not candidates:
            return None
        parts = (candidates[0].get("content") or {}).get("parts") or []
        texts = [p["text"] for p in parts if isinstance(p, dict) and "text" in p and not p.get("thought")]
        return "".join(texts) if texts else None

    @property
    def embedding(self) -> list[float] | None:
        """The embedding values of an embeddings result."""
        if not self.response:
            return None
        embedding = self.response.get("embedding") or {}
        values = embedding.get("values") if isinstance(embedding, dict) else None
        return values if isinstance(values, list) else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the line format ``GenAIBatchWriteResultsOperator`` writes), None fields left out."""
        out: dict[str, Any] = {"index": self.index}
        if self.key is not None:
            out["key"] = self.key
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.response is not None:
            out["response"] = self.response
        if self.error is not None:
            out["error"] = self.error.model_dump(mode="json", exclude_none=True)
        return out


class ResultsLocation(BaseModel):
    """Where a job's results are; ``kind`` says which field is set (and ``uri`` is that field). It is also the
    ``results`` of the XCom manifest, so its JSON form is part of the provider's interface.

    - ``inline``: inside the job (Gemini inlined responses); ``inline_count`` of them.
    - ``file``: a Gemini Files API file, ``file_name`` (``files/...``).
    - ``gcs``: a Vertex GCS output directory, ``gcs_output_directory``.
    - ``bigquery``: a Vertex BigQuery table, ``bigquery_table`` (``bq://project.dataset.table``).
    - ``none``: no results (yet).

    Example::

        ResultsLocation(kind="file", file_name="files/out-1").uri   # 'files/out-1'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["inline", "file", "gcs", "bigquery", "none"] = "none"
    inline_count: int | None = None
    file_name: str | None = None
    gcs_output_directory: str | None = None
    bigquery_table: str | None = None

    @property
    def uri(self) -> str | None:
        """The file, directory or table the results are in (None when inline or none)."""
        return self.file_name or self.gcs_output_directory or self.bigquery_table


def bigquery_table_uri(dataset: str | None, table: str) -> str:
    """``bq://project.dataset.table`` from Vertex's ``outputInfo``, which names the table bare beside the dataset."""
    if table.startswith("bq://"):
        return table
    if dataset:
        return f"{dataset.rstrip('/.')}.{table}" if dataset.startswith("bq://") else f"bq://{dataset}.{table}"
    return f"bq://{table}"


def results_location(job: BatchJob) -> ResultsLocation:
    """Where the results of a job are (or will be)."""
    dest = job.dest
    if dest is not None and (dest.inlined_responses or dest.inlined_embed_content_responses):
        inlined = dest.inlined_responses or dest.inlined_embed_content_responses or []
        return ResultsLocation(kind="inline", inline_count=len(inlined))
    if dest is not None and dest.file_name:
        return ResultsLocation(kind="file", file_name=dest.file_name)
    info = job.output_info
    if info is not None and info.gcs_output_directory:
        return ResultsLocation(kind="gcs", gcs_output_directory=info.gcs_output_directory)
    if info is not None and info.bigquery_output_table:
        table = bigquery_table_uri(info.bigquery_output_dataset, info.bigquery_output_table)
        return ResultsLocation(kind="bigquery", bigquery_table=table)
    if dest is not None and dest.bigquery_uri:
        return ResultsLocation(kind="bigquery", bigquery_table=dest.bigquery_uri)
    if dest is not None and dest.gcs_uri:
        return ResultsLocation(kind="gcs", gcs_output_directory=dest.gcs_uri)
    return ResultsLocation()


def check_readable(job: BatchJob) -> ResultsLocation:
    """The location to stream from; raise a clear error when there is nothing to stream yet or at all."""
    if job.state not in (JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED):
        raise InvalidInputError(
            "job",
            f"{job.name} is {job.state.short}; results exist only for a succeeded job",
            "wait for the job to finish (GenAIBatchJobSensor or wait_for_completion=True)",
        )
    location = results_location(job)
    if location.kind == "bigquery":
        raise InvalidInputError(
            "job", f"results of {job.name} are in BigQuery table {location.uri}", "read them with BigQuery"
        )
    if location.kind == "none" or (
        location.kind == "gcs" and not (job.output_info and job.output_info.gcs_output_directory)
    ):
        raise InvalidResponseError(f"job {job.name} succeeded but reports no results location")
    return location


# Indices seen are tracked in a bitmap up to here (2 MiB at most), in a set beyond (a stamp is service input).
_BITMAP_INDICES = 1 << 24


class Attribution:
    """Numbers a job's results by their stamp (or by reading order when the job is not stamped); see the module
    docstring for the rule. One per read of a job; shared by inline and streamed results.

    Example::

        attribution = Attribution(job)
        result = attribution.result(None, {"genai_batch_index": "2"}, {"candidates": []}, None)
        result.index, result.key, result.metadata          # 2, "2", None
    """

    def __init__(self, job: BatchJob | None = None, total: int | None = None, start: int = 0) -> None:
        self._job = job.name if job is not None else "the job"
        self._total = total
        self._stamped: bool | None = True if job is not None and _staged_by_us(job) else None
        self._seen = bytearray()  # one bit per index below _BITMAP_INDICES (a million results: 125 KB)
        self._seen_beyond: set[int] = set()
        self._position = start

    def _fail(self, position: int, problem: str) -> InvalidResponseError:
        return InvalidResponseError(
            f"{self._job}: result {position + 1} {problem}; results cannot be attributed to requests by position "
            "because the service may return them in any order"
        )

    def _index(self, stamp: Any, position: int) -> int:
        text = str(stamp) if isinstance(stamp, int) and not isinstance(stamp, bool) else stamp
        if not isinstance(text, str) or not text.isascii() or not text.isdigit():
            raise self._fail(position, f"has metadata.{STAMP_KEY} = {stamp!r}, not a request index")
        index = int(text)
        if self._total is not None and index >= self._total:
            raise self._fail(position, f"names request {index}, but the job has {self._total} requests")
        if index >= _BITMAP_INDICES:
            if index in self._seen_beyond:
                raise self._fail(position, f"names request {index}, whose result was already read")
            self._seen_beyond.add(index)
            return index
        byte, bit = divmod(index, 8)
        if byte >= len(self._seen):
            self._seen.extend(bytes(byte + 1 - len(self._seen)))
        if self._seen[byte] & (1 << bit):
            raise self._fail(position, f"names request {index}, whose result was already read")
        self._seen[byte] |= 1 << bit
        return index

    def result(
        self, key: Any, metadata: dict[str, Any] | None, response: dict[str, Any] | None, error: JobError | None
    ) -> BatchResult:
        """The next result read, attributed."""
        position = self._position
        self._position += 1
        stamp = user_metadata = None
        if metadata:
            stamp = metadata.get(STAMP_KEY)
            user_metadata = {str(k): str(v) for k, v in metadata.items() if k != STAMP_KEY} or None
        if self._stamped is None:
            self._stamped = stamp is not None
        if self._stamped:
            if stamp is None:
                raise self._fail(position, f"carries no metadata.{STAMP_KEY} though the job's requests were stamped")
            index = self._index(stamp, position)
        elif stamp is not None:
            raise self._fail(position, f"carries metadata.{STAMP_KEY} though the job's first result did not")
        else:
            index = position
        if key is None and user_metadata:
            key = user_metadata.get("key")
        generated = key is None and bool(self._stamped)
        if generated:
            key = str(index)
        return BatchResult(index, str(key) if key is not None else None, user_metadata, response, error, generated)


def _staged_by_us(job: BatchJob) -> bool:
    """A Vertex job reading the one JSONL object ``create`` staged: its lines were stamped."""
    uris = job.src.gcs_uri if job.src is not None else None
    return job.backend == "vertex" and bool(uris) and len(uris or []) == 1 and is_staged_input((uris or [""])[0])


def _request_count(job: BatchJob) -> int | None:
    """How many requests a Gemini job reports (``requestCount``); None when unknown. Vertex's completion counts
    are not used: proto3 JSON leaves zero counts out, so their sum is no safe bound."""
    stats = job.batch_stats
    return stats.request_count if stats is not None and stats.request_count else None


def inline_results(job: BatchJob) -> Iterator[BatchResult]:
    """Results held in the job itself (Gemini inline input), attributed by their stamp."""
    dest = job.dest
    items: list[InlinedResponse] = []
    if dest is not None:
        items = dest.inlined_responses or dest.inlined_embed_content_responses or []
    attribution = Attribution(job, total=len(items))
    for item in items:
        yield attribution.result(None, item.metadata, item.response, item.error)


class LineSplitter:
    """Split a byte stream into lines incrementally; only a partial line is ever buffered."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """Complete lines in ``chunk`` (with what was buffered before)."""
        data = self._tail + chunk if self._tail else chunk
        lines = data.split(b"\n")
        self._tail = lines.pop()
        return [line for line in lines if line.strip()]

    def finish(self) -> list[bytes]:
        """The last line when the stream did not end with a newline."""
        tail, self._tail = self._tail, b""
        return [tail] if tail.strip() else []


class ResultStreamParser:
    """Bytes of one or more result shards in, attributed BatchResults out; shared by the sync and async clients.

    Example::

        parser = ResultStreamParser(job)
        results = parser.feed(chunk) + parser.end_of_shard()
    """

    def __init__(self, job: BatchJob | None = None) -> None:
        self._splitter = LineSplitter()
        self._attribution = Attribution(job, total=_request_count(job) if job is not None else None)
        self._line = 0

    def feed(self, chunk: bytes) -> list[BatchResult]:
        """Results completed by this chunk."""
        return [self._parse(line) for line in self._splitter.feed(chunk)]

    def end_of_shard(self) -> list[BatchResult]:
        """The shard's last line when it had no final newline."""
        return [self._parse(line) for line in self._splitter.finish()]

    def _parse(self, line: bytes) -> BatchResult:
        fields = _line_fields(line, self._line)
        self._line += 1
        return self._attribution.result(*fields)


def _vertex_error(status: Any) -> JobError | None:
    if not status:
        return None
    if isinstance(status, dict):
        return JobError.model_validate(status)
    return JobError(message=str(status))


def _line_fields(
    line: bytes, position: int
) -> tuple[Any, dict[str, Any] | None, dict[str, Any] | None, JobError | None]:
    """``key``, ``metadata``, ``response`` and ``error`` of one result line, as echoed."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidResponseError(f"result line {position + 1} is not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InvalidResponseError(f"result line {position + 1} is not a JSON object")
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else None
    if metadata is None or STAMP_KEY not in metadata:
        # A Vertex row whose extra fields were not echoed: the stamp in the echoed request's labels.
        label_stamp = stamp_from_request_labels(data)
        if label_stamp is not None:
            metadata = {**(metadata or {}), STAMP_KEY: label_stamp}
    error = data.get("error")
    try:
        parsed_error = JobError.model_validate(error) if isinstance(error, dict) else _vertex_error(data.get("status"))
    except ValueError as exc:  # pydantic's ValidationError
        raise InvalidResponseError(f"result line {position + 1} has a malformed error: {exc}") from None
    response = data.get("response") if isinstance(data.get("response"), dict) else None
    return data.get("key"), metadata, response, parsed_error


def parse_result_line(line: bytes, index: int) -> BatchResult:
    """One line of a Gemini results file or a Vertex predictions shard, read alone: its stamp, when it has
    one, gives the index (else ``index``, the line's position) and is removed from the metadata."""
    return Attribution(start=index).result(*_line_fields(line, index))
