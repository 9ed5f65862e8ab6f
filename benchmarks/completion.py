"""11. Completion at scale: 100,000 requests in 10 shards, 1 % of rows failing retryably, one shard expiring.

The real operators run in one child process against the emulator (its own process), as a worker would run
them (sync mode, a minimal task context per task instance): ``GenAIBatchSplitOperator`` cuts a local JSONL file
of 100,000 requests into 10 shards of 10,000; one ``GenAIBatchCreateJobOperator`` per shard runs with
``completion=CompletionPolicy(max_attempts=3)``; ``GenAIBatchCombineResultsOperator`` merges every shard's
attempts into one file. The emulator is told (``add_outcome``, matched by each shard's display name) that 1 % of
the rows, chosen at random, fail with 429 in their first attempt, and that shard 3 EXPIRES after processing half
of its rows (an expired job has no results, so all its rows are open).

Checked, then reported: every row is in the combined file exactly once, in input order, answered with its own
prompt's answer; the attempts and jobs the manifest counts equal the emulator's count of jobs created and the
rows resubmitted. Measured, in rotating rounds inside the child once the jobs have ended (each round's peak RSS
reset with ``/proc/self/clear_refs``):

- ours: the combine (``execute``: reads each attempt's results twice, writes the merged file in input order);
- anchor: reading every attempt's results once (``iter_results``), counting them: the least any merge must do.

Each measured run is a fresh child process (its peak RSS is its own, reset once the client is built).

    .bench-venv/bin/python -m benchmarks.completion [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.common import (
    API_KEY,
    MIB,
    EmulatorProcess,
    Figure,
    Section,
    benchmark_main,
    current_rss,
    divert_stdout,
    fmt,
    peak_rss,
    quiet_http_logs,
    report_child,
    reset_peak_rss,
    run_child,
)

MODEL = "gemini-2.5-flash"
EXPIRING_SHARD = 3
FAILING_SHARE = 0.01
#: The merge may hold at most this much more memory than reading the results once (the ledger: 3 bytes a row).
MEMORY_TARGET_MIB = 32.0


class BenchTaskInstance(SimpleNamespace):
    """The task instance fields the operators read, and their XCom pushes kept in a dict."""

    def __init__(self, task_id: str, map_index: int = -1) -> None:
        super().__init__(
            dag_id="bench_completion",
            task_id=task_id,
            run_id="manual__bench",
            map_index=map_index,
            try_number=1,
            max_tries=0,
            xcoms={},
        )

    def xcom_push(self, key: str, value: Any) -> None:
        """Keep the value."""
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value") -> Any:
        """What this task instance pushed under ``key`` (None when nothing)."""
        return self.xcoms.get(key)


def _context(task_id: str, map_index: int = -1) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "ti": BenchTaskInstance(task_id, map_index),
        "dag_run": SimpleNamespace(run_after=now, logical_date=now),
    }


def write_input(path: Path, rows: int) -> None:
    """``rows`` requests, row ``i`` asking ``row i``, keyed ``r<i>``."""
    with path.open("w") as out:
        for start in range(0, rows, 10_000):
            out.write(
                "".join(
                    json.dumps(
                        {
                            "request": {"contents": [{"role": "user", "parts": [{"text": f"row {i}"}]}]},
                            "metadata": {"key": f"r{i}"},
                        }
                    )
                    + "\n"
                    for i in range(start, min(start + 10_000, rows))
                )
            )


def plan_outcomes(rows: int, shards: int, seed: int = 7) -> dict[str, Any]:
    """Which rows fail with 429 in their first attempt (1 % of all rows) and which shard expires."""
    size = rows // shards
    failing = sorted(random.Random(seed).sample(range(rows), round(rows * FAILING_SHARE)))
    by_shard: dict[int, list[int]] = {}
    for row in failing:
        by_shard.setdefault(row // size, []).append(row % size)
    return {"size": size, "failing": failing, "by_shard": by_shard, "expiring": EXPIRING_SHARD % shards}


def _check_combined(path: Path, rows: int) -> dict[str, Any]:
    """Every row once, in order, answered with its own prompt's answer; the attempts that answered, counted."""
    attempts: dict[int, int] = {}
    expected = 0
    with path.open("rb") as lines:
        for raw in lines:
            line = json.loads(raw)
            if line["index"] != expected:
                raise RuntimeError(f"row {expected} expected, found {line['index']}")
            text = line["response"]["candidates"][0]["content"]["parts"][0]["text"]
            if not text.endswith(f"row {expected}") or line["key"] != f"r{expected}":
                raise RuntimeError(f"row {expected} holds another row's answer: {text[:80]!r}, {line['key']!r}")
            attempts[line["attempt"]] = attempts.get(line["attempt"], 0) + 1
            expected += 1
    if expected != rows:
        raise RuntimeError(f"{expected} rows in the combined file, {rows} in the input")
    return {"answered_once": expected, "answered_by_attempt": {str(k): v for k, v in sorted(attempts.items())}}


