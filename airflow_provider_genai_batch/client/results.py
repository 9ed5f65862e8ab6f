"""Per-request results of a finished job, read as a stream whatever the destination.

``BatchResult`` carries the request's key and metadata, then the response or the per-request error. Lines are
split incrementally from byte chunks, so a result file of gigabytes is read in bounded memory.

Results come in the service's order, which need not be the request order. Each result says how it was tied to
its request (``BatchResult.attribution``, ``Attribution``); ``index`` is the request's position in the input
(0-based, counting request lines: blank lines are skipped) for the first two:

- ``"stamp"``: the result echoes the index stamp this client wrote (``metadata.genai_batch_index``, see
  ``wire/stamp.py``): inline requests, spooled requests, and local JSONL files (stamped while uploaded or
  staged). ``metadata`` is the user's metadata without it (None when the user gave none), ``key`` the user's key
  or ``str(index)``.
- ``"request"``: a Vertex row matched by the digest of its echoed ``request`` against the job's input objects,
  read again for it (``RequestIndex``, 17 bytes a line): a ``gs://`` input the user wrote, or rows whose extra
  fields Vertex dropped. Equal requests are interchangeable and take their positions in input order.
- ``"key"``: nothing gives the position (a ``files/...`` input we did not write, a BigQuery input, an input
  object we cannot read), but the result echoes the user's ``key``: ``index`` is the order results were read.
- ``"arrival"``: nothing ties the result to its request; ``index`` is the order results were read, and a
  warning is logged once per read. Results attributed by key or arrival carry ``attribution`` (and a Vertex
  row its echoed ``request``) in ``to_json``, so a written file says its order is not the input's.

Which applies is decided per job, on its first result: a stamp there means every result must carry a valid
one; a job that says it was stamped (a Vertex job reading an input object this client staged, a Gemini inline
job whose display name carries the operators' ``--gbk-`` marker) must have stamps or, on Vertex, an input to
match against. A missing, malformed, out-of-range or repeated stamp, or a Vertex row matching no input line
left, raises ``InvalidResponseError`` naming the job: never a guess.

Example::

    for result in client.batches.iter_results(job):
        print(result.key, result.text if result.ok else result.error)
"""

from __future__ import annotations

import bisect
import json
import logging
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from airflow_provider_genai_batch.client.errors import InvalidInputError, InvalidResponseError, parse_row_status
from airflow_provider_genai_batch.client.models import BatchJob, InlinedResponse, JobError, JobState
from airflow_provider_genai_batch.client.names import KEY_MARKER
from airflow_provider_genai_batch.client.wire.stamp import (
    STAMP_KEY,
    is_staged_input,
    request_digest,
    stamp_from_request_labels,
)

__all__ = [
    "Attribution",
    "AttributionKind",
    "BatchResult",
    "LineSplitter",
    "RequestIndex",
    "ResultsLocation",
    "inline_results",
    "input_uris",
    "parse_result_line",
    "results_location",
]

log = logging.getLogger(__name__)

#: How a result was tied to its request (module docstring): by our stamp, by its echoed request's digest (both
#: give the input position), by the user's key, or only by the order results arrived in.
AttributionKind = Literal["stamp", "request", "key", "arrival"]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One request's outcome. A slotted dataclass, not a pydantic model: a results file of a gigabyte holds a
    million of them, and construction cost is most of the client's share of reading it (BENCHMARKS.md).

    ``index`` is the position of the request in the input when ``attribution`` is ``"stamp"`` or ``"request"``
    (else the order results were read: see the module docstring), ``key`` the user's key (or ``str(index)`` for
    stamped requests without one: then ``generated_key`` is True, set where the key is made, never inferred from
    its value), ``metadata`` exactly the user's metadata (None when there was none), ``request`` the request a
    Vertex row echoes. Results arrive in the service's order: sort by ``index`` for request order.

    Example::

        BatchResult(index=0, key="q1", response={"candidates": [...]}).text
    """

    index: int
    key: str | None = None
    metadata: dict[str, str] | None = None
    response: dict[str, Any] | None = None
    error: JobError | None = None
    attribution: AttributionKind = "stamp"
    request: dict[str, Any] | None = None
    generated_key: bool = False

    @property
    def in_input_order(self) -> bool:
        """True when ``index`` is the request's position in the input (attributed by stamp or request)."""
        return self.attribution in ("stamp", "request")

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
        """A JSON-ready dict (the line format ``GenAIBatchWriteResultsOperator`` writes), None fields left out.
        A result whose ``index`` is not its input position also carries ``attribution`` (``"key"`` or
        ``"arrival"``) and the ``request`` a Vertex row echoed: what is left to match it by."""
        out: dict[str, Any] = {"index": self.index}
        if self.key is not None:
            out["key"] = self.key
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.response is not None:
            out["response"] = self.response
        if self.error is not None:
            out["error"] = self.error.model_dump(mode="json", exclude_none=True)
        if not self.in_input_order:
            out["attribution"] = self.attribution
            if self.request is not None:
                out["request"] = self.request
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


