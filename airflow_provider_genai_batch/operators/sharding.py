"""Inputs beyond one job's limits: split into shards, one mapped create per shard, combine the results.

The Airflow way: a split task produces one ``src`` per shard; the create operator is mapped over them
(``.partial(...).expand(src=split.output)``), so each shard is its own task instance with its own idempotency
key (the key covers the map index) and a retry of one shard never resubmits another; the mapped task's
``max_active_tis_per_dagrun`` caps the jobs running at once; a combine task writes one results file in input
order and returns one manifest (per-shard job names and counts, totals, token usage).

Shard limits (``docs/BIG_JOBS.md`` quotes the sources, and says which figure no source confirmed):
``limits="gemini"`` is 20 MB per shard for a list of requests (inline bytes per create) and 2 GB for a JSONL
file (input file size); ``limits="vertex"`` is 200,000 requests and 1 GB per shard. ``max_shard_requests`` /
``max_shard_bytes`` lower them (tests use a few requests per shard). Bytes are counted as compact UTF-8 JSON of
each request (list) or line (file): keep a margin, the wire form adds a little.

Example::

    split = GenAIBatchSplitOperator(task_id="split", src="/data/prompts.jsonl", limits="gemini")
    create = GenAIBatchCreateJobOperator.partial(
        task_id="create", model="gemini-2.5-flash", max_active_tis_per_dagrun=4
    ).expand(src=split.output)
    combine = GenAIBatchCombineResultsOperator(
        task_id="combine", jobs=create.output, shards=split.output_shards, destination="/data/results.jsonl"
    )
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID, GenAIBatchBaseOperator
from airflow_provider_genai_batch.operators._inputs import (
    OperatorInputError,
    decode_json_source,
    missing_relative_src,
    resolve_local_src,
)
from airflow_provider_genai_batch.operators.jobs import job_name_from
from airflow_provider_genai_batch.operators.lineage import GenAIBatchLineageMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_genai_batch.client.models import BatchJob, JobState
    from airflow_provider_genai_batch.client.results import BatchResult

__all__ = ["LIMITS", "SHARDS_XCOM_KEY", "GenAIBatchCombineResultsOperator", "GenAIBatchSplitOperator", "ShardLimits"]

SHARDS_XCOM_KEY = "shards"
#: Per-job limits by backend: (requests, bytes of a list of requests, bytes of a JSONL file). None: no limit.
#: Decimal units, at or under Google's figures: Gemini API 20 MB inline, 2 GB input file; Vertex AI 1 GB input
#: (documented for embedding batch jobs). Vertex's 200,000 requests is a conservative choice: no Google page text
#: with a per-job request count for Gemini generate-content jobs was found (``docs/BIG_JOBS.md``, Per-job limits).
LIMITS: dict[str, tuple[int | None, int, int]] = {
    "gemini": (None, 20_000_000, 2_000_000_000),
    "vertex": (200_000, 1_000_000_000, 1_000_000_000),
}


class ShardLimits:
    """The requests and bytes one shard may hold.

    Example::

        ShardLimits.of("gemini", max_requests=4).requests    # 4
    """

    def __init__(self, requests: int | None, list_bytes: int, file_bytes: int, name: str) -> None:
        self.requests = requests
        self.list_bytes = list_bytes
        self.file_bytes = file_bytes
        self.name = name

    @classmethod
    def of(cls, limits: Any, max_requests: Any = None, max_bytes: Any = None) -> ShardLimits:
        """The limits of ``limits`` ("gemini" or "vertex"), lowered by the two settings when given."""
        if limits not in LIMITS:
            raise OperatorInputError("limits", f"is {limits!r}", "use 'gemini' or 'vertex' (the backend's limits)")
        requests, list_bytes, file_bytes = LIMITS[limits]
        for field, value in (("max_shard_requests", max_requests), ("max_shard_bytes", max_bytes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise OperatorInputError(field, f"must be a whole number >= 1, got {value!r:.80}", "e.g. 1000")
        if max_requests is not None:
            requests = max_requests if requests is None else min(requests, max_requests)
        if max_bytes is not None:
            list_bytes, file_bytes = min(list_bytes, max_bytes), min(file_bytes, max_bytes)
        return cls(requests, list_bytes, file_bytes, str(limits))


def _size(request: Any, index: int) -> int:
    try:
        return len(json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise OperatorInputError(f"src[{index}]", f"is not JSON-serialisable ({exc})", "pass JSON values") from None


def _too_big(field: str, size: int, limit: int, limits: ShardLimits) -> OperatorInputError:
    return OperatorInputError(
        field,
        f"is {size} bytes, more than one {limits.name} job takes ({limit} bytes per shard)",
        "make the request smaller (upload large media and refer to it by URI), or raise max_shard_bytes if the "
        "backend allows it",
    )


def split_requests(requests: Sequence[Any], limits: ShardLimits) -> list[list[Any]]:
    """Consecutive shards of a list of requests, each within ``limits`` (a too big request is an error)."""
    shards: list[list[Any]] = []
    current: list[Any] = []
    current_bytes = 0
    for index, request in enumerate(requests):
        size = _size(request, index)
        if size > limits.list_bytes:
            raise _too_big(f"src[{index}]", size, limits.list_bytes, limits)
        full = limits.requests is not None and len(current) >= limits.requests
        if current and (full or current_bytes + size > limits.list_bytes):
            shards.append(current)
            current, current_bytes = [], 0
        current.append(request)
        current_bytes += size
    if current:
        shards.append(current)
    return shards


def _stamped_line(raw: bytes, number: int, index: int) -> bytes:
    """A JSONL input line with ``metadata.genai_batch_index`` = its index in its shard, so each shard's results
    are attributed by stamp whatever order the service returns them in (``client/wire/stamp.py``); a Vertex row
    that does not echo it is matched by its echoed ``request`` against the shard (no per-request label)."""
    from airflow_provider_genai_batch.client.wire.stamp import stamp_metadata

    field = f"src line {number + 1}"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OperatorInputError(field, f"is not JSON ({exc})", "write one JSON object per line") from None
    if not isinstance(data, dict):
        raise OperatorInputError(field, f"is a {type(data).__name__}", "write one JSON object per line")
    data["metadata"] = stamp_metadata(data.get("metadata"), index, field)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class ShardFile:
    """A shard being written: its temporary file and the hash of the bytes written so far."""

    def __init__(self, path: Path, handle: BinaryIO, digest: Any) -> None:
        self.path, self.handle, self.digest = path, handle, digest

    def write(self, data: bytes) -> int:
        """Write ``data`` and add it to the hash."""
        self.digest.update(data)
        return self.handle.write(data)


class ShardSink(Protocol):
    """Where :func:`cut_lines` writes shards: ``open`` a shard's file, ``close`` it once it is full."""

    def open(self, number: int) -> ShardFile:
        """A new file for shard ``number``."""

    def close(self, number: int, out: ShardFile, lines: int) -> None:
        """Shard ``number`` is complete: ``lines`` lines were written to ``out``."""


