"""A create operator's completion policy at work: read each attempt's results, resubmit the open rows, repeat.

The attempts are replayed from their jobs whenever the task needs the rows' state (after each wait in the worker,
in ``execute_complete`` after each deferral, in the results writer): attempt 1's input is the task's input,
attempt *k + 1*'s the rows still open after attempt *k* (``policy.completion.RowLedger``), so nothing but the
jobs' names has to be kept. A follow-up is submitted through ``submit_once`` with the key
``followup_key(key of attempt 1, k)``: a retried task finds it (ended or not) before creating anything.

Supported inputs: a list of requests and a local ``.jsonl`` file (its lines at the open positions are written
to a temporary file for the follow-up). Others (``gs://``, ``files/...``, ``bq://``) are refused before any call.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.operators._inputs import OperatorInputError

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.client.results import BatchResult
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from airflow_provider_genai_batch.operators._submission import CreateRequest
    from airflow_provider_genai_batch.policy.completion import CompletionPolicy, NextStep, RowLedger

__all__ = ["Replay", "check_completion_source", "replay", "source_rows", "submit_followup"]

#: Row indices listed in a manifest or an error message at most (the counts are always whole).
LISTED_ROWS = 200


def _local_jsonl(src: Any) -> Path | None:
    text = str(src) if isinstance(src, str | Path) else ""
    if text.endswith(".jsonl") and "://" not in text and not text.startswith("files/"):
        return Path(text).expanduser()
    return None


def check_completion_source(src: Any) -> None:
    """Refuse, before any call, an input a follow-up cannot be cut from."""
    if isinstance(src, list) or _local_jsonl(src) is not None:
        return
    raise OperatorInputError(
        "completion",
        f"follow-up jobs are built from a list of requests or a local .jsonl file, not {str(src)[:80]!r}",
        "pass the requests or a local .jsonl path, or completion=None",
    )


def source_rows(src: Any) -> int:
    """How many requests the input holds (blank JSONL lines are not requests)."""
    path = _local_jsonl(src)
    if path is None:
        return len(src)
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


@contextmanager
def _subset(src: Any, rows: Sequence[int]) -> Iterator[Any]:
    """The input of a follow-up: the requests at ``rows``, as a list or a temporary JSONL file."""
    path = _local_jsonl(src)
    if path is None:
        yield [src[row] for row in rows]
        return
    wanted = set(rows)
    with tempfile.TemporaryDirectory(prefix="genai-batch-followup-") as folder:
        target = Path(folder) / "followup.jsonl"
        with path.open("rb") as handle, target.open("wb") as out:
            position = 0
            for line in handle:
                if not line.strip():
                    continue
                if position in wanted:
                    out.write(line if line.endswith(b"\n") else line + b"\n")
                position += 1
        yield str(target)


def submit_followup(
    hook: GenAIBatchHook,
    context: Any,
    request: CreateRequest,
    *,
    parent_key: str,
    attempt: int,
    rows: Sequence[int],
    log: Any,
    lookup_max_jobs: int,
) -> BatchJob:
    """Attempt ``attempt``'s job for ``rows``: found by its key when an earlier try made it, else created once."""
    from airflow_provider_genai_batch.operators._submission import (
        TaskStateJobStore,
        job_naming,
        lookup_bound,
        submit_once,
    )
    from airflow_provider_genai_batch.policy.completion import followup_key

    key = followup_key(parent_key, attempt)
    config, naming = job_naming(request.config, request.display_name, task_id=context["ti"].task_id)
    with _subset(request.src, rows) as src:
        prepared = hook.prepare_create(
            model=request.model, src=src, config=config, embeddings=request.embeddings, naming=naming
        )
        try:
            prepared.key(key)
            log.info("Attempt %d: %d rows to resubmit, key %s", attempt, len(rows), key)
            submission = submit_once(
                hook,
                key=key,
                create=lambda: hook.create_prepared(prepared),
                created_after=lookup_bound(context),
                store=TaskStateJobStore({}, log),  # the task's store holds attempt 1 only
                force_rerun=False,
                log=log,
                lookup_max_jobs=lookup_max_jobs,
                accept_ended=True,
            )
        finally:
            prepared.cleanup.close()
    return submission.job


