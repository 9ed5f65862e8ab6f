"""Write a finished job's per-request results as JSONL to a local path or object storage, streamed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID, GenAIBatchBaseOperator
from airflow_provider_genai_batch.operators.jobs import job_name_from
from airflow_provider_genai_batch.operators.lineage import GenAIBatchLineageMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_genai_batch.client.results import BatchResult
    from airflow_provider_genai_batch.client.usage import UsageTotals
    from airflow_provider_genai_batch.operators._destinations import LocalDestination, ObjectDestination

__all__ = ["GenAIBatchWriteResultsOperator", "spool_merged", "write_merged", "write_results"]


def write_merged(
    destination: LocalDestination | ObjectDestination, hook: Any, completion: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write the attempts of a completion policy (the manifest's ``completion``) as one output in input order:
    each row once, from the attempt whose result is final, with ``"attempt"``; a row no attempt answered says
    ``"given_up": true`` with its last error (or, with no result at all, an error saying so). Returns the counts
    and the usage summed over the attempts."""
    counts: dict[str, Any] = {"results": 0, "succeeded": 0, "failed": 0, "given_up": 0, "bytes": 0, "reordered": 0}
    with destination.write() as spool:
        merged = spool_merged(spool, hook, completion, counts)
        counts["bytes"] = spool.size
        counts["reordered"] = int(not spool.in_order)
    counts["attribution"] = {"stamp": counts["results"]}
    return counts, merged.usage