class RequestIndex:
    """Input positions by request digest (``wire/stamp.request_digest``), for matching Vertex rows to the lines of
    the input they echo. Bounded: 17 bytes a line once built (a million lines: 17 MB; a dict would take about
    100 MB), and about 40 MB more for a million lines while ``freeze`` sorts. Equal requests are interchangeable:
    ``take`` gives their positions in input order, each once.

    Built from lines (``add_line``) or from the bytes of the input objects as they stream (``feed`` each chunk,
    ``end_of_object`` after each object): the sync and async clients share this loop's body.

    Example::

        index = RequestIndex()
        for chunk in object_chunks:
            index.feed(chunk)
        index.end_of_object()
        index.freeze()
        index.take(request_digest(row["request"]))   # the input position, or None when none is left
    """

    def __init__(self) -> None:
        self._digests = array("q")  # by input position until frozen, then sorted
        self._positions = array("q")  # the input position of each sorted digest
        self._taken = bytearray()  # one byte a line: the first of each run of equal digests counts its takers
        self._frozen = False
        self._splitter = LineSplitter()

    def __len__(self) -> int:
        return len(self._digests)

    def feed(self, chunk: bytes) -> None:
        """The next bytes of an input object (a line may span chunks)."""
        for line in self._splitter.feed(chunk):
            self.add_line(line)

    def end_of_object(self) -> None:
        """The input object ended: its last line counts even without a final newline."""
        for line in self._splitter.finish():
            self.add_line(line)

    def add_line(self, line: bytes) -> None:
        """The next request line of the input (``{"request": {...}, ...}``); one that is not JSON still counts."""
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        request = data.get("request") if isinstance(data, dict) else line.decode("utf-8", "replace")
        self._digests.append(request_digest(request))

    def freeze(self) -> None:
        """Sort for look-ups; no line may be added after."""
        order = sorted(range(len(self._digests)), key=self._digests.__getitem__)
        self._digests = array("q", (self._digests[i] for i in order))
        self._positions = array("q", order)
        del order
        self._taken = bytearray(len(self._digests))
        self._frozen = True

    def take(self, digest: int) -> int | None:
        """The first input position of a request with this digest not taken yet (None when there is none)."""
        first = bisect.bisect_left(self._digests, digest)
        end = len(self._digests)
        if first >= end or self._digests[first] != digest:
            return None
        if first + 1 < end and self._digests[first + 1] == digest:  # a run of equal requests
            width = 2
            while width < 8 and first + width < end and self._digests[first + width] == digest:
                width += 1
            # The run's first ``width`` bytes count its takers (256**width > the run's length).
            taken = int.from_bytes(self._taken[first : first + width], "little")
            slot = first + taken
            if slot >= end or self._digests[slot] != digest:
                return None
            self._taken[first : first + width] = (taken + 1).to_bytes(width, "little")
            return self._positions[slot]
        if self._taken[first]:
            return None
        self._taken[first] = 1
        return self._positions[first]