def attempt_results(hook: GenAIBatchHook, job: BatchJob) -> Iterator[BatchResult]:
    """The results of an ended attempt; none for a job that ended without results (expired, failed, cancelled)."""
    if not job.state.is_success:
        return iter(())
    return hook.iter_results(job)


@dataclass
class Replay:
    """The rows' state after replaying the attempts, and what follows the last one."""

    ledger: RowLedger
    #: Input rows of each attempt, in order (attempt 1: every row).
    rows: list[Sequence[int]]
    usage: dict[str, Any]
    step: NextStep | None = None

    def summary(self, jobs: Sequence[BatchJob], estimated_cost: Any = None) -> dict[str, Any]:
        """The manifest's ``completion`` entry: attempts, row counts, given-up and failed rows (first 200)."""
        ledger = self.ledger
        given_up = ledger.open_rows()
        failed = sorted(row for row in ledger.errors if row not in set(given_up))
        out: dict[str, Any] = {
            "attempts": [
                {"attempt": k, "job_name": job.name, "state": job.state.value, "rows": len(self.rows[k - 1])}
                for k, job in enumerate(jobs, start=1)
            ],
            "rows": {
                "total": ledger.total,
                "answered": ledger.answered,
                "failed": ledger.failed,
                "given_up": len(given_up),
            },
            "given_up_rows": given_up[:LISTED_ROWS],
            "failed_rows": failed[:LISTED_ROWS],
            "usage": self.usage,
        }
        if self.step is not None and self.step.kind == "stop":
            out["stopped"] = self.step.reason
        if estimated_cost is not None:
            out["estimated_cost"] = estimated_cost
        return out


def replay(
    hook: GenAIBatchHook,
    jobs: Sequence[BatchJob],
    total: int,
    *,
    policy: CompletionPolicy | None = None,
    visit: Any = None,
) -> Replay:
    """Replay ``jobs`` (attempt 1 first, every one ended): the ledger, each attempt's rows and the summed usage.

    With ``policy``, ``step`` is what follows the last attempt. ``visit(attempt, row, result)`` sees every
    result with its input row (the results writer's second pass uses it).
    """
    from airflow_provider_genai_batch.client.usage import UsageTotals, merge_usage
    from airflow_provider_genai_batch.policy.completion import RowLedger, Spend

    ledger = RowLedger(total)
    rows: list[Sequence[int]] = [range(total)]
    usages: list[dict[str, Any]] = []
    step = None
    for attempt, job in enumerate(jobs, start=1):
        if attempt > 1:
            rows.append(ledger.open_rows())
        mapping = rows[-1]
        usage = UsageTotals(default_model=job.model)

        def outcomes(
            attempt: int = attempt, job: BatchJob = job, mapping: Sequence[int] = mapping, usage: UsageTotals = usage
        ) -> Any:
            for result in attempt_results(hook, job):
                if not result.in_input_order:
                    raise OperatorInputError(
                        "completion",
                        f"results of {job.name} carry no index stamp: rows cannot be matched to the input",
                        "use completion=None for this job",
                    )
                if result.index >= len(mapping):
                    continue
                usage.add(result.response)
                if visit is not None:
                    visit(attempt, mapping[result.index], result)
                error = None if result.ok else result.error
                if error is None and not result.ok:
                    yield result.index, None, "UNKNOWN", "the result holds neither a response nor an error"
                elif error is None:
                    yield result.index, None, None
                else:
                    yield result.index, error.code, error.status, error.message or ""

        ledger.absorb(attempt, mapping, outcomes())
        usages.append(usage.to_dict())
    merged = merge_usage(usages)
    if policy is not None and jobs:
        first = jobs[0].create_time
        started = first.timestamp() if first is not None else time.time()
        spent_tokens = int(merged.get("total", {}).get("total_tokens", 0))
        cost = None
        if policy.prices is not None:
            from airflow_provider_genai_batch.client.usage import estimate_cost

            estimate = estimate_cost(merged, policy.prices)
            cost = float(estimate.get("total", 0.0)) if isinstance(estimate, dict) else None
        step = policy.next_step(
            ledger, attempt=len(jobs), elapsed=time.time() - started, spent=Spend(spent_tokens, cost)
        )
    return Replay(ledger=ledger, rows=rows, usage=merged, step=step)
