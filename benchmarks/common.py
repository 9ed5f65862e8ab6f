"""What every benchmark shares: the emulator in its own process, child processes, statistics, memory readings,
and the markdown table of a benchmark.

A benchmark module exposes ``run(quick: bool) -> Section`` and calls ``benchmark_main(run)`` under
``if __name__ == "__main__"``: it then accepts ``--quick`` (tiny sizes, a smoke run) and ``--json PATH`` (where
``python -m benchmarks`` collects the sections), and prints its table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "API_KEY",
    "EmulatorProcess",
    "Figure",
    "Section",
    "benchmark_main",
    "current_rss",
    "divert_stdout",
    "fmt",
    "median",
    "paired_ratios",
    "peak_rss",
    "quiet_http_logs",
    "render_section",
    "reset_peak_rss",
    "run_child",
]

#: The Gemini API key the benchmarks' emulators accept (long enough for Airflow's secret masker).
API_KEY = "bench-api-key-0123456789"
MIB = 1024 * 1024
_CHILD_RESULT_PREFIX = "BENCH-RESULT "


# --- the emulator, in its own process ------------------------------------------------------------------------


class EmulatorProcess:
    """``genai-batch-emulator --port 0`` in a child process; ``base_url`` is the first line it prints.

    ``lenient`` skips the emulator's schema check of bodies and input lines (it still parses every line).

    Example::

        with EmulatorProcess(job_seconds=3600) as emu:
            emu.control.stats()
    """

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        job_seconds: float = 3600.0,
        pending_seconds: float = 0.0,
        lenient: bool = False,
    ) -> None:
        script = Path(sys.executable).with_name("genai-batch-emulator")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "airflow_provider_genai_batch.emulator"]
        command += [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            api_key,
            "--job-seconds",
            str(job_seconds),
            "--pending-seconds",
            str(pending_seconds),
            "--log-level",
            "warning",
            *(["--lenient"] if lenient else []),
        ]
        self.api_key = api_key
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.process.kill()
            raise RuntimeError(f"the emulator did not print its base URL (got {line!r})")
        self.base_url = line
        self.port = int(line.rsplit(":", 1)[1])
        from airflow_provider_genai_batch.emulator import EmulatorClient

        self.control = EmulatorClient(self.base_url, timeout=120.0)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the emulator process has used so far."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> None:
        """Stop the emulator (SIGTERM, then SIGKILL after 10 s)."""
        self.control.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def quiet_http_logs() -> None:
    """Per-request INFO logs of httpx, httpx2 and google-genai off: no variant pays for log lines."""
    import logging

    for name in ("httpx", "httpx2", "httpcore", "httpcore2", "google_genai", "google.genai"):
        logging.getLogger(name).setLevel(logging.WARNING)


# --- child processes -----------------------------------------------------------------------------------------


def run_child(
    module: str,
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600.0,
    stderr_path: Path | None = None,
    on_start: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run ``python -m module --child args...`` and return the JSON object it reported with ``report_child``.

    ``stderr_path`` keeps the child's stderr (its logs) in a file instead of a pipe; ``on_start`` is called with
    the child's pid once it runs.
    """
    command = [sys.executable, "-m", module, "--child", *args]
    with open(stderr_path or os.devnull, "w") as stderr_file:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr_file if stderr_path else subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        if on_start is not None:
            on_start(process.pid)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
    for line in reversed(stdout.splitlines()):
        if line.startswith(_CHILD_RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(_CHILD_RESULT_PREFIX) :])
            return result
    if stderr_path is not None:
        stderr = stderr_path.read_text(errors="replace")
    raise RuntimeError(f"{' '.join(command)} exited {process.returncode} without a result:\n{(stderr or '')[-3000:]}")


_result_stream = sys.stdout


def divert_stdout() -> None:
    """Send everything printed to stdout (logs) to stderr from now on; ``report_child`` still reaches the parent."""
    global _result_stream
    _result_stream = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)


def report_child(result: dict[str, Any]) -> None:
    """Print a child's result where ``run_child`` finds it."""
    print(_CHILD_RESULT_PREFIX + json.dumps(result), file=_result_stream, flush=True)


# --- memory --------------------------------------------------------------------------------------------------


