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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID, GenAIBatchBaseOperator
from airflow_provider_genai_batch.operators._cutting import LIMITS, ShardFile, ShardLimits, cut_lines, split_requests
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

__all__ = ["LIMITS", "SHARDS_XCOM_KEY", "GenAIBatchCombineResultsOperator", "GenAIBatchSplitOperator", "ShardLimits"]

SHARDS_XCOM_KEY = "shards"


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

    A shard whose create ran a completion policy (its manifest has ``completion``) is merged over all its
    attempts: each row once, from the attempt that answered it (``"attempt": k``), or ``"given_up": true`` with
    its last error; its manifest row adds ``attempts`` (``attempt``, ``job_name``, ``rows``), ``answered`` and
    ``given_up``, and the manifest adds ``given_up`` and ``completion`` (``rows``: total, answered, failed,
    given_up; ``attempts``; ``jobs``; ``job_names``). Usage adds up over every attempt of every shard.

    :param jobs: the mapped create task's manifests (``create.output``), in shard order (templated); pass the
        manifests, not job names, when the creates carry a completion policy.
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
        from airflow_provider_genai_batch.client.usage import check_prices, estimate_cost, merge_usage
        from airflow_provider_genai_batch.operators._assets import emit_asset_extra
        from airflow_provider_genai_batch.operators._destinations import TempNaming, resolve_destination
        from airflow_provider_genai_batch.operators.lineage import results_uris

        prices = check_prices(self.prices)
        specs = self._specs()
        manifests = list(self.jobs) if not isinstance(self.jobs, str | dict) else [self.jobs]
        if len(manifests) != len(specs):
            raise OperatorInputError(
                "jobs", f"has {len(manifests)} jobs for {len(specs)} shards", "pass the mapped create's output"
            )
        names = [job_name_from(manifest) for manifest in manifests]
        completions = [
            _completion_of(manifest, spec, number)
            for number, (manifest, spec) in enumerate(zip(manifests, specs, strict=True))
        ]
        destination = resolve_destination(self.destination, self.destination_conn_id)
        jobs = [self.hook.get_job(name) for name in names]  # every job readable before the target is touched
        self._genai_batch_inputs = results_uris(jobs)
        destination.prepare(TempNaming.for_context(context))
        rows: list[dict[str, Any]] = []
        counts: dict[str, Any] = {"results": 0, "succeeded": 0, "failed": 0}
        attribution: dict[str, int] = {}
        if any(completion is not None for completion in completions):
            counts["given_up"] = 0
        with destination.write() as spool:
            for job, spec, completion in zip(jobs, specs, completions, strict=True):
                if completion is None:
                    rows.append(self._add_shard(spool, job, spec, counts, attribution))
                else:
                    rows.append(self._add_attempts(spool, job, spec, completion, counts))
                    attribution["stamp"] = attribution.get("stamp", 0) + rows[-1]["results"]
            counts["bytes"] = spool.size
        counts["attribution"] = attribution
        usage = merge_usage(row["usage"] for row in rows)
        for row in rows:
            row["usage"] = row["usage"]["total"]
        manifest: dict[str, Any] = {"destination": destination.display, **counts, "shards": rows, "usage": usage}
        if "given_up" in counts:
            manifest["completion"] = _completion_totals(rows)
        if prices is not None:
            manifest["estimated_cost"] = estimate_cost(usage, prices)
        self.log.info(
            "Combined %d results of %d shards into %s (%d failed; %d tokens)",
            counts["results"],
            len(rows),
            destination.display,
            counts["failed"],
            usage["total"]["total_tokens"],
        )
        if "completion" in manifest:
            totals = manifest["completion"]
            self.log.info(
                "Completion: %d of %d rows answered, %d failed for good, %d given up, in %d jobs",
                totals["rows"]["answered"],
                totals["rows"]["total"],
                totals["rows"]["failed"],
                totals["rows"]["given_up"],
                totals["jobs"],
            )
        extra = {k: v for k, v in manifest.items() if k not in ("shards", "usage", "completion")}
        extra.update(job_names=names, state=worst_state(job.state for job in jobs).value, usage=usage["total"])
        emit_asset_extra(self, context, extra)
        return manifest

    def _add_shard(
        self, spool: Any, job: BatchJob, spec: dict[str, int], counts: dict[str, Any], attribution: dict[str, int]
    ) -> dict[str, Any]:
        """Add one shard's results (one job, no completion policy) to ``spool``; its manifest row."""
        from airflow_provider_genai_batch.client.errors import InvalidResponseError
        from airflow_provider_genai_batch.client.results import BatchResult
        from airflow_provider_genai_batch.client.usage import UsageTotals

        first, expected = spec["first_index"], spec["requests"]
        usage = UsageTotals(default_model=job.model)
        row = _shard_row(spec, job, first, expected)
        for result in self.hook.iter_results(job):
            if result.index >= expected:
                raise InvalidResponseError(f"{job.name}: result {result.index} is beyond its {expected} requests")
            usage.add(result.response)
            attribution[result.attribution] = attribution.get(result.attribution, 0) + 1
            row["results"] += 1
            row["succeeded" if result.ok else "failed"] += 1
            generated = result.generated_key  # made by the client from the shard's index: renumbered
            line = BatchResult(
                first + result.index, str(first + result.index) if generated else result.key,
                result.metadata, result.response, result.error, result.attribution, result.request, generated,
            ).to_json()  # fmt: skip
            spool.add(
                first + result.index, json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            )
        if row["results"] != expected:
            raise InvalidResponseError(
                f"{job.name} has {row['results']} results for its {expected} requests; nothing was written"
            )
        for key in ("results", "succeeded", "failed"):
            counts[key] += row[key]
        row["usage"] = usage.to_dict()
        return row

    def _add_attempts(
        self, spool: Any, job: BatchJob, spec: dict[str, int], completion: dict[str, Any], counts: dict[str, Any]
    ) -> dict[str, Any]:
        """Add one shard's attempts (its create's completion policy) to ``spool``, merged: each row once, from
        the attempt that answered it (or given up); its manifest row with the attempts and their jobs."""
        from airflow_provider_genai_batch.operators.results import spool_merged

        first, expected = spec["first_index"], spec["requests"]
        row = _shard_row(spec, job, first, expected)
        shard_counts: dict[str, Any] = {"results": 0, "succeeded": 0, "failed": 0, "given_up": 0}
        known = spool_merged(spool, self.hook, completion, shard_counts, offset=first)
        ledger = known.ledger
        row.update(shard_counts)
        row["answered"] = ledger.answered
        row["attempts"] = [
            {"attempt": attempt, "job_name": name, "rows": len(rows)}
            for attempt, (name, rows) in enumerate(
                zip((a["job_name"] for a in completion["attempts"]), known.rows, strict=True), start=1
            )
        ]
        for key in shard_counts:
            counts[key] += shard_counts[key]
        row["usage"] = known.usage
        return row