def cut_lines(lines: Iterable[bytes], limits: ShardLimits, sink: ShardSink) -> int:
    """Write JSONL ``lines`` into consecutive shards within ``limits``, stamping each line with its index in its
    shard; blank lines are skipped (but counted, so errors name the line's number). Returns the shard count.

    The bytes depend only on the input and the limits, so a second run writes the same shards.
    """
    out: ShardFile | None = None
    shards = count = size = 0
    for number, raw in enumerate(lines):
        if not raw.strip():
            continue
        line = _stamped_line(raw, number, count if out is not None else 0)
        if len(line) > limits.file_bytes:
            raise _too_big(f"src line {number + 1}", len(line), limits.file_bytes, limits)
        full = limits.requests is not None and count >= limits.requests
        if out is not None and (full or size + len(line) > limits.file_bytes):
            sink.close(shards, out, count)
            shards, out = shards + 1, None
            line = _stamped_line(raw, number, 0)  # the first line of the next shard
        if out is None:
            out, count, size = sink.open(shards), 0, 0
        out.write(line)
        count += 1
        size += len(line)
    if out is not None:
        sink.close(shards, out, count)
        shards += 1
    return shards


class _FolderSink:
    """Shard files ``<stem>.run-<token>.shard-00000.jsonl`` in a folder, each written to a new temporary file
    (exclusive, unpredictable name: ``_local_files``) and renamed into place."""

    def __init__(self, folder: Path, stem: str, token: str) -> None:
        self.folder, self.stem, self.token = folder, stem, token
        self.written: list[tuple[Path, int, str]] = []
        self.current: ShardFile | None = None

    def open(self, number: int) -> ShardFile:
        from airflow_provider_genai_batch.operators._local_files import create_exclusive
        from airflow_provider_genai_batch.operators._shard_refs import shard_file_name

        final = shard_file_name(self.stem, self.token, number)
        path, handle = create_exclusive(self.folder, f".{final}.", ".part")
        self.current = ShardFile(path, handle, hashlib.sha256())
        return self.current

    def close(self, number: int, out: ShardFile, lines: int) -> None:
        from airflow_provider_genai_batch.operators._local_files import move_into_place
        from airflow_provider_genai_batch.operators._shard_refs import shard_file_name

        out.handle.close()
        final = self.folder / shard_file_name(self.stem, self.token, number)
        move_into_place(out.path, final)
        self.current = None
        self.written.append((final, lines, out.digest.hexdigest()))

    def discard(self) -> None:
        """Remove the shard being written (after a failure)."""
        if self.current is not None:
            self.current.handle.close()
            self.current.path.unlink(missing_ok=True)
            self.current = None


