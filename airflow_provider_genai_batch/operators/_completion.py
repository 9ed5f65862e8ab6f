"""A create operator's completion policy at work: read each attempt's results, resubmit the open rows, repeat.

The attempts are replayed from their jobs whenever the task needs the rows' state (after each wait in the worker,
in ``execute_complete`` after each deferral, in the results writer and the combine): attempt 1's input is the
task's input, attempt *k + 1*'s the rows still open after attempt *k* (``policy.completion.RowLedger``), so
nothing but the jobs' names has to be kept. A follow-up is submitted through ``submit_once`` with the key
``followup_key(key of attempt 1, k)``: a retried task finds it (ended or not) before creating anything.

Inputs a follow-up is cut from (``FollowupInput``), a split's shard reference included (its content is checked
against the hash the split recorded while the follow-up is cut, so a rewritten shard fails the task):

- a list of requests: the open rows' requests;
- a local ``.jsonl`` file: its lines at the open positions, in a temporary file the client uploads or stages;
- a ``files/...`` file (Gemini): downloaded, cut the same way, and uploaded as a new file;
- one ``gs://...jsonl`` object (Vertex AI): streamed, cut, and written next to it as
  ``<stem>.attempt-02.jsonl`` for a split's shard (its name already names the split's run and the shard) or
  ``<stem>.run-<token>.attempt-02.jsonl`` for any other object (``token``: the create's task instance), left in
  place when it already holds the same bytes (MD5), and checked again just before the create;
- a BigQuery table (``bq://``) is refused before any call: its rows can only be read through BigQuery, which
  this provider does not call (export the table to JSONL in Cloud Storage and pass the ``gs://`` URI).

Each line of a cut file carries the stamp of its position in the follow-up (``metadata.genai_batch_index``), so
its results map back to input rows on both backends whatever order they arrive in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
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

__all__ = [
    "FollowupInput",
    "Replay",
    "check_completion_source",
    "refuse_table_source",
    "replay",
    "source_rows",
    "submit_followup",
]

#: Row indices listed in a manifest or an error message at most (the counts are always whole).
LISTED_ROWS = 200
#: A line of a downloaded input longer than this fails the cut (memory stays bounded).
MAX_LINE_BYTES = 1_000_000_000

_TABLE_FIX = (
    "export the table to JSONL in Cloud Storage (bq extract --destination_format=NEWLINE_DELIMITED_JSON "
    "project:dataset.table gs://bucket/requests.jsonl) and pass that gs:// URI as src, or set completion=None"
)


def refuse_table_source(src: Any) -> None:
    """Refuse a ``bq://`` input with a completion policy (at parse time when ``src`` is a literal)."""
    if isinstance(src, str) and src.strip().startswith("bq://"):
        raise OperatorInputError(
            "completion",
            f"follow-up jobs cannot be cut from a BigQuery table ({src.strip()[:120]}): its rows can only be "
            "read through BigQuery, which this provider does not call",
            _TABLE_FIX,
        )


@dataclass(frozen=True)
class FollowupInput:
    """What a follow-up is cut from: ``kind`` (``list``, ``local``, ``file``, ``gcs``), where it is, and the
    split's shard reference when the input is a shard (its hash is checked while cutting)."""

    kind: str
    src: Any
    shard: dict[str, Any] | None = None

    @classmethod
    def of(cls, src: Any) -> FollowupInput:
        """The input ``src`` names (a shard reference unwrapped); refuse, before any call, one that cannot be cut."""
        from airflow_provider_genai_batch.operators._shard_refs import unwrap_shard

        given, shard = unwrap_shard(src)
        if isinstance(given, list | tuple):
            return cls("list", list(given), shard)
        text = str(given).strip() if isinstance(given, str | Path) else ""
        refuse_table_source(text)
        if text.startswith("files/"):
            return cls("file", text, shard)
        if text.startswith("gs://"):
            if not text.endswith(".jsonl") or any(char in text for char in "*?["):
                raise OperatorInputError(
                    "completion",
                    f"follow-up jobs are cut from one gs:// JSONL object, not {text[:120]!r}",
                    "pass one object (gs://bucket/path/requests.jsonl), split a larger input with "
                    "GenAIBatchSplitOperator, or set completion=None",
                )
            return cls("gcs", text, shard)
        if text.endswith(".jsonl") and "://" not in text:
            return cls("local", str(Path(text).expanduser()), shard)
        raise OperatorInputError(
            "completion",
            f"follow-up jobs are cut from a list of requests, a local .jsonl file, a files/... file or a gs:// "
            f"JSONL object, not {str(given)[:80]!r}",
            "pass one of those, or completion=None",
        )

    def lines(self, hook: GenAIBatchHook | None) -> Iterator[bytes]:
        """The input's lines, blank ones included (a file or object is read once, streamed; ``hook`` reads a
        ``files/`` or ``gs://`` input)."""
        from airflow_provider_genai_batch.operators._gcs_shards import object_lines

        if self.kind == "local":
            with Path(self.src).open("rb") as handle:
                yield from (line[:-1] if line.endswith(b"\n") else line for line in handle)
            return
        if hook is None:
            raise ValueError("a files/ or gs:// input is read through a hook")
        if self.kind == "file":
            yield from object_lines(hook.get_conn().files.download(name=self.src), MAX_LINE_BYTES)
        else:
            yield from object_lines(hook.get_conn().gcs_download(self.src), MAX_LINE_BYTES)