class Attribution:
    """Ties a job's results to its requests (see the module docstring for the rule) and counts how
    (``counts``). One per read of a job; shared by inline and streamed results.

    Example::

        attribution = Attribution(job)
        result = attribution.result(None, {"genai_batch_index": "2"}, {"candidates": []}, None)
        result.index, result.key, result.metadata, result.attribution   # 2, "2", None, "stamp"
    """

    def __init__(
        self, job: BatchJob | None = None, total: int | None = None, start: int = 0, *, requests: Any = None
    ) -> None:
        self._job = job.name if job is not None else "the job"
        self._total = total
        self._expects_stamps = job is not None and job_was_stamped(job)
        self._mode: Literal["stamp", "request", "other"] | None = None
        self._requests: RequestIndex | None = requests
        self._seen = bytearray()  # one bit per index below _BITMAP_INDICES (a million results: 125 KB)
        self._seen_beyond: set[int] = set()
        self._position = start
        self._warned = False
        #: How many results were attributed each way.
        self.counts: dict[str, int] = {}

    @property
    def decided(self) -> bool:
        """Whether the first result has been read (and the way results are attributed chosen)."""
        return self._mode is not None

    def use_requests(self, requests: RequestIndex | None) -> None:
        """Match rows against these input requests (None: the input could not be read)."""
        self._requests = requests

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

    def _decide(self, stamp: Any, position: int) -> Literal["stamp", "request", "other"]:
        if stamp is not None:
            return "stamp"
        if self._requests is not None:
            return "request"
        if self._expects_stamps:
            raise self._fail(position, f"carries no metadata.{STAMP_KEY} though the job's requests were stamped")
        return "other"

    def _by_request(self, request: Any, position: int) -> int:
        assert self._requests is not None
        index = self._requests.take(request_digest(request)) if isinstance(request, dict) else None
        if index is None:
            problem = "echoes no request" if not isinstance(request, dict) else "echoes a request"
            raise self._fail(
                position,
                f"{problem} matching none of the job's {len(self._requests)} input lines not yet matched",
            )
        return index

    def result(
        self,
        key: Any,
        metadata: dict[str, Any] | None,
        response: dict[str, Any] | None,
        error: JobError | None,
        request: dict[str, Any] | None = None,
    ) -> BatchResult:
        """The next result read, attributed."""
        position = self._position
        self._position += 1
        stamp = user_metadata = None
        if metadata:
            stamp = metadata.get(STAMP_KEY)
            user_metadata = {str(k): str(v) for k, v in metadata.items() if k != STAMP_KEY} or None
        if self._mode is None:
            self._mode = self._decide(stamp, position)
        kind: AttributionKind
        if self._mode == "stamp":
            if stamp is None:
                raise self._fail(position, f"carries no metadata.{STAMP_KEY} though the job's requests were stamped")
            index, kind = self._index(stamp, position), "stamp"
        elif self._mode == "request":
            index, kind = self._by_request(request, position), "request"
        elif stamp is not None:
            raise self._fail(position, f"carries metadata.{STAMP_KEY} though the job's first result did not")
        else:
            index = position
        if key is None and user_metadata:
            key = user_metadata.get("key")
        generated = False
        if self._mode == "other":
            kind = "key" if key is not None else "arrival"
            if kind == "arrival" and not self._warned:
                self._warned = True
                log.warning(
                    "Results of %s carry no stamp, no key and no request to match: they are numbered in the order "
                    "they arrive, which need not be the order of the requests",
                    self._job,
                )
        elif key is None:
            key, generated = str(index), True
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return BatchResult(
            index, str(key) if key is not None else None, user_metadata, response, error, kind, request, generated
        )


def job_was_stamped(job: BatchJob) -> bool:
    """Whether the job itself shows that this client wrote (and stamped) its requests: a Vertex job reading the
    one JSONL object ``create`` staged, or a Gemini inline job named by the operators (``--gbk-`` marker)."""
    if job.backend == "vertex":
        uris = job.src.gcs_uri if job.src is not None else None
        return bool(uris) and len(uris or []) == 1 and is_staged_input((uris or [""])[0])
    inline = job.src is None or not job.src.file_name
    return inline and KEY_MARKER in (job.display_name or "")