def _shard_row(spec: dict[str, int], job: BatchJob, first: int, expected: int) -> dict[str, Any]:
    return {
        "shard": spec.get("shard", 0),
        "job_name": job.name,
        "state": job.state.value,
        "first_index": first,
        "requests": expected,
        "results": 0,
        "succeeded": 0,
        "failed": 0,
    }


def _completion_of(manifest: Any, spec: dict[str, int], number: int) -> dict[str, Any] | None:
    """A shard create's ``completion`` (its attempts), checked against the shard's size; None without a policy."""
    completion = manifest.get("completion") if isinstance(manifest, dict) else None
    if completion is None:
        return None
    attempts = completion.get("attempts") if isinstance(completion, dict) else None
    rows = completion.get("rows") if isinstance(completion, dict) else None
    ok = (
        isinstance(attempts, list)
        and attempts
        and all(isinstance(a, dict) and isinstance(a.get("job_name"), str) for a in attempts)
        and isinstance(rows, dict)
        and rows.get("total") == spec["requests"]
    )
    if not ok:
        raise OperatorInputError(
            f"jobs[{number}].completion",
            f"does not describe shard {number}'s {spec['requests']} requests: {completion!r:.200}",
            "pass the mapped create's output (create.output) and the same split's output_shards, unchanged",
        )
    return dict(completion)


def _completion_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The combine manifest's ``completion``: rows answered / failed / given up over every shard, and the jobs."""
    total = sum(row["requests"] for row in rows)
    answered = sum(row.get("answered", row["succeeded"]) for row in rows)
    given_up = sum(row.get("given_up", 0) for row in rows)
    jobs = [attempt["job_name"] for row in rows for attempt in row.get("attempts", [{"job_name": row["job_name"]}])]
    return {
        "rows": {"total": total, "answered": answered, "failed": total - answered - given_up, "given_up": given_up},
        "attempts": max(len(row.get("attempts", [1])) for row in rows),
        "jobs": len(jobs),
        "job_names": jobs,
    }