def check_completion_source(src: Any) -> None:
    """Refuse, before any call, an input a follow-up cannot be cut from."""
    FollowupInput.of(src)


def source_rows(src: Any, hook: GenAIBatchHook | None = None) -> int:
    """How many requests the input holds (blank JSONL lines are not requests); a file or object is counted by
    streaming it once."""
    given = FollowupInput.of(src)
    if given.kind == "list":
        return len(given.src)
    return sum(1 for line in given.lines(hook) if line.strip())


def _restamped(raw: bytes, position: int, *, always: bool) -> bytes:
    """A JSONL line for position ``position`` of a follow-up: its stamp (``metadata.genai_batch_index``) set to
    ``position`` when it carries one (a shard line) or when ``always`` (an object no client stamps again)."""
    from airflow_provider_genai_batch.client.wire.stamp import STAMP_KEY

    text = raw.strip()
    if not always and STAMP_KEY.encode() not in text:
        return text + b"\n"
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OperatorInputError("src", f"a line is not JSON ({exc})", "write one JSON object per line") from None
    if not isinstance(data, dict):
        raise OperatorInputError("src", f"a line is a {type(data).__name__}", "write one JSON object per line")
    metadata = data.get("metadata")
    if not always and not (isinstance(metadata, dict) and STAMP_KEY in metadata):
        return text + b"\n"
    data["metadata"] = {**(metadata if isinstance(metadata, dict) else {}), STAMP_KEY: str(position)}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _check_shard(given: FollowupInput, sha256: Any, md5: Any) -> None:
    """Fail unless the shard read for the follow-up holds the bytes its split wrote."""
    from airflow_provider_genai_batch.operators._shard_refs import check_shard_content

    shard = given.shard
    if shard is None:
        return
    if "sha256" in shard:
        check_shard_content(shard, {"sha256": sha256.hexdigest()})
    else:
        md5_b64 = base64.b64encode(md5.digest()).decode()
        check_shard_content(shard, {"gcs": [[given.src, None, md5_b64, None]]})


