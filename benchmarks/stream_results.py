"""4. Result streaming: a 1 GB results file (a million lines) read from the emulator into typed results.

The file is written locally in the Gemini results format, uploaded once through the Files API (the emulator
serves uploaded files for download, which the real service does not), and named as the result file of a
SUCCEEDED ``BatchJob``. Each run is a fresh child process, so its peak RSS is its own; rounds rotate:

- ours: ``GenAIBatchClient.batches.iter_results(job)``, one ``BatchResult`` per line;
- raw: ``httpx.Client.stream`` of the same URL, split into lines, ``json.loads`` per line;
- SDK: google-genai ``files.download`` (the whole file in memory), then ``json.loads`` per line.

    .bench-venv/bin/python -m benchmarks.stream_results [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    API_KEY,
    MIB,
    EmulatorProcess,
    Figure,
    Section,
    benchmark_main,
    current_rss,
    fmt,
    peak_rss,
    quiet_http_logs,
    report_child,
    reset_peak_rss,
    run_child,
)

THROUGHPUT_TARGET = 0.8
MEMORY_TARGET_MIB = 64.0
VARIANTS = ("ours", "raw", "sdk")
_ANSWER = " ".join(["The batch answered this request with a paragraph of plain text"] * 13)


def write_results_file(path: Path, lines: int) -> int:
    """A Gemini results file of ``lines`` lines of about 1 KiB each; returns its size in bytes."""
    template = (
        '{{"key":"request-{i:07d}","response":{{"candidates":[{{"content":{{"parts":[{{"text":"{i}: {answer}"}}],'
        '"role":"model"}},"finishReason":"STOP","index":0}}],"usageMetadata":{{"promptTokenCount":12,'
        '"candidatesTokenCount":143,"totalTokenCount":155}},"modelVersion":"gemini-2.5-flash"}}}}\n'
    )
    with path.open("w") as out:
        for start in range(0, lines, 10_000):
            out.write("".join(template.format(i=i, answer=_ANSWER) for i in range(start, min(start + 10_000, lines))))
    return path.stat().st_size


def _consume_ours(base_url: str, file_name: str) -> int:
    from airflow_provider_genai_batch.client import BatchJob, GenAIBatchClient

    job = BatchJob.model_validate(
        {"name": "batches/bench", "state": "JOB_STATE_SUCCEEDED", "dest": {"fileName": file_name}}
    )
    with GenAIBatchClient(api_key=API_KEY, base_url=base_url) as client:
        _mark()
        return sum(1 for result in client.batches.iter_results(job) if result.ok)


def _consume_raw(base_url: str, file_name: str) -> int:
    import json

    import httpx

    count = 0
    with httpx.Client(base_url=base_url, headers={"x-goog-api-key": API_KEY}, timeout=60) as client:
        _mark()
        with client.stream("GET", f"/v1beta/{file_name}:download", params={"alt": "media"}) as response:
            response.raise_for_status()
            tail = b""
            for chunk in response.iter_raw():
                lines = (tail + chunk).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    if line:
                        count += "response" in json.loads(line)
            if tail.strip():
                count += "response" in json.loads(tail)
    return count


def _consume_sdk(base_url: str, file_name: str) -> int:
    import json

    from google import genai
    from google.genai import types

    client = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=base_url))
    _mark()
    data = client.files.download(file=file_name)
    return sum("response" in json.loads(line) for line in data.splitlines() if line)


_MARK: dict[str, float] = {}


def _mark() -> None:
    """The start of the measured part: clients are built, imports done."""
    reset_peak_rss()
    _MARK.update(rss=current_rss(), wall=time.perf_counter(), cpu=time.process_time())


def child(argv: list[str]) -> None:
    """``--child VARIANT BASE_URL FILE_NAME``: stream once, report time, CPU and peak memory growth."""
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("base_url")
    parser.add_argument("file_name")
    options = parser.parse_args(argv)
    quiet_http_logs()
    consume = {"ours": _consume_ours, "raw": _consume_raw, "sdk": _consume_sdk}[options.variant]
    results = consume(options.base_url, options.file_name)
    report_child(
        {
            "results": results,
            "seconds": time.perf_counter() - _MARK["wall"],
            "cpu": time.process_time() - _MARK["cpu"],
            "peak_growth": peak_rss() - _MARK["rss"],
        }
    )


def _upload(base_url: str, path: Path) -> str:
    from airflow_provider_genai_batch.client import GenAIBatchClient

    with GenAIBatchClient(api_key=API_KEY, base_url=base_url) as client:
        return client.files.upload(path, mime_type="jsonl", display_name="bench-results").name or ""


def run(quick: bool) -> Section:
    """Rotating rounds of the three readers over one uploaded results file."""
    lines, rounds = (5_000, 1) if quick else (1_000_000, 3)
    samples: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="bench-results-") as tmp, EmulatorProcess() as emu:
        path = Path(tmp) / "results.jsonl"
        size = write_results_file(path, lines)
        file_name = _upload(emu.base_url, path)
        path.unlink()
        for round_number in range(rounds):
            order = VARIANTS[round_number % 3 :] + VARIANTS[: round_number % 3]
            for variant in order:
                result = run_child("benchmarks.stream_results", [variant, emu.base_url, file_name], timeout=900)
                if result["results"] != lines:
                    raise RuntimeError(f"{variant} read {result['results']} of {lines} results")
                samples[variant].append(result)
    return _section(samples, size, lines, rounds)


def _section(samples: dict[str, list[dict[str, Any]]], size: int, lines: int, rounds: int) -> Section:
    def throughput(variant: str) -> list[float]:
        return [size / MIB / r["seconds"] for r in samples[variant]]

    def growth(variant: str) -> list[float]:
        return [r["peak_growth"] / MIB for r in samples[variant]]

    def cpu_per_line(variant: str) -> list[float]:
        return [r["cpu"] / lines * 1e6 for r in samples[variant]]

    raw_name, sdk_name = "raw httpx stream + `json.loads` per line", "google-genai `files.download` + `json.loads`"
    speed = Figure("throughput", "MiB/s", throughput("ours"), raw_name, throughput("raw"))
    speed.target, speed.met = f"≥ {THROUGHPUT_TARGET:g} of raw", (speed.ratio or 0) >= THROUGHPUT_TARGET
    memory = Figure("peak memory growth", "MiB", growth("ours"), raw_name, growth("raw"))
    memory.target, memory.met = f"< {MEMORY_TARGET_MIB:g} MiB", max(growth("ours")) < MEMORY_TARGET_MIB
    figures = [
        speed,
        memory,
        Figure("throughput", "MiB/s", throughput("ours"), sdk_name, throughput("sdk")),
        Figure("peak memory growth", "MiB", growth("ours"), sdk_name, growth("sdk")),
        Figure("CPU per result line", "µs", cpu_per_line("ours"), raw_name, cpu_per_line("raw")),
    ]
    notes = []
    if not speed.met:
        notes.append(
            f"MISSED: our typed stream reaches {fmt(speed.ratio)} of the raw throughput "
            f"({fmt(speed.median)} against {fmt(speed.anchor_median)} MiB/s; target ≥ {THROUGHPUT_TARGET:g}). "
            "Both read as fast as their CPU allows, so the ratio follows the CPU per line (below)."
        )
    if not memory.met:
        notes.append(
            f"MISSED: peak memory growth up to {fmt(max(growth('ours')))} MiB (target < {MEMORY_TARGET_MIB:g})."
        )
    return Section(
        key="stream_results",
        title="4. Result streaming: a results file into typed results",
        method=(
            f"A {size / 1e9:.2f} GB results file ({lines:,} lines of about {size // lines} bytes, Gemini format) is "
            "uploaded once to the emulator (its own process) and read back as the result file of a SUCCEEDED job; "
            f"{rounds} rotating rounds of the three readers, each in a fresh process. Throughput is file size ÷ wall "
            "time from the first request to the last result; peak memory growth is the peak RSS (reset with "
            "`/proc/self/clear_refs` once the client is built) minus the RSS at that moment."
        ),
        figures=figures,
        notes=notes,
    )


if __name__ == "__main__":
    benchmark_main(run, child)