def _pipeline(folder: Path, rows: int, shards: int) -> dict[str, Any]:
    """Split, then one create per shard with a completion policy (each waits for its attempts); the creates'
    manifests and the split's specs are written to ``folder/tasks.json`` for the measured children."""
    from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchSplitOperator
    from airflow_provider_genai_batch.policy.completion import CompletionPolicy

    started = time.perf_counter()
    split = GenAIBatchSplitOperator(
        task_id="split",
        src=str(folder / "prompts.jsonl"),
        limits="gemini",
        max_shard_requests=rows // shards,
        shard_folder=str(folder / "shards"),
    )
    split_context = _context("split")
    sources = split.execute(split_context)  # type: ignore[arg-type]
    manifests = []
    for number, src in enumerate(sources):
        create = GenAIBatchCreateJobOperator(
            task_id="create",
            model=MODEL,
            src=src,
            display_name=f"shard-{number:02d}-",
            deferrable=False,
            poll_interval=0.5,
            min_poll_interval=0.2,
            completion=CompletionPolicy(max_attempts=3),
        )
        manifests.append(create.execute(_context("create", number)))  # type: ignore[arg-type]
    tasks = {"manifests": manifests, "specs": split_context["ti"].xcoms["shards"]}
    (folder / "tasks.json").write_text(json.dumps(tasks))
    return {"pipeline_seconds": time.perf_counter() - started}


def _combine(folder: Path) -> dict[str, Any]:
    from airflow_provider_genai_batch.operators import GenAIBatchCombineResultsOperator

    tasks = json.loads((folder / "tasks.json").read_text())
    combine = GenAIBatchCombineResultsOperator(
        task_id="combine", jobs=tasks["manifests"], shards=tasks["specs"], destination=str(folder / "combined.jsonl")
    )
    combine.hook.get_conn()  # the client built before the measured part
    _mark()
    manifest = combine.execute(_context("combine"))  # type: ignore[arg-type]
    shard_attempts = [[a["rows"] for a in shard["attempts"]] for shard in manifest["shards"]]
    return {"manifest": {k: v for k, v in manifest.items() if k not in ("shards", "usage")}, "shards": shard_attempts}


def _read_once(folder: Path) -> dict[str, Any]:
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    tasks = json.loads((folder / "tasks.json").read_text())
    hook = GenAIBatchHook()
    names = [attempt["job_name"] for m in tasks["manifests"] for attempt in m["completion"]["attempts"]]
    jobs = [hook.get_job(name) for name in names]
    _mark()
    return {"results": sum(1 for job in jobs if job.state.is_success for _ in hook.iter_results(job))}


_MARK: dict[str, float] = {}


def _mark() -> None:
    """The start of the measured part: imports done, the client built."""
    reset_peak_rss()
    _MARK.update(rss=current_rss(), wall=time.perf_counter(), cpu=time.process_time())


