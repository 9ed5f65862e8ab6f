"""7. common-ai triggers: CPU per poll and connections of 1,000 ``LLMBatchTrigger``\\ s' adapters in one process.

common-ai's ``LLMBatchTrigger`` builds one adapter per trigger (``build_adapter``: ``api_key`` and ``base_url``
from the connection) and calls ``adapter.get_batch`` through ``asyncio.to_thread`` on every poll. This runs that
pattern for ``TRIGGERS`` triggers polling RUNNING Gemini jobs on the emulator (another process), round after
round, every trigger polling once per round, in a rotating order of two variants:

- ours: :class:`~airflow_provider_genai_batch.common_ai.adapter.GeminiBatchAdapter` per trigger, all on the
  process's one shared client (one pool);
- SDK client per adapter: what common-ai's own OpenAI and Anthropic adapters do (one SDK client, and so one
  connection pool, per adapter), here a ``google.genai.Client`` per trigger polling ``batches.get``;
- bare httpx (the floor): one shared ``httpx.Client`` GET plus ``json.loads``, through the same thread hop.

CPU is ``time.process_time()`` of the polling process; connections are the TCP sockets this process holds open
to the emulator after the rounds (each pool keeps its connections alive).

    .venv/bin/python -m benchmarks.common_ai [--quick]
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import API_KEY, EmulatorProcess, Figure, Section, benchmark_main, current_rss, fmt, median

MIB = 1024 * 1024
Poll = Callable[[str], Any]


def open_connections(port: int) -> int:
    """TCP sockets of this process connected to ``127.0.0.1:port`` (from /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                    if remote_port == port and fields[3] == "01" and fields[9] in inodes:  # 01: ESTABLISHED
                        count += 1
        except OSError:
            continue
    return count


def create_jobs(base_url: str, count: int) -> list[str]:
    """``count`` Gemini jobs that stay RUNNING for the whole benchmark."""
    from airflow_provider_genai_batch.client import GenAIBatchClient

    with GenAIBatchClient(api_key=API_KEY, base_url=base_url) as client:
        return [client.batches.create(model="gemini-2.5-flash", src=[f"job {i}"]).name for i in range(count)]


def ours(base_url: str, count: int) -> tuple[list[Poll], Callable[[], None]]:
    """One adapter per trigger, as common-ai's dispatch builds them."""
    from airflow_provider_genai_batch.common_ai.adapter import GeminiBatchAdapter

    adapters = [GeminiBatchAdapter(api_key=API_KEY, base_url=base_url) for _ in range(count)]

    def close() -> None:
        for adapter in adapters:
            adapter.close()
        from airflow_provider_genai_batch.hooks.client_cache import clear_sync_clients

        clear_sync_clients()

    return [adapter.get_batch for adapter in adapters], close


def bare_httpx(base_url: str, count: int) -> tuple[list[Poll], Callable[[], None]]:
    """The floor: one shared ``httpx.Client`` GET + ``json.loads`` per poll, no adapter, no parsing."""
    import json

    import httpx

    client = httpx.Client(base_url=base_url, headers={"x-goog-api-key": API_KEY}, timeout=60)

    def poll(name: str) -> Any:
        response = client.get(f"/v1beta/{name}")
        response.raise_for_status()
        return json.loads(response.content)

    return [poll] * count, client.close


def sdk_per_adapter(base_url: str, count: int) -> tuple[list[Poll], Callable[[], None]]:
    """One google-genai client per trigger: common-ai's own adapters' pattern (an SDK client each)."""
    from google import genai
    from google.genai import types

    clients = [genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=base_url)) for _ in range(count)]

    def close() -> None:
        for client in clients:
            client.close()

    return [lambda name, c=client: c.batches.get(name=name) for client in clients], close


async def poll_round(polls: list[Poll], names: list[str]) -> None:
    """Every trigger polls its job once, in a worker thread, as ``LLMBatchTrigger.run`` does."""
    await asyncio.gather(*(asyncio.to_thread(poll, name) for poll, name in zip(polls, names, strict=True)))