def split_jsonl(path: Path, folder: Path, limits: ShardLimits, token: str) -> list[tuple[Path, int, str]]:
    """Write ``path``'s lines into consecutive shard files in ``folder``; return (file, lines, SHA-256 of its
    bytes) per shard.

    Each line gets its index in its shard as ``metadata.genai_batch_index`` (the stamp the client puts on the
    requests it serialises), so results are attributed by stamp on both backends.

    Files are named ``<stem>.run-<token>.shard-00000.jsonl``, ``token`` naming the split's task instance
    (``_shard_refs.run_token``): another run writing the same folder writes other names, and a retry rewrites
    the same bytes under the same names (so the shards' idempotency keys do not change).
    """
    folder.mkdir(parents=True, exist_ok=True)
    sink = _FolderSink(folder, path.stem, token)
    try:
        with path.open("rb") as source:
            cut_lines(source, limits, sink)
    except BaseException:
        sink.discard()
        raise
    return sink.written


def _badness(state: JobState) -> int:
    if state.is_failure:
        return 3
    if state.value == "JOB_STATE_SUCCEEDED":
        return 0
    if state.value == "JOB_STATE_PARTIALLY_SUCCEEDED":
        return 1
    return 2  # not finished, or a state this client does not know: worse than any success


def worst_state(states: Iterable[JobState]) -> JobState:
    """The worst of the shards' job states: FAILED, CANCELLED and EXPIRED (the first of them met) before any
    unfinished or unknown state, before PARTIALLY_SUCCEEDED, before SUCCEEDED."""
    worst: JobState | None = None
    for state in states:
        if worst is None or _badness(state) > _badness(worst):
            worst = state
    if worst is None:
        raise ValueError("no shard states")
    return worst