def spool_merged(spool: Any, hook: Any, completion: dict[str, Any], counts: dict[str, Any], offset: int = 0) -> Any:
    """Add the merged lines of one task's attempts (its manifest's ``completion``) to ``spool``, row ``r`` at
    index ``offset + r`` (a shard's first index in a combine); add to ``counts`` (``results``, ``succeeded``,
    ``failed``, ``given_up``). Returns the replay (its ledger and summed usage).

    The attempts are read twice, streamed: once to know each row's final attempt (3 bytes a row), once to
    write. A key the client generated from a position (a request without a key of its own) is renumbered to
    the row's index; a user's key is kept."""
    from airflow_provider_genai_batch.operators._completion import replay

    jobs = [hook.get_job(attempt["job_name"]) for attempt in completion["attempts"]]
    total = int(completion["rows"]["total"])
    known = replay(hook, jobs, total)
    ledger = known.ledger
    given_up = set(ledger.open_rows())

    def visit(attempt: int, row: int, result: BatchResult) -> None:
        if ledger.attempt_of(row) != attempt:
            return
        out = result.to_json()
        out["index"] = offset + row
        if result.generated_key:
            out["key"] = str(offset + row)
        out["attempt"] = attempt
        if row in given_up:
            out["given_up"] = True
        spool.add(offset + row, json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        counts["results"] += 1
        counts["succeeded" if result.ok else "failed"] += 1

    replay(hook, jobs, total, visit=visit)
    for row in sorted(row for row in given_up if ledger.attempt_of(row) == 0):
        error = {"message": f"no result in any of {len(jobs)} attempts"}
        line = {"index": offset + row, "error": error, "given_up": True}
        spool.add(offset + row, json.dumps(line, separators=(",", ":")).encode() + b"\n")
        counts["results"] += 1
        counts["failed"] += 1
    counts["given_up"] = counts.get("given_up", 0) + len(given_up)
    return known


def write_results(
    destination: LocalDestination | ObjectDestination,
    results: Iterable[BatchResult],
    usage: UsageTotals | None = None,
) -> dict[str, Any]:
    """Write ``results`` as JSONL lines in index order to a prepared destination; return the counts (and how the
    results were attributed, ``{"attribution": {kind: count}}``). Each response's token usage is added to
    ``usage`` on the way, when given.

    Example::

        counts = write_results(destination, hook.iter_results(job))   # {"results", "succeeded", "failed", ...}
    """
    counts: dict[str, Any] = {"results": 0, "succeeded": 0, "failed": 0, "bytes": 0, "reordered": 0}
    attribution: dict[str, int] = {}
    add_usage = usage.add if usage is not None else None
    with destination.write() as spool:
        for result in results:
            if add_usage is not None:
                add_usage(result.response)
            line = json.dumps(result.to_json(), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            spool.add(result.index, line)
            counts["results"] += 1
            counts["succeeded" if result.ok else "failed"] += 1
            attribution[result.attribution] = attribution.get(result.attribution, 0) + 1
        counts["bytes"] = spool.size
        counts["reordered"] = int(not spool.in_order)
    counts["attribution"] = attribution
    return counts


class GenAIBatchWriteResultsOperator(GenAIBatchLineageMixin, GenAIBatchBaseOperator):
    """Stream a finished job's results, one JSON object per line in request order, to ``destination``.

    :param name: the job name, or a create operator's manifest (templated). A manifest with ``completion``
        (a completion policy's attempts) is written as one output: every input row once, in input order, from
        the attempt that answered it (``"attempt": k``) or with its last error and ``"given_up": true``; usage
        is summed over the attempts.
    :param destination: a local path (``~`` expanded) or an object-storage URL (``s3://``, ``gs://``,
        ``file://``..., written through ``airflow.sdk.ObjectStoragePath``) (templated). A trailing ``/`` or an
        existing directory means ``results.jsonl`` inside it; missing local parent directories are created.
    :param destination_conn_id: the connection for the object store, if it needs one.
    :param prices: optional ``{model: {"input": n, "output": n[, "cached": n]}}``, per million tokens, for
        ``estimated_cost`` (checked before any call).

    Returns ``{"job_name", "destination", "results", "succeeded", "failed", "bytes", "attribution",
    "usage"[, "estimated_cost"]}`` (XCom). With ``outlets``, each asset event's extra carries the job name,
    state, counts and token totals.

    Example::

        GenAIBatchWriteResultsOperator(
            task_id="save", name="{{ ti.xcom_pull('summarise')['job_name'] }}",
            destination="/data/results/{{ ds }}.jsonl",
        )

    **Order.** Each line is ``{"index", "key", "metadata", "response" | "error"}``, and lines are sorted by
    ``index`` whatever order the API returned them in. For every input this provider submits (a request list,
    a local JSONL file, a ``gs://`` object on Vertex AI) ``index`` is the request's position in the input, so the
    file is in request order. For a job made elsewhere whose input cannot be read, nothing gives input positions:
    ``index`` is the order the results arrived in, so those lines are in arrival order, each with
    ``"attribution": "key"`` or ``"arrival"`` (and the ``request`` a Vertex row echoed), and a warning is logged.
    The return value counts how results were attributed under ``attribution``
    (``{"stamp" | "request" | "key" | "arrival": n}``; ``client/results.py`` describes each).

    **Memory and usage.** Memory stays bounded whatever the size of the job: lines are spooled to disk with a
    24-byte record each, and reordered from there. Token usage is summed per model while the results stream
    (``usageMetadata``: prompt, candidates, thoughts, cached and total tokens; ``client/usage.py``), logged and
    returned under ``usage``; with ``prices`` (your currency: no price is built in) an ``estimated_cost`` too.

    **Replaced whole or not at all.** A failed download or a malformed result leaves the previous file or
    object byte for byte. A local path is written to a temporary file beside it, fsynced and renamed (atomic).
    An object-store URL is spooled to a local temporary file (``TMPDIR``) first, then written to a temporary
    object beside the target and moved: a rename for ``file://``, a server-side copy (atomic at the
    destination) plus a delete for S3 and GCS. Temporary names embed the task instance, so a retry removes only
    its own earlier leftovers.
    """

    template_fields: Sequence[str] = ("name", "destination", "genai_batch_conn_id", "destination_conn_id", "prices")

    def __init__(
        self,
        *,
        name: Any,
        destination: str,
        destination_conn_id: str | None = None,
        prices: dict[str, dict[str, float]] | None = None,
        genai_batch_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(genai_batch_conn_id=genai_batch_conn_id, **kwargs)
        self.name = name
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.prices = prices

    def execute(self, context: Context) -> dict[str, Any]:
        """Write every result; return ``{"job_name", "destination", "results", "succeeded", "failed", "bytes",
        "attribution", "usage"[, "estimated_cost"]}``."""
        from airflow_provider_genai_batch.client.usage import UsageTotals, check_prices, estimate_cost
        from airflow_provider_genai_batch.operators._assets import emit_asset_extra
        from airflow_provider_genai_batch.operators._destinations import TempNaming, resolve_destination
        from airflow_provider_genai_batch.operators.lineage import results_uris

        prices = check_prices(self.prices)
        name = job_name_from(self.name)
        destination = resolve_destination(self.destination, self.destination_conn_id)
        job = self.hook.get_job(name)  # fails clearly (not found, not finished) before the target is touched
        self._genai_batch_inputs = results_uris([job])
        destination.prepare(TempNaming.for_context(context))  # bad destinations fail here, before any download
        usage = UsageTotals(default_model=job.model)
        from airflow_provider_genai_batch.policy.manifest import ResultsAttribution

        completion = self.name.get("completion") if isinstance(self.name, dict) else None
        if isinstance(completion, dict) and completion.get("attempts"):
            counts, merged_usage = write_merged(destination, self.hook, completion)
        else:
            counts, merged_usage = write_results(destination, self.hook.iter_results(job), usage), None
        attribution = ResultsAttribution.of(counts.pop("attribution"))
        counts["attribution"] = attribution.to_xcom()
        reordered = counts.pop("reordered")
        if not attribution.in_input_order:
            self.log.warning(
                "Results of %s carry no index stamp and no request to match (by key: %d, by arrival only: %d): "
                "they were written in the order they arrived, which need not be the input's; each line says so "
                "in its 'attribution'",
                name,
                attribution.key,
                attribution.arrival,
            )
        elif reordered:
            self.log.info("Results of %s arrived out of order; they were written in request order", name)
        self.log.info(
            "Wrote %d results of %s to %s (%d failed)", counts["results"], name, destination.display, counts["failed"]
        )
        out: dict[str, Any] = {"job_name": job.name, "destination": destination.display, **counts}
        out["usage"] = merged_usage if merged_usage is not None else usage.to_dict()
        total = out["usage"]["total"]
        self.log.info(
            "Token usage of %s: %d prompt (%d cached), %d candidates, %d thoughts, %d total",
            name,
            total["prompt_tokens"],
            total["cached_tokens"],
            total["candidates_tokens"],
            total["thoughts_tokens"],
            total["total_tokens"],
        )
        if prices is not None:
            out["estimated_cost"] = estimate_cost(out["usage"], prices)
            self.log.info("Estimated cost of %s: %s", name, out["estimated_cost"])
        extra = {k: v for k, v in out.items() if k != "usage"}
        emit_asset_extra(self, context, {**extra, "state": job.state.value, "usage": total})
        return out
