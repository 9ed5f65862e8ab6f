"""BENCHMARKS.md: the machine, the versions, a summary of targets, then each benchmark's table."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from importlib import metadata

from benchmarks.common import Section, render_section

__all__ = ["machine_info", "render_report"]

PACKAGES = (
    "apache-airflow",
    "apache-airflow-providers-google",
    "apache-airflow-providers-anthropic",
    "apache-airflow-providers-openai",
    "google-genai",
    "httpx",
    "httpx2",
    "aiohttp",
    "pydantic",
    "uvicorn",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} cores (shared with other work while measuring)"),
        ("memory", f"{_memory_gib():.0f} GiB"),
        ("system", f"{platform.system()} {platform.release()}, Python {platform.python_version()}"),
        ("load average at the end (1, 5, 15 min)", load),
        ("packages", ", ".join(versions)),
        ("commit", _commit()),
    ]


def _summary(sections: list[Section]) -> list[str]:
    lines = ["| benchmark | targets met | targets missed |", "|---|---:|---:|"]
    for section in sections:
        verdicts = section.verdicts
        missed = [f.label + (f" (vs {f.anchor})" if f.anchor else "") for f in section.figures if f.met is False]
        missed_text = f"{len(missed)}: " + "; ".join(missed) if missed else "0"
        if not section.figures:
            missed_text = "the benchmark failed"
        lines.append(f"| {section.title} | {sum(verdicts)} | {missed_text} |")
    return lines


def render_report(sections: list[Section], *, started_at: dt.datetime, seconds: float, quick: bool) -> str:
    """The whole BENCHMARKS.md."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`.bench-venv/bin/python -m benchmarks`); do not edit by hand. Each figure is the "
        "median of repeated runs with its spread; each anchor was measured in the same run, interleaved with ours, "
        "and the ratio is ours ÷ anchor (the median of the per-round ratios when the runs were paired). The "
        "machine is shared, so absolute figures are noisy: read the ratios.",
        "",
    ]
    if quick:
        lines += ["**Quick mode: tiny sizes, a smoke run. These figures are not measurements.**", ""]
    lines += [
        f"- date: {started_at:%Y-%m-%d %H:%M} UTC; the run took {seconds / 60:.1f} min",
        *[f"- {key}: {value}" for key, value in machine_info()],
        "",
        "## Summary",
        "",
        *_summary(sections),
        "",
    ]
    for section in sections:
        lines.append(render_section(section))
    return "\n".join(lines).rstrip() + "\n"