class GenAIBatchSplitOperator(GenAIBatchBaseOperator):
    """Split requests into shards that each fit one batch job; return one ``src`` per shard.

    ``src`` is a list of requests (or an XCom of one; each shard is a list), a local ``.jsonl`` path (its shards
    are written to ``shard_folder``, default ``<file>.shards/`` beside it; give a folder every worker sees), or
    a ``gs://`` JSONL object read through a Vertex AI connection (streamed; its shards are written as objects
    under ``shard_folder``, default ``gs://bucket/<object without .jsonl>.shards/``). A shard file or object is
    named for this task instance (``<name>.run-<token>.shard-00000.jsonl``: another run sharing the folder
    writes other names) and returned as a shard reference, ``{"genai_batch_shard": n, "src": path or URI,
    "sha256" | "md5": hash of its bytes}``, which the create operator takes as ``src``: it submits the shard
    only if it still holds the bytes the split wrote (``_shard_refs``). The shard specs
    (``{"shard", "first_index", "requests"}``) are pushed under
    the XCom key ``shards`` for :class:`GenAIBatchCombineResultsOperator`. Limits and the input's form are
    checked before any call (see the module docstring); a BigQuery table is not split (one Vertex job reads it).

    :param src: the requests (templated).
    :param limits: ``"gemini"`` or ``"vertex"``: whose documented per-job limits apply.
    :param max_shard_requests: at most this many requests per shard (lowers the backend's limit).
    :param max_shard_bytes: at most this many bytes per shard (lowers the backend's limit).
    :param shard_folder: where a ``.jsonl`` input's shard files go, or a ``gs://`` prefix for a ``gs://``
        input's shard objects (templated).
    :param genai_batch_conn_id: the connection that reads and writes a ``gs://`` input's objects (Vertex AI).

    Example::

        split = GenAIBatchSplitOperator(task_id="split", src=requests, limits="vertex", max_shard_requests=50_000)
        GenAIBatchCreateJobOperator.partial(task_id="create", model="gemini-2.5-flash",
                                            max_active_tis_per_dagrun=8).expand(src=split.output)
    """

    template_fields: Sequence[str] = ("src", "shard_folder")

    def __init__(
        self,
        *,
        src: Any,
        limits: str = "gemini",
        max_shard_requests: int | None = None,
        max_shard_bytes: int | None = None,
        shard_folder: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.src = src
        self.limits = ShardLimits.of(limits, max_shard_requests, max_shard_bytes)
        self.shard_folder = shard_folder

    @property
    def output_shards(self) -> Any:
        """The XCom of the shard specs, for the combine operator's ``shards``."""
        from airflow.sdk.definitions.xcom_arg import XComArg

        return XComArg(self, key=SHARDS_XCOM_KEY)

    def execute(self, context: Context) -> list[Any]:
        """Split; push the shard specs under ``shards``; return the shards' ``src`` values."""
        from airflow_provider_genai_batch.operators._shard_refs import run_token, shard_ref

        given = decode_json_source(self.src)
        src = resolve_local_src(given, self._dag_fileloc())
        missing = missing_relative_src(src, given)
        if missing is not None:
            raise missing
        sources: list[Any]
        counts: list[int]
        if isinstance(src, str) and src.startswith("gs://"):
            from airflow_provider_genai_batch.operators._gcs_shards import split_gcs_object, validate_gcs_split

            prefix = validate_gcs_split(src, self.shard_folder, self.hook.backend, self.limits.name)
            objects = split_gcs_object(self.hook.get_conn(), src, prefix, self.limits, token=run_token(context))
            sources = [shard_ref(number, uri, md5=md5) for number, (uri, _, md5) in enumerate(objects)]
            counts = [lines for _, lines, _ in objects]
        elif isinstance(src, str) and src.endswith(".jsonl") and "://" not in src:
            path = Path(os.path.expanduser(src))
            if not path.is_file():
                raise OperatorInputError("src", f"{path} is not a file", "pass an existing local .jsonl path")
            folder = Path(os.path.expanduser(self.shard_folder)) if self.shard_folder else path.with_suffix(".shards")
            files = split_jsonl(path, folder, self.limits, run_token(context))
            sources = [shard_ref(number, str(file), sha256=digest) for number, (file, _, digest) in enumerate(files)]
            counts = [lines for _, lines, _ in files]
        elif isinstance(src, list | tuple):
            shards = split_requests(list(src), self.limits)
            sources, counts = list(shards), [len(shard) for shard in shards]
        else:
            raise OperatorInputError(
                "src",
                f"cannot be split: {type(src).__name__} {str(src)[:80]!r}",
                "pass a list of requests, a local .jsonl path or a gs:// JSONL object (Vertex AI); files/ and "
                "bq:// inputs are sharded upstream (a BigQuery table is one Vertex job)",
            )
        if not sources:
            raise OperatorInputError("src", "holds no requests", "pass at least one request")
        specs, first = [], 0
        for number, count in enumerate(counts):
            specs.append({"shard": number, "first_index": first, "requests": count})
            first += count
        context["ti"].xcom_push(key=SHARDS_XCOM_KEY, value=specs)
        self.log.info("Split %d requests into %d shards (%s limits)", first, len(specs), self.limits.name)
        return sources


class GenAIBatchCombineResultsOperator(GenAIBatchLineageMixin, GenAIBatchBaseOperator):
    """Write the results of every shard's job to one JSONL file in input order; return one manifest.

    Lines are those of :class:`GenAIBatchWriteResultsOperator` with ``index`` made global (the shard's first
    index plus the index within it); a key the client generated from a shard's local index (a request without
    a key of its own: ``BatchResult.generated_key``) is renumbered the same way, and a user's key is kept as
    it is, whatever it looks like. Every shard must have exactly as many results as requests,
    or the task fails before the destination is replaced. The manifest: ``{"destination", "results",
    "succeeded", "failed", "bytes", "shards": [{"shard", "job_name", "state", "first_index", "requests",
    "results", "succeeded", "failed", "usage"}], "usage"[, "estimated_cost"]}``.

    :param jobs: the mapped create task's manifests (``create.output``), in shard order (templated).
    :param shards: the split task's shard specs (``split.output_shards``) (templated).
    :param destination: as for ``GenAIBatchWriteResultsOperator`` (templated).
    :param destination_conn_id: the object store's connection, if it needs one.
    :param prices: optional price map for ``estimated_cost`` (see ``client/usage.py``).

    Example::

        GenAIBatchCombineResultsOperator(task_id="combine", jobs=create.output, shards=split.output_shards,
                                         destination="gs://bucket/results/{{ ds }}.jsonl")
    """

    template_fields: Sequence[str] = ("jobs", "shards", "destination", "destination_conn_id", "prices")

    def __init__(
        self,
        *,
        jobs: Any,
        shards: Any,
        destination: str,
        destination_conn_id: str | None = None,
        prices: dict[str, dict[str, float]] | None = None,
        genai_batch_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(genai_batch_conn_id=genai_batch_conn_id, **kwargs)
        self.jobs = jobs
        self.shards = shards
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.prices = prices

    def _specs(self) -> list[dict[str, int]]:
        shards = decode_json_source(self.shards)
        if not isinstance(shards, list) or not shards:
            raise OperatorInputError("shards", "must be the split task's shard specs", "pass split.output_shards")
        for number, spec in enumerate(shards):
            ok = isinstance(spec, dict) and all(isinstance(spec.get(k), int) for k in ("first_index", "requests"))
            if not ok:
                raise OperatorInputError(f"shards[{number}]", f"is {spec!r:.80}", "pass split.output_shards")
        return shards

    def execute(self, context: Context) -> dict[str, Any]:
        """Check every shard's job, write the combined file, return the manifest."""
        from airflow_provider_genai_batch.client.usage import UsageTotals, check_prices, estimate_cost, merge_usage
        from airflow_provider_genai_batch.operators._assets import emit_asset_extra
        from airflow_provider_genai_batch.operators._destinations import TempNaming, resolve_destination
        from airflow_provider_genai_batch.operators.lineage import results_uris
        from airflow_provider_genai_batch.operators.results import write_results

        prices = check_prices(self.prices)
        specs = self._specs()
        manifests = list(self.jobs) if not isinstance(self.jobs, str | dict) else [self.jobs]
        if len(manifests) != len(specs):
            raise OperatorInputError(
                "jobs", f"has {len(manifests)} jobs for {len(specs)} shards", "pass the mapped create's output"
            )
        names = [job_name_from(manifest) for manifest in manifests]
        destination = resolve_destination(self.destination, self.destination_conn_id)
        jobs = [self.hook.get_job(name) for name in names]  # every job readable before the target is touched
        self._genai_batch_inputs = results_uris(jobs)
        destination.prepare(TempNaming.for_context(context))
        rows: list[dict[str, Any]] = []
        counts = write_results(destination, self._combined(jobs, specs, rows, UsageTotals))
        counts.pop("reordered")
        usage = merge_usage(row["usage"] for row in rows)
        for row in rows:
            row["usage"] = row["usage"]["total"]
        manifest: dict[str, Any] = {"destination": destination.display, **counts, "shards": rows, "usage": usage}
        if prices is not None:
            manifest["estimated_cost"] = estimate_cost(usage, prices)
        self.log.info(
            "Combined %d results of %d jobs into %s (%d failed; %d tokens)",
            counts["results"],
            len(rows),
            destination.display,
            counts["failed"],
            usage["total"]["total_tokens"],
        )
        extra = {k: v for k, v in manifest.items() if k not in ("shards", "usage")}
        extra.update(job_names=names, state=worst_state(job.state for job in jobs).value, usage=usage["total"])
        emit_asset_extra(self, context, extra)
        return manifest

    def _combined(
        self, jobs: list[BatchJob], specs: list[dict[str, int]], rows: list[dict[str, Any]], totals: Any
    ) -> Iterator[BatchResult]:
        from airflow_provider_genai_batch.client.errors import InvalidResponseError
        from airflow_provider_genai_batch.client.results import BatchResult

        for job, spec in zip(jobs, specs, strict=True):
            first, expected = spec["first_index"], spec["requests"]
            usage = totals(default_model=job.model)
            row: dict[str, Any] = {
                "shard": spec.get("shard", len(rows)),
                "job_name": job.name,
                "state": job.state.value,
                "first_index": first,
                "requests": expected,
                "results": 0,
                "succeeded": 0,
                "failed": 0,
            }
            for result in self.hook.iter_results(job):
                if result.index >= expected:
                    raise InvalidResponseError(f"{job.name}: result {result.index} is beyond its {expected} requests")
                usage.add(result.response)
                row["results"] += 1
                row["succeeded" if result.ok else "failed"] += 1
                generated = result.generated_key  # made by the client from the shard's index: renumbered
                yield BatchResult(
                    first + result.index, str(first + result.index) if generated else result.key,
                    result.metadata, result.response, result.error, result.attribution, result.request, generated,
                )  # fmt: skip
            if row["results"] != expected:
                raise InvalidResponseError(
                    f"{job.name} has {row['results']} results for its {expected} requests; nothing was written"
                )
            row["usage"] = usage.to_dict()
            rows.append(row)