def cut_rows(lines: Iterable[bytes], rows: Sequence[int], out: Any, *, always_stamp: bool) -> tuple[Any, Any]:
    """Write the lines at request positions ``rows`` (blank lines are not requests) to ``out``, each stamped
    with its position in the follow-up; return the SHA-256 and MD5 of every byte read (with the line ends as
    read: ``\n``), for the shard check."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    wanted = iter(rows)
    target = next(wanted, None)
    position = written = 0
    for line in lines:
        data = line + b"\n"
        sha256.update(data)
        md5.update(data)
        if not line.strip():
            continue
        if position == target:
            out.write(_restamped(line, written, always=always_stamp))
            written += 1
            target = next(wanted, None)
        position += 1
    return sha256, md5


@contextmanager
def _subset(
    hook: GenAIBatchHook, given: FollowupInput, rows: Sequence[int], *, attempt: int, token: str
) -> Iterator[Any]:
    """The input of a follow-up and a check to run just before its create: the requests at ``rows``, as a list,
    a temporary JSONL file (local and ``files/`` inputs: the client uploads or stages it) or a ``gs://`` object
    written next to the input (checked unchanged before the create)."""
    if given.kind == "list":
        yield [given.src[row] for row in rows], None
        return
    with tempfile.TemporaryDirectory(prefix="genai-batch-followup-") as folder:
        target = Path(folder) / f"followup-attempt-{attempt:02d}.jsonl"
        with target.open("w+b") as out:
            sha256, md5 = cut_rows(given.lines(hook), rows, out, always_stamp=given.kind == "gcs")
            _check_shard(given, sha256, md5)
            if given.kind != "gcs":
                out.close()
                yield str(target), None
                return
            uri, md5 = _put_object(hook, given, out, attempt=attempt, token=token)
            yield uri, lambda: check_followup_object(hook, uri, md5)


def followup_object_uri(given: FollowupInput, *, attempt: int, token: str) -> str:
    """Where attempt ``attempt``'s rows of a ``gs://`` input go: next to the input, named for the shard (whose
    name names the split's run) or for the create's task instance (``token``), and the attempt."""
    stem = given.src.removesuffix(".jsonl")
    if given.shard is not None:
        return f"{stem}.attempt-{attempt:02d}.jsonl"
    return f"{stem}.run-{token}.attempt-{attempt:02d}.jsonl"


def _put_object(hook: GenAIBatchHook, given: FollowupInput, out: Any, *, attempt: int, token: str) -> tuple[str, str]:
    """Upload the follow-up file ``out`` unless the object already holds its bytes; its URI and MD5 (base64)."""
    from airflow_provider_genai_batch.client.errors import NotFoundError

    uri = followup_object_uri(given, attempt=attempt, token=token)
    size = out.tell()
    out.seek(0)
    digest = hashlib.md5(usedforsecurity=False)
    for block in iter(lambda: out.read(1 << 20), b""):
        digest.update(block)
    md5 = base64.b64encode(digest.digest()).decode()
    client = hook.get_conn()
    try:
        existing = client.gcs_object(uri).md5_hash
    except NotFoundError:
        existing = None
    if existing != md5:
        out.seek(0)
        client.gcs_upload(uri, out, size, "application/jsonl")
    return uri, md5


def check_followup_object(hook: GenAIBatchHook, uri: str, expected_md5: str) -> None:
    """Fail before the create when the follow-up object no longer holds the bytes written for it."""
    actual = hook.get_conn().gcs_object(uri).md5_hash
    if actual != expected_md5:
        raise OperatorInputError(
            "src",
            f"the follow-up object {uri} changed after it was written (MD5 {actual}, wrote {expected_md5}); "
            "nothing was submitted",
            "keep the input's folder for this DAG only, then clear the task",
        )


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
    """Attempt ``attempt``'s job for ``rows``: found by its key when an earlier try made it (then nothing of the
    input is read again), else cut from the input and created once."""
    from airflow_provider_genai_batch.operators._shard_refs import run_token
    from airflow_provider_genai_batch.operators._submission import (
        TaskStateJobStore,
        job_naming,
        lookup_bound,
        submit_once,
    )
    from airflow_provider_genai_batch.policy.completion import followup_key

    key = followup_key(parent_key, attempt)
    config, naming = job_naming(request.config, request.display_name, task_id=context["ti"].task_id)
    given = FollowupInput.of(request.src)
    log.info("Attempt %d: %d rows to resubmit, key %s", attempt, len(rows), key)
    with ExitStack() as resources:
        made: list[tuple[Any, Any]] = []  # the prepared create and its check, once made

        def cut_and_create() -> BatchJob:
            """Called only when the look-up found no job of this attempt: then the rows are cut (a remote input
            downloaded) and prepared, once; an ambiguous create sent again sends the same prepared request."""
            if not made:
                src, check = resources.enter_context(
                    _subset(hook, given, rows, attempt=attempt, token=run_token(context))
                )
                prepared = hook.prepare_create(
                    model=request.model, src=src, config=config, embeddings=request.embeddings, naming=naming
                )
                resources.callback(prepared.cleanup.close)
                prepared.key(key)
                made.append((prepared, check))
            prepared, check = made[0]
            return _checked_create(hook, prepared, check)

        submission = submit_once(
            hook,
            key=key,
            create=cut_and_create,
            created_after=lookup_bound(context),
            store=TaskStateJobStore({}, log),  # the task's store holds attempt 1 only
            force_rerun=False,
            log=log,
            lookup_max_jobs=lookup_max_jobs,
            accept_ended=True,
        )
    return submission.job


def _checked_create(hook: GenAIBatchHook, prepared: Any, check: Any) -> BatchJob:
    if check is not None:
        check()
    return hook.create_prepared(prepared)


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