def measure(
    base_url: str, port: int, names: list[str], rounds: int
) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    """CPU seconds per poll of each variant per round; build cost, connections and memory of each."""
    builders = {"ours": ours, "sdk": sdk_per_adapter, "httpx": bare_httpx}
    samples: dict[str, list[float]] = {key: [] for key in builders}
    info: dict[str, dict[str, float]] = {}
    loop = asyncio.new_event_loop()
    try:
        for key, build in builders.items():
            _, close_warm = build(base_url, 1)  # imports and first-use costs stay out of the figures
            close_warm()
            gc.collect()
            rss, cpu = current_rss(), time.process_time()
            polls, close = build(base_url, len(names))
            built = time.process_time() - cpu
            loop.run_until_complete(poll_round(polls, names))  # warm-up: opens the connections
            for _ in range(rounds):
                gc.collect()
                started = time.process_time()
                loop.run_until_complete(poll_round(polls, names))
                samples[key].append((time.process_time() - started) / len(names))
            info[key] = {
                "build_us": built / len(names) * 1e6,
                "connections": open_connections(port),
                "rss_mib": (current_rss() - rss) / MIB,
            }
            close()
            del polls
    finally:
        loop.close()
    return samples, info


def run(quick: bool) -> Section:
    """``TRIGGERS`` adapters polling as many RUNNING jobs."""
    from benchmarks.common import quiet_http_logs

    triggers, rounds = (100, 2) if quick else (1000, 5)
    with EmulatorProcess(job_seconds=86_400) as emu:
        names = create_jobs(emu.base_url, triggers)
        quiet_http_logs()
        samples, info = measure(emu.base_url, emu.port, names, rounds)
    us = {key: [v * 1e6 for v in values] for key, values in samples.items()}
    anchor = "google-genai `Client` per adapter (common-ai's one-SDK-client-per-adapter pattern)"
    cpu = Figure("CPU per poll", "µs", us["ours"], anchor, us["sdk"])
    cpu.target = "cheaper"
    cpu.met = (cpu.ratio or 1) < 1
    connections = Figure(
        "TCP connections open to the API",
        "",
        [info["ours"]["connections"]],
        anchor,
        [info["sdk"]["connections"]],
        paired=False,
    )
    connections.target = "bounded by the pool, not by the trigger count"
    connections.met = info["ours"]["connections"] < info["sdk"]["connections"]
    floor = Figure(
        "CPU per poll",
        "µs",
        us["ours"],
        "bare shared `httpx.Client` GET + `json.loads` in the thread (the floor)",
        us["httpx"],
    )
    build = Figure(
        "CPU to build one adapter", "µs", [info["ours"]["build_us"]], anchor, [info["sdk"]["build_us"]], paired=False
    )
    memory = Figure(
        f"memory of {triggers:,} adapters after polling",
        "MiB",
        [info["ours"]["rss_mib"]],
        anchor,
        [info["sdk"]["rss_mib"]],
        paired=False,
    )
    notes = [
        f"Per poll, median of {rounds} rounds: ours {fmt(median(us['ours']))} µs, SDK client per adapter "
        f"{fmt(median(us['sdk']))} µs. Connections after the rounds: ours {info['ours']['connections']:.0f}, "
        f"SDK {info['sdk']['connections']:.0f} (each SDK client keeps its own pool).",
        f"The floor (a bare shared httpx client, same thread hop) takes {fmt(median(us['httpx']))} µs per poll: "
        "most of a poll's CPU is the worker-thread hop and httpx itself, which common-ai's trigger imposes "
        "(`asyncio.to_thread(adapter.get_batch)`) whatever the adapter.",
        "Ours: every adapter built from the same connection values shares the process's one client "
        "(`hooks/client_cache.py`); `close()` leaves that pool open for the other triggers.",
    ]
    return Section(
        key="common_ai",
        title="7. common-ai `@task.llm_batch` triggers: CPU per poll and connections",
        method=(
            f"{triggers:,} common-ai triggers' worth of adapters in one process, each polling its own RUNNING "
            f"Gemini job on the emulator (another process) through `asyncio.to_thread`, as `LLMBatchTrigger` "
            f"does; a warm-up round, then {rounds} rounds per variant. CPU is `time.process_time()` of the "
            "polling process; connections are its ESTABLISHED sockets to the emulator after the rounds."
        ),
        figures=[cpu, floor, connections, build, memory],
        notes=notes,
    )


if __name__ == "__main__":
    benchmark_main(run)