def input_uris(job: BatchJob) -> list[str] | None:
    """The JSONL objects a Vertex job read (to match its rows by request), None when it read none."""
    if job.backend != "vertex" or job.src is None or not job.src.gcs_uri:
        return None
    if job.src.format not in (None, "jsonl"):
        return None
    return list(job.src.gcs_uri)


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

    A Vertex job's rows may need its input to be matched against: when the first row carries no stamp,
    ``wants_requests`` turns true and the lines read so far are held until the caller hands the input over
    (``use_requests``, then ``resume``). The caller reads the input (``input_uris``) only then.

    Example::

        parser = ResultStreamParser(job)
        results = parser.feed(chunk) + parser.end_of_shard()
    """

    def __init__(self, job: BatchJob | None = None) -> None:
        self._splitter = LineSplitter()
        self._attribution = Attribution(job, total=_request_count(job) if job is not None else None)
        self._may_match = job is not None and input_uris(job) is not None
        self._held: list[bytes] = []
        self._line = 0
        self.wants_requests = False

    @property
    def counts(self) -> dict[str, int]:
        """How many results were attributed each way (``Attribution.counts``)."""
        return self._attribution.counts

    def feed(self, chunk: bytes) -> list[BatchResult]:
        """Results completed by this chunk."""
        return self._parse_all(self._splitter.feed(chunk))

    def end_of_shard(self) -> list[BatchResult]:
        """The shard's last line when it had no final newline."""
        return self._parse_all(self._splitter.finish())

    def use_requests(self, requests: RequestIndex | None) -> None:
        """The job's input requests (None when they could not be read); then call ``resume``."""
        self._attribution.use_requests(requests)
        self._may_match = self.wants_requests = False

    def resume(self) -> list[BatchResult]:
        """The results of the lines held while the input was wanted."""
        held, self._held = self._held, []
        return self._parse_all(held)

    def _parse_all(self, lines: list[bytes]) -> list[BatchResult]:
        if self._held or self.wants_requests:
            self._held.extend(lines)
            return []
        if lines and self._may_match and not self._attribution.decided:
            metadata = _line_fields(lines[0], self._line)[1]
            if metadata is None or STAMP_KEY not in metadata:
                self._held, self.wants_requests = list(lines), True
                return []
            self._may_match = False
        return [self._parse(line) for line in lines]

    def _parse(self, line: bytes) -> BatchResult:
        fields = _line_fields(line, self._line)
        self._line += 1
        return self._attribution.result(*fields)


def _vertex_error(status: Any) -> JobError | None:
    if not status:
        return None
    if isinstance(status, dict):
        return JobError.model_validate(status)
    code, google_status, message = parse_row_status(str(status))
    return JobError(code=code, status=google_status, message=message)


def _line_fields(
    line: bytes, position: int
) -> tuple[Any, dict[str, Any] | None, dict[str, Any] | None, JobError | None, dict[str, Any] | None]:
    """``key``, ``metadata``, ``response``, ``error`` and (Vertex) ``request`` of one result line, as echoed."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidResponseError(f"result line {position + 1} is not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InvalidResponseError(f"result line {position + 1} is not a JSON object")
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else None
    if metadata is None or STAMP_KEY not in metadata:
        # A Vertex row of a job staged by an earlier version, which also stamped the request's labels.
        label_stamp = stamp_from_request_labels(data)
        if label_stamp is not None:
            metadata = {**(metadata or {}), STAMP_KEY: label_stamp}
    error = data.get("error")
    try:
        parsed_error = JobError.model_validate(error) if isinstance(error, dict) else _vertex_error(data.get("status"))
    except ValueError as exc:  # pydantic's ValidationError
        raise InvalidResponseError(f"result line {position + 1} has a malformed error: {exc}") from None
    response = data.get("response") if isinstance(data.get("response"), dict) else None
    if parsed_error is not None and not response:
        response = None  # a failed Vertex row carries "response": {} beside its status: there is no answer
    request = data.get("request") if isinstance(data.get("request"), dict) else None
    return data.get("key"), metadata, response, parsed_error, request


def parse_result_line(line: bytes, index: int) -> BatchResult:
    """One line of a Gemini results file or a Vertex predictions shard, read alone: its stamp, when it has
    one, gives the index (else ``index``, the line's position) and is removed from the metadata."""
    return Attribution(start=index).result(*_line_fields(line, index))