def child(argv: list[str]) -> None:
    """``--child STEP FOLDER [ROWS SHARDS]``: ``pipeline`` (split and creates, once), or one measured ``combine``
    or ``read_once`` in this fresh process (its peak RSS is its own)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=("pipeline", "combine", "read_once"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("rows", type=int, nargs="?", default=0)
    parser.add_argument("shards", type=int, nargs="?", default=0)
    options = parser.parse_args(argv)
    divert_stdout()
    quiet_http_logs()
    if options.step == "pipeline":
        report_child(_pipeline(options.folder, options.rows, options.shards))
        return
    result = _combine(options.folder) if options.step == "combine" else _read_once(options.folder)
    report_child(
        {
            **result,
            "seconds": time.perf_counter() - _MARK["wall"],
            "cpu": time.process_time() - _MARK["cpu"],
            "peak_growth": peak_rss() - _MARK["rss"],
            "peak_rss": peak_rss(),
        }
    )


def run(quick: bool) -> Section:
    """Plan the outcomes, run the child, check the counts against the emulator's."""
    rows, shards, rounds = (2_000, 4, 1) if quick else (100_000, 10, 3)
    plan = plan_outcomes(rows, shards)
    with (
        tempfile.TemporaryDirectory(prefix="bench-completion-") as tmp_name,
        EmulatorProcess(job_seconds=1.0, pending_seconds=0.0, lenient=True) as emu,
    ):
        tmp = Path(tmp_name)
        write_input(tmp / "prompts.jsonl", rows)
        for shard in range(shards):
            name = f"shard-{shard:02d}-"
            if shard == plan["expiring"]:
                emu.control.add_outcome("EXPIRED", expired_done=plan["size"] // 2, match_display_name=name)
            elif plan["by_shard"].get(shard):
                failed = {index: 429 for index in plan["by_shard"][shard]}
                emu.control.add_outcome(failed_requests=failed, match_display_name=name)
        connection = {"conn_type": "genai_batch", "host": emu.base_url, "password": API_KEY}
        env = {
            "AIRFLOW_HOME": str(tmp / "airflow"),
            "AIRFLOW_CONN_GENAI_BATCH_DEFAULT": json.dumps(connection),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }

        def step(*args: str) -> dict[str, Any]:
            return run_child("benchmarks.completion", list(args), env=env, timeout=3600, stderr_path=tmp / "child.log")

        result = step("pipeline", str(tmp), str(rows), str(shards))
        samples: dict[str, list[dict[str, Any]]] = {"combine": [], "read_once": []}
        for round_number in range(rounds):
            order = ("combine", "read_once") if round_number % 2 == 0 else ("read_once", "combine")
            for name in order:
                samples[name].append(step(name, str(tmp)))
        result.update(samples)
        last = samples["combine"][-1]
        result.update(
            manifest=last["manifest"],
            shard_attempts=last["shards"],
            results_read_once=samples["read_once"][-1]["results"],
            output_bytes=(tmp / "combined.jsonl").stat().st_size,
            **_check_combined(tmp / "combined.jsonl", rows),
        )
        stats = emu.control.stats()
    return _section(result, stats, plan, rows, shards, rounds)


def _section(result: dict[str, Any], stats: Any, plan: dict[str, Any], rows: int, shards: int, rounds: int) -> Section:
    manifest = result["manifest"]
    completion = manifest["completion"]
    retried = sum(len(v) for k, v in plan["by_shard"].items() if k != plan["expiring"])
    expected_jobs = shards + sum(1 for k, v in plan["by_shard"].items() if v and k != plan["expiring"]) + 1
    problems = []
    if completion["rows"] != {"total": rows, "answered": rows, "failed": 0, "given_up": 0}:
        problems.append(f"rows: {completion['rows']}")
    if completion["jobs"] != stats["jobs_created"] or stats["jobs_created"] != expected_jobs:
        problems.append(
            f"jobs: manifest {completion['jobs']}, emulator {stats['jobs_created']}, planned {expected_jobs}"
        )
    if result["answered_by_attempt"] != {"1": rows - retried - plan["size"], "2": retried + plan["size"]}:
        problems.append(f"answered by attempt: {result['answered_by_attempt']}")
    if problems:
        raise RuntimeError("the completion run is not what was planned: " + "; ".join(problems))
    output_mib = result["output_bytes"] / MIB

    def values(variant: str, key: str, scale: float = 1.0) -> list[float]:
        return [sample[key] / scale for sample in result[variant]]

    reader = "reading every attempt's results once (`iter_results`)"
    memory = Figure(
        "combine: peak memory growth", "MiB", values("combine", "peak_growth", MIB), reader,
        values("read_once", "peak_growth", MIB),
    )  # fmt: skip
    growth = max(memory.samples)
    memory.target, memory.met = f"< {MEMORY_TARGET_MIB:g} MiB", growth < MEMORY_TARGET_MIB
    figures = [
        memory,
        Figure(
            "combine: peak RSS of the process",
            "MiB",
            values("combine", "peak_rss", MIB),
            reader,
            values("read_once", "peak_rss", MIB),
        ),
        Figure("combine: wall time", "s", values("combine", "seconds"), reader, values("read_once", "seconds")),
        Figure("combine: CPU", "s", values("combine", "cpu"), reader, values("read_once", "cpu")),
        Figure(
            "combine: peak memory growth ÷ output size",
            "",
            [g / output_mib for g in values("combine", "peak_growth", MIB)],
        ),
        Figure("split + creates + follow-ups (whole pipeline, once)", "s", [result["pipeline_seconds"]]),
    ]
    notes = [
        f"Every row answered exactly once: {result['answered_once']:,} of {rows:,} rows in the combined file, in "
        f"input order, each with its own prompt's answer; answered by attempt 1: "
        f"{result['answered_by_attempt']['1']:,}, by attempt 2: {result['answered_by_attempt']['2']:,} "
        f"({retried:,} rows failed with 429, {plan['size']:,} rows of the expired shard {plan['expiring']}).",
        f"Jobs: {completion['jobs']} (the emulator created {stats['jobs_created']}): {shards} shards' first "
        f"attempts and {completion['jobs'] - shards} follow-ups; at most {completion['attempts']} attempts per "
        f"shard; rows per attempt by shard: {result['shard_attempts']}.",
        f"Output: {output_mib:.1f} MiB ({result['output_bytes'] / rows:.0f} bytes a row); results read once: "
        f"{result['results_read_once']:,} (the expired attempt has none).",
    ]
    if not memory.met:
        notes.insert(
            0, f"MISSED: the combine's peak memory grew by {fmt(growth)} MiB (target < {MEMORY_TARGET_MIB:g})."
        )
    return Section(
        key="completion",
        title="11. Completion at scale: 100,000 requests, 1 % failing retryably, one shard expiring",
        method=(
            f"{rows:,} requests (a local JSONL file) split into {shards} shards of {plan['size']:,}; one create per "
            "shard with `completion=CompletionPolicy(max_attempts=3)`, sync mode, against the emulator (its own "
            f"process); {round(rows * FAILING_SHARE):,} rows chosen at random fail with 429 in their first attempt "
            f"and shard {plan['expiring']} expires after half its rows (no results). Then {rounds} rotating rounds "
            "of the combine (merging every shard's attempts into one file in input order) and of the anchor, "
            "reading every attempt's results once, each in a fresh process; peak memory growth is the peak RSS "
            "(reset with `/proc/self/clear_refs` once the client is built) minus the RSS at that moment."
        ),
        figures=figures,
        notes=notes,
    )


if __name__ == "__main__":
    benchmark_main(run, child)
