"""``python -m benchmarks``: run the benchmarks, each in its own process, and write BENCHMARKS.md.

.bench-venv/bin/python -m benchmarks [--quick] [--only poll_cost,density] [--output BENCHMARKS.md|-]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Section
from benchmarks.report import render_report

#: In the order of BENCHMARKS.md; each runs as ``python -m benchmarks.<name>``.
BENCHMARKS = (
    "parse_cost",
    "poll_cost",
    "density",
    "stream_results",
    "upload",
    "polling_economy",
    "common_ai",
    "operator_upload",
    "usage_overhead",
    "webhooks",
    "completion",
)


def run_one(name: str, quick: bool, folder: Path) -> Section:
    """One benchmark in a fresh process; its section, or a section that reports the failure."""
    out = folder / f"{name}.json"
    command = [sys.executable, "-m", f"benchmarks.{name}", "--json", str(out), *(["--quick"] if quick else [])]
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode == 0 and out.exists():
        return Section.from_json(json.loads(out.read_text()))
    error = (completed.stderr or completed.stdout)[-2000:]
    return Section(
        key=name,
        title=f"{name}: FAILED",
        method=f"`{' '.join(command[1:])}` exited {completed.returncode}:\n\n```\n{error}\n```",
        figures=[],
        seconds=time.monotonic() - started,
        quick=quick,
    )


def main() -> int:
    """Run, render, write; exit 1 if a benchmark failed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    parser.add_argument("--only", help="comma-separated benchmarks: " + ", ".join(BENCHMARKS))
    parser.add_argument("--output", default="BENCHMARKS.md", help="where to write the report ('-': stdout)")
    options = parser.parse_args()
    names = options.only.split(",") if options.only else list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    started_at, started = dt.datetime.now(dt.UTC), time.monotonic()
    sections = []
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        for name in names:
            print(f"benchmarks: {name}...", file=sys.stderr, flush=True)
            section = run_one(name, options.quick, Path(folder))
            print(f"benchmarks: {name} done in {section.seconds:.0f} s", file=sys.stderr, flush=True)
            sections.append(section)
    report = render_report(sections, started_at=started_at, seconds=time.monotonic() - started, quick=options.quick)
    if options.output == "-":
        print(report)
    else:
        Path(options.output).write_text(report)
        print(f"benchmarks: wrote {options.output}", file=sys.stderr)
    return 1 if any(not section.figures for section in sections) else 0


if __name__ == "__main__":
    raise SystemExit(main())