def current_rss() -> int:
    """Resident set size of this process now, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """The highest resident set size of this process since it started or since ``reset_peak_rss()``, in bytes.

    Read from ``VmHWM``: ``ru_maxrss`` may report the parent's RSS from before ``exec``.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> None:
    """Make the current RSS the peak again (Linux ``/proc/self/clear_refs``), so a later peak is this step's."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- statistics ----------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    """The median (NaN for no values)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def paired_ratios(subject: Sequence[float], anchor: Sequence[float]) -> list[float]:
    """``subject[i] / anchor[i]`` for runs measured in the same round (interleaved)."""
    return [s / a for s, a in zip(subject, anchor, strict=False) if a]


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, thousands separated; an em dash for None or NaN."""
    if value is None or value != value:
        return "—"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    decimals = max(digits - 1 - int(f"{magnitude:e}".split("e")[1]), 0)
    return f"{value:,.{decimals}f}"


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return "(1 run)"
    return f"{fmt(min(values))} to {fmt(max(values))}"


# --- results and their markdown ------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured figure of ours, against one anchor measured in the same run.

    ``ratio`` is ours ÷ anchor: the median of the per-round ratios when the runs were interleaved (``paired``),
    else the ratio of the medians. ``met`` is None for a figure that has no target of its own.
    """

    label: str
    unit: str
    samples: list[float]
    anchor: str | None = None
    anchor_samples: list[float] = field(default_factory=list)
    target: str = ""
    met: bool | None = None
    paired: bool = True

    @property
    def median(self) -> float:
        """The median of our samples."""
        return median(self.samples)

    @property
    def anchor_median(self) -> float:
        """The median of the anchor's samples."""
        return median(self.anchor_samples)

    @property
    def ratios(self) -> list[float]:
        """Per-round ratios ours ÷ anchor (or the single ratio of medians)."""
        if not self.anchor_samples:
            return []
        if self.paired and len(self.samples) == len(self.anchor_samples):
            return paired_ratios(self.samples, self.anchor_samples)
        return [self.median / self.anchor_median] if self.anchor_median else []

    @property
    def ratio(self) -> float | None:
        """ours ÷ anchor."""
        ratios = self.ratios
        return median(ratios) if ratios else None


@dataclass
class Section:
    """One benchmark's results: a title, how it was measured, its figures and notes (missed targets first)."""

    key: str
    title: str
    method: str
    figures: list[Figure]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    quick: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Section:
        """The section from ``to_json``'s output."""
        figures = [Figure(**figure) for figure in data.pop("figures")]
        return cls(figures=figures, **data)

    @property
    def verdicts(self) -> list[bool]:
        """met/missed of every figure that has a target."""
        return [figure.met for figure in self.figures if figure.met is not None]


def _ratio_cell(figure: Figure) -> str:
    ratio = figure.ratio
    if ratio is None:
        return "—"
    text = fmt(ratio)
    if 0 < ratio < 0.5:
        text += f" ({fmt(1 / ratio)}x less)"
    elif ratio > 2:
        text += f" ({fmt(ratio)}x more)"
    ratios = figure.ratios
    if len(ratios) > 1:
        text += f"; {fmt(min(ratios))} to {fmt(max(ratios))}"
    return text


def _verdict(met: bool | None) -> str:
    if met is None:
        return "info"
    return "**met**" if met else "**MISSED**"


def render_section(section: Section) -> str:
    """The section as markdown: heading, method, one table, notes."""
    lines = [f"## {section.title}", "", section.method.strip(), ""]
    lines += [
        "| figure | ours: median | ours: spread (min to max) | anchor (same run) | anchor: median (min to max) "
        "| ratio ours ÷ anchor (per-round range) | target | result |",
        "|---|---:|---:|---|---:|---|---|---|",
    ]
    for figure in section.figures:
        anchor_cell = "—"
        if figure.anchor_samples:
            anchor_cell = f"{fmt(figure.anchor_median)} {figure.unit}"
            if len(figure.anchor_samples) > 1:
                anchor_cell += f" ({_spread(figure.anchor_samples)})"
        lines.append(
            f"| {figure.label} | {fmt(figure.median)} {figure.unit} | {_spread(figure.samples)} "
            f"| {figure.anchor or '—'} | {anchor_cell} | {_ratio_cell(figure)} | {figure.target or '—'} "
            f"| {_verdict(figure.met)} |"
        )
    if section.notes:
        lines.append("")
        lines += [f"- {note}" for note in section.notes]
    lines += ["", f"_Ran in {section.seconds:.0f} s{' (quick mode)' if section.quick else ''}._", ""]
    return "\n".join(lines)


# --- the command line of a benchmark module ------------------------------------------------------------------


def benchmark_main(
    run: Callable[[bool], Section],
    child: Callable[[list[str]], None] | None = None,
    argv: Sequence[str] | None = None,
) -> None:
    """``python -m benchmarks.NAME [--quick] [--json PATH]``, or ``--child ...`` for the module's child process."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        if child is None:
            raise SystemExit("this benchmark has no child process")
        child(args[1:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    parser.add_argument("--json", type=Path, help="also write the section as JSON here")
    options = parser.parse_args(args)
    started = time.monotonic()
    section = run(options.quick)
    section.seconds = time.monotonic() - started
    section.quick = options.quick
    if options.json:
        options.json.write_text(json.dumps(section.to_json(), indent=1))
    print(render_section(section))
