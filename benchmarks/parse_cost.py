"""1. DAG-parse cost: CPU and memory that importing an operator module adds over ``import airflow.sdk``.

Each measurement is a fresh interpreter that imports ``airflow.sdk``, reads ``getrusage(RUSAGE_SELF)`` (CPU
user+sys, max RSS), imports the module(s), and reads it again. Rounds interleave ours and the anchors; a first
unmeasured round compiles the bytecode and writes it (``PYTHONDONTWRITEBYTECODE`` is removed from the children's
environment: an installed provider has its bytecode, as pip writes it at install time).

    .bench-venv/bin/python -m benchmarks.parse_cost [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from benchmarks.common import Figure, Section, benchmark_main, median

# What a DAG file using the provider imports: the operators and the sensor.
OURS = "airflow_provider_genai_batch.operators,airflow_provider_genai_batch.sensors"
ANCHORS = {
    "Google provider `cloud.operators.gen_ai`": "airflow.providers.google.cloud.operators.gen_ai",
    "Anthropic provider `operators.batch`": "airflow.providers.anthropic.operators.batch",
    "OpenAI provider `operators.openai`": "airflow.providers.openai.operators.openai",
}
# Modules whose presence after the import tells what a DAG parse pays for.
WATCHED = ("google.genai", "google.auth", "httpx", "pydantic", "airflow_provider_genai_batch.client", "anthropic")
TARGET_MS = 15.0
TARGET_TIMES_LESS = 50.0

_CHILD = """
import importlib, json, resource, sys
def snap():
    r = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/statm") as statm:
        rss_kib = int(statm.read().split()[1]) * resource.getpagesize() // 1024
    return r.ru_utime + r.ru_stime, r.ru_maxrss, rss_kib
import airflow.sdk
cpu0, peak0, rss0 = snap()
for name in sys.argv[1].split(","):
    importlib.import_module(name)
cpu1, peak1, rss1 = snap()
watched = [m for m in sys.argv[2].split(",") if m in sys.modules]
print(json.dumps({"base_cpu": cpu0, "cpu": cpu1 - cpu0, "peak_kib": peak1 - peak0, "rss_kib": rss1 - rss0,
                  "watched": watched}))
"""


def measure(module: str) -> dict[str, Any]:
    """CPU seconds and max-RSS KiB added by importing ``module`` in a fresh interpreter after airflow.sdk."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, module, ",".join(WATCHED)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool) -> Section:
    """Interleaved rounds of ours and the anchors."""
    anchors = dict(list(ANCHORS.items())[2:]) if quick else ANCHORS
    rounds = 1 if quick else 7
    modules = [OURS, *anchors.values()]
    for module in modules:  # compile bytecode, warm the page cache
        measure(module)
    cpu: dict[str, list[float]] = {m: [] for m in modules}
    rss: dict[str, list[float]] = {m: [] for m in modules}
    peak: dict[str, list[float]] = {m: [] for m in modules}
    base: list[float] = []
    watched: dict[str, list[str]] = {}
    for round_number in range(rounds):
        order = modules[round_number % len(modules) :] + modules[: round_number % len(modules)]
        for module in order:
            result = measure(module)
            cpu[module].append(result["cpu"] * 1000)
            rss[module].append(result["rss_kib"] / 1024)
            peak[module].append(result["peak_kib"] / 1024)
            base.append(result["base_cpu"] * 1000)
            watched[module] = result["watched"]
    google = ANCHORS["Google provider `cloud.operators.gen_ai`"]
    cpu_ours = median(cpu[OURS])
    figures: list[Figure] = []
    for name, module in anchors.items():
        met = None
        target = ""
        if module == google or (quick and not figures):  # quick: the OpenAI anchor stands in for Google
            met = cpu_ours <= TARGET_MS and cpu_ours / median(cpu[module]) <= 1 / TARGET_TIMES_LESS
            target = (
                f"≤ {TARGET_MS:g} ms and ≥ {TARGET_TIMES_LESS:g}x less than {'Google' if module == google else name}"
            )
        figures.append(Figure("CPU added by the import", "ms", cpu[OURS], name, cpu[module], target, met))
    for name, module in anchors.items():
        figures.append(Figure("RSS added by the import", "MiB", rss[OURS], name, rss[module]))
    for name, module in anchors.items():
        figures.append(Figure("max RSS added by the import", "MiB", peak[OURS], name, peak[module]))
    figures.append(Figure("CPU of a fresh interpreter + `import airflow.sdk` (the baseline)", "ms", base))
    notes = [
        f"After importing `{OURS}`: "
        + ", ".join(f"`{m}` {'loaded' if m in watched[OURS] else 'not loaded'}" for m in WATCHED if m != "anthropic")
        + ".",
    ]
    for name, module in anchors.items():
        notes.append(
            f"{name} loads: " + (", ".join(f"`{m}`" for m in watched[module]) or "none of the watched modules")
        )
    if figures[0].met is False:
        notes.insert(
            0,
            f"MISSED: our import adds {median(cpu[OURS]):.1f} ms of CPU (target ≤ {TARGET_MS:g} ms and "
            f"≥ {TARGET_TIMES_LESS:g}x less than the Google provider's module).",
        )
    return Section(
        key="parse_cost",
        title="1. DAG-parse cost of importing the operator module",
        method=(
            "A fresh interpreter imports `airflow.sdk`, reads `getrusage(RUSAGE_SELF)` (CPU user+sys, max RSS) "
            "and the current RSS (`/proc/self/statm`), "
            f"imports the module and reads it again; {rounds} interleaved rounds (ours, then each anchor, the order "
            "rotating each round) after one unmeasured round that compiles bytecode. Ours is "
            f"`{OURS}` (every operator and the sensor of the provider)."
        ),
        figures=figures,
        notes=notes,
    )


if __name__ == "__main__":
    benchmark_main(run)
