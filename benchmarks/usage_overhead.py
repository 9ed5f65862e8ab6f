"""Usage accounting's cost in the results writer: ``write_results`` over 200k parsed result lines (about 1 KiB
each, the line of ``stream_results``) to a local file, with and without ``UsageTotals``, rounds alternating.

Not part of ``make bench``'s report (the streaming figure there reads results without writing them); run it
alone to compare the writer's throughput with usage accounting on and off:

    .venv/bin/python -m benchmarks.usage_overhead [--lines 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from airflow_provider_genai_batch.client.results import BatchResult, ResultStreamParser
from airflow_provider_genai_batch.client.usage import UsageTotals
from airflow_provider_genai_batch.operators._destinations import TempNaming, resolve_destination
from airflow_provider_genai_batch.operators.results import write_results
from benchmarks.stream_results import write_results_file


def _parsed(path: Path) -> list[BatchResult]:
    parser = ResultStreamParser()
    return parser.feed(path.read_bytes()) + parser.end_of_shard()


def _write_seconds(results: list[BatchResult], target: Path, usage: UsageTotals | None) -> float:
    destination = resolve_destination(str(target), None)
    destination.prepare(TempNaming(owner="bench", try_number=1))
    started = time.perf_counter()
    write_results(destination, results, usage)
    return time.perf_counter() - started


def main() -> None:
    """Print the median seconds and lines per second of each variant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "source.jsonl"
        write_results_file(source, args.lines)
        results = _parsed(source)
        timings: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(args.rounds):
            timings["off"].append(_write_seconds(results, Path(folder) / "off.jsonl", None))
            usage = UsageTotals()
            timings["on"].append(_write_seconds(results, Path(folder) / "on.jsonl", usage))
            assert usage.to_dict()["total"]["requests"] == args.lines
        add_only: list[float] = []
        for _ in range(args.rounds):
            usage = UsageTotals()
            started = time.perf_counter()
            for result in results:
                usage.add(result.response)
            add_only.append(time.perf_counter() - started)
    per_line = statistics.median(add_only) / args.lines * 1e9
    print(f"UsageTotals.add alone: median {statistics.median(add_only):.3f} s ({per_line:.0f} ns a result)")
    for variant, seconds in timings.items():
        median = statistics.median(seconds)
        best = min(seconds)
        print(f"usage {variant:>3}: median {median:.3f} s ({args.lines / median:,.0f} lines/s), best {best:.3f} s")
    median_ratio = statistics.median(timings["on"]) / statistics.median(timings["off"])
    best_ratio = min(timings["on"]) / min(timings["off"])
    print(f"on/off: median {median_ratio:.3f}, best {best_ratio:.3f}")


if __name__ == "__main__":
    main()
