"""9. Usage accounting's cost in the results writer: ``write_results`` of parsed result lines to a local file,
with and without ``UsageTotals``.

The lines are the results file of benchmark 4 (about 1 KiB each, with ``usageMetadata``), parsed once into
``BatchResult`` objects before the rounds, so only the writer is timed. Each round writes them three times, in
a rotating order: usage off, usage on, and usage off again (an A/A pair that measures the noise).

    .bench-venv/bin/python -m benchmarks.usage_overhead [--quick]
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.common import Figure, Section, benchmark_main, fmt, median
from benchmarks.stream_results import write_results_file

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.results import BatchResult
    from airflow_provider_genai_batch.client.usage import UsageTotals

VARIANTS = ("off", "on", "off_again")


def _parsed(path: Path) -> list[BatchResult]:
    from airflow_provider_genai_batch.client.results import ResultStreamParser

    parser = ResultStreamParser()
    return parser.feed(path.read_bytes()) + parser.end_of_shard()


def _write_seconds(results: list[BatchResult], target: Path, usage: UsageTotals | None) -> float:
    from airflow_provider_genai_batch.operators._destinations import TempNaming, resolve_destination
    from airflow_provider_genai_batch.operators.results import write_results

    destination = resolve_destination(str(target), None)
    destination.prepare(TempNaming(owner="bench", try_number=1))
    gc.collect()
    started = time.perf_counter()
    counts = write_results(destination, results, usage)
    seconds = time.perf_counter() - started
    if counts["results"] != len(results):
        raise RuntimeError(f"the writer wrote {counts['results']} of {len(results)} results")
    return seconds


def _add_seconds(results: list[BatchResult]) -> float:
    from airflow_provider_genai_batch.client.usage import UsageTotals

    usage = UsageTotals()
    gc.collect()
    started = time.perf_counter()
    for result in results:
        usage.add(result.response)
    return time.perf_counter() - started


def run(quick: bool) -> Section:
    """Rotating rounds of off, on and off again over the same parsed results."""
    from airflow_provider_genai_batch.client.usage import UsageTotals

    lines, rounds = (10_000, 3) if quick else (200_000, 7)
    seconds: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    add_only: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-usage-") as folder:
        source = Path(folder) / "source.jsonl"
        size = write_results_file(source, lines)
        results = _parsed(source)
        _write_seconds(results, Path(folder) / "warm-up.jsonl", UsageTotals())
        for round_number in range(rounds):
            shift = round_number % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                usage = UsageTotals() if variant == "on" else None
                seconds[variant].append(_write_seconds(results, Path(folder) / f"{variant}.jsonl", usage))
                if usage is not None and usage.to_dict()["total"]["requests"] != lines:
                    raise RuntimeError(f"usage counted {usage.to_dict()['total']} for {lines} results")
            add_only.append(_add_seconds(results))
    return _section(seconds, add_only, lines, size, rounds)


def _section(seconds: dict[str, list[float]], add_only: list[float], lines: int, size: int, rounds: int) -> Section:
    def throughput(variant: str) -> list[float]:
        return [lines / value / 1000 for value in seconds[variant]]

    off_name = "usage off (same round)"
    on = Figure("writer throughput, usage on", "k lines/s", throughput("on"), off_name, throughput("off"))
    noise = Figure(
        "writer throughput, usage off again (A/A: the noise)",
        "k lines/s",
        throughput("off_again"),
        off_name,
        throughput("off"),
    )
    noise_ratios = noise.ratios
    low, high = min(noise_ratios), max(noise_ratios)
    on.target = "within the A/A range"
    on.met = on.ratio is not None and on.ratio >= low
    add_ns = [value / lines * 1e9 for value in add_only]
    figures = [
        on,
        noise,
        Figure("`UsageTotals.add` alone, per result", "ns", add_ns),
        Figure("writer time per result, usage off", "µs", [v / lines * 1e6 for v in seconds["off"]]),
    ]
    slowdown = 1 - (on.ratio or 0)
    notes = [
        f"Usage on writes at {fmt(on.ratio)} of the throughput with usage off (median of {rounds} per-round "
        f"ratios, range {fmt(min(on.ratios))} to {fmt(max(on.ratios))}); two identical runs with usage off "
        f"differ by {fmt(low)} to {fmt(high)} in the same rounds. `UsageTotals.add` alone takes "
        f"{fmt(median(add_ns))} ns a result, {fmt(median(add_ns) / (median(seconds['off']) / lines * 1e9) * 100)} % "
        "of the writer's time per result."
    ]
    if not on.met:
        notes.insert(
            0,
            f"MISSED: usage accounting costs {fmt(slowdown * 100)} % of the writer's throughput, more than the "
            f"A/A noise of this run (its lowest ratio {fmt(low)}).",
        )
    return Section(
        key="usage_overhead",
        title="9. Results writer: throughput with token-usage accounting",
        method=(
            f"`write_results` (the results operator's writer) writes {lines:,} parsed results (the {size / 1e6:.0f} "
            "MB results file of benchmark 4, about 1 KiB a line with `usageMetadata`, parsed once before the "
            "rounds) to a local file, with `UsageTotals` (usage on: prompt, candidates, thoughts, cached and total "
            f"tokens per model) and without. {rounds} rounds, each writing three times in a rotating order: usage "
            "off, usage on, usage off again; the ratio is per round against the round's usage-off run, and the "
            "second usage-off run (A/A) shows how much two identical runs differ: the noise. Target: the on/off "
            "ratio is no lower than the lowest A/A ratio of the run. The total of requests counted is checked "
            "each round. Measured in one process after a warm-up write."
        ),
        figures=figures,
        notes=notes,
    )


if __name__ == "__main__":
    benchmark_main(run)
