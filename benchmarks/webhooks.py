"""10. Webhooks: completion lag and API calls per job, webhooks on, webhooks off, and fixed 30 s polling.

Three waits for the same kind of Gemini job run side by side in one event loop, each against its own emulator (its
own process, so its count of job reads is that variant's):

- **webhooks on**: ``GenAIBatchJobTrigger`` on a connection whose ``webhook_url`` names a real receiver
  (``webhooks.receiver.create_app`` under uvicorn, recording in a real SQLite metadata DB); the job is created as the
  create operator creates it (``prepare_create`` + ``create_prepared``), so it carries a dynamic ``webhookConfig``,
  and the emulator delivers a signed JWT delivery to the receiver when the job ends; the trigger's watcher reads
  the deliveries Variable as a triggerer does. The trigger is armed as the create operator arms it
  (``webhook_armed=True``, ``webhooks.config.receiver_armed``): polling is only the fallback, every
  ``webhook_fallback_interval`` (30 min by default).
- **webhooks off**: the same trigger on a connection without ``webhook_url``: our adaptive polling.
- **fixed 30 s polling**: ``hook.aget_job`` then ``asyncio.sleep(30)`` until the job ends: the Google provider's
  default pattern (``polling_interval=30``, as benchmark 6 models it).

Two phases, one run:

1. **Whole jobs, time-scaled** (calls per job; polling lags): jobs of 10 min to 24 h run ``SCALE`` times faster
   (job and polling schedules alike: 5 s becomes 5/SCALE s), so a 24 h job's polls all happen; the bench ends each
   job with the emulator's ``finish_job`` at its scaled end. Lags are measured in real seconds and multiplied by
   ``SCALE``. The webhook's own path (delivery, record, the watcher's 2 s round) cannot be scaled: with webhooks on,
   the delivery (a second or two of real time, minutes of model time) wakes the wait; a wait pays exactly one read
   after the end either way, so the calls per job are those of a real run.
2. **The end of each job, real time** (the webhook lag): the trigger starts with ``started_at`` set ``D`` seconds
   in the past minus a few seconds, so its schedule is exactly the one it has at the end of a ``D``-long job (its
   next poll 30 min away when armed), and the job ends a few seconds later. The lag is job end to the trigger's event,
   in real seconds: Google's delivery (the emulator's, a few tenths of a second), the receiver's verification and
   record, the watcher's round (every 2 s), and the read.

    .bench-venv/bin/python -m benchmarks.webhooks [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from benchmarks.common import API_KEY, EmulatorProcess, Figure, Section, benchmark_main, fmt, quiet_http_logs

HOUR = 3600.0
MODEL = "gemini-2.5-flash"
FIXED_INTERVAL = 30.0
LAG_TARGET = 10.0
CONNECTIONS = {"on": "bench_wh_on", "off": "bench_wh_off", "fixed": "bench_wh_fixed"}
LABELS = {
    "on": "webhooks on (our trigger + receiver)",
    "off": "webhooks off (our adaptive polling)",
    "fixed": "fixed 30 s polling (the Google provider's default)",
}


@dataclass
class Plan:
    """The sizes of one run."""

    scale: float
    durations: list[float]
    end_phase_rounds: int


def plan(quick: bool) -> Plan:
    """Quick: two short jobs; full: 10 min to 24 h. 240x faster: the 24 h job runs 6 min, and a read's few
    milliseconds count as about a second of a model job, small against the shortest wait (5 s)."""
    if quick:
        return Plan(scale=240.0, durations=[600.0, HOUR], end_phase_rounds=1)
    return Plan(scale=240.0, durations=[600.0, HOUR, 6 * HOUR, 24 * HOUR], end_phase_rounds=3)


# --- the deployment: metadata DB, connections, receiver -------------------------------------------------------


def prepare_airflow(folder: str, urls: dict[str, str], receiver: str) -> None:
    """An Airflow home with a SQLite metadata DB, and the three connections, before Airflow is imported."""
    os.environ.update(
        {
            "AIRFLOW_HOME": folder,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{folder}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            # Variable.get in this process reads the metadata DB, as a triggerer's Execution API does
            "_AIRFLOW_PROCESS_CONTEXT": "server",
        }
    )
    for variant, conn_id in CONNECTIONS.items():
        extra = {"backend": "gemini", **({"webhook_url": receiver} if variant == "on" else {})}
        connection = {"conn_type": "genai_batch", "host": urls[variant], "password": API_KEY, "extra": extra}
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)
    from airflow.utils.db import initdb

    initdb()


def free_port() -> int:
    """A free loopback port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_receiver(port: int, jwks_url: str) -> Iterator[None]:
    """The webhook receiver app under uvicorn on ``port``, in a thread, verifying with the emulator's JWK set."""
    import uvicorn

    from airflow_provider_genai_batch.webhooks.receiver import ReceiverConfig, create_app

    app = create_app(config=ReceiverConfig(jwks_url=jwks_url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the receiver did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- the three waits ------------------------------------------------------------------------------------------


def create_job(variant: str) -> str:
    """A job created as the create operator creates it (the webhook config is added for ``on``)."""
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    hook = GenAIBatchHook(genai_batch_conn_id=CONNECTIONS[variant])
    job = hook.create_prepared(hook.prepare_create(model=MODEL, src=["a", "b"]))
    assert job.name
    return job.name


async def trigger_wait(variant: str, name: str, *, started_at: float, scale: float) -> float:
    """Our trigger's wait with the default wait settings, its schedule scaled, armed as the create operator arms
    it for ``on``; the time its terminal event came."""
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from airflow_provider_genai_batch.policy.wait_settings import CREATE_WAIT
    from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger
    from airflow_provider_genai_batch.webhooks.config import receiver_armed

    settings = await GenAIBatchHook(genai_batch_conn_id=CONNECTIONS[variant]).aget_settings()
    trigger = GenAIBatchJobTrigger(
        genai_batch_conn_id=CONNECTIONS[variant],
        job_name=name,
        deadline=time.time() + 2 * 24 * HOUR,
        started_at=started_at,
        poll_interval=CREATE_WAIT.poll_interval / scale,
        min_poll_interval=CREATE_WAIT.min_poll_interval / scale,
        webhook_fallback_interval=CREATE_WAIT.webhook_fallback_interval / scale,
        webhook_armed=receiver_armed(settings, None),
    )
    event = await anext(trigger.run())
    if event.payload["status"] != "success":
        raise RuntimeError(f"{variant}: the trigger ended with {event.payload}")
    return time.time()


async def fixed_wait(name: str, *, scale: float) -> float:
    """The anchor: read, sleep 30 s (scaled), until the job ends; the time it saw the end."""
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    hook = GenAIBatchHook(genai_batch_conn_id=CONNECTIONS["fixed"])
    while True:
        job = await hook.aget_job(name)
        if job.state.is_terminal:
            return time.time()
        await asyncio.sleep(FIXED_INTERVAL / scale)


async def end_at(emulator: EmulatorProcess, name: str, at: float) -> float:
    """End the job at ``at`` (epoch seconds); the time just before the emulator was told (the job's end, so the
    control call's own time counts as lag)."""
    await asyncio.sleep(max(0.0, at - time.time()))
    ended = time.time()
    await asyncio.to_thread(emulator.control.finish_job, name, "SUCCEEDED")
    return ended


def job_reads(emulator: EmulatorProcess) -> int:
    """The emulator's count of job reads so far."""
    return int(emulator.control.stats()["requests"].get("gemini.batches.get", 0))


@dataclass
class Outcome:
    """One wait: model seconds from the job's end to the wait's event, and its job reads."""

    lag: float
    calls: int


async def whole_job(emulators: dict[str, EmulatorProcess], duration: float, scale: float) -> dict[str, Outcome]:
    """The three variants side by side on a job of ``duration`` model seconds, run ``scale`` times faster."""
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    names = {variant: await asyncio.to_thread(create_job, variant) for variant in CONNECTIONS}
    for variant, name in names.items():  # warm: this loop's client exists before the clock starts
        await GenAIBatchHook(genai_batch_conn_id=CONNECTIONS[variant]).aget_job(name)
    before = {variant: await asyncio.to_thread(job_reads, emulators[variant]) for variant in CONNECTIONS}
    started = time.time()
    waits: dict[str, Awaitable[float]] = {
        "on": trigger_wait("on", names["on"], started_at=started, scale=scale),
        "off": trigger_wait("off", names["off"], started_at=started, scale=scale),
        "fixed": fixed_wait(names["fixed"], scale=scale),
    }
    ends = [end_at(emulators[v], names[v], started + duration / scale) for v in CONNECTIONS]
    results = await asyncio.gather(*waits.values(), *ends)
    seen, ended = results[: len(waits)], results[len(waits) :]
    outcomes = {}
    for variant, seen_at, ended_at in zip(CONNECTIONS, seen, ended, strict=True):
        calls = await asyncio.to_thread(job_reads, emulators[variant]) - before[variant]
        outcomes[variant] = Outcome(lag=(seen_at - ended_at) * scale, calls=calls)
    return outcomes


async def end_phase(
    emulator: EmulatorProcess, durations: list[float], rounds: int
) -> tuple[list[tuple[float, float]], int]:
    """Real-time webhook lags at the end of jobs of each duration: ((duration, lag) per wait, job reads)."""
    rng = random.Random(25)
    jobs = [(duration, await asyncio.to_thread(create_job, "on")) for duration in durations for _ in range(rounds)]
    before = await asyncio.to_thread(job_reads, emulator)
    now = time.time()
    # each job ends 3 to 6 s after its wait starts: a different phase of the watcher's 2 s round each time
    ends_in = [3.0 + 3.0 * rng.random() for _ in jobs]
    waits = [
        trigger_wait("on", name, started_at=now - (duration - end), scale=1.0)
        for (duration, name), end in zip(jobs, ends_in, strict=True)
    ]
    ends = [end_at(emulator, name, now + end) for (_, name), end in zip(jobs, ends_in, strict=True)]
    results = await asyncio.gather(*waits, *ends)
    seen, ended = results[: len(jobs)], results[len(jobs) :]
    reads = await asyncio.to_thread(job_reads, emulator) - before
    lags = [(duration, s - e) for (duration, _), s, e in zip(jobs, seen, ended, strict=True)]
    return lags, reads


def delivery_answers(emulator: EmulatorProcess) -> list[int]:
    """How the receiver answered each delivery the emulator sent."""
    import httpx

    answer = httpx.get(f"{emulator.base_url}/_emulator/webhooks/deliveries", timeout=30)
    return [int(d.get("status") or 0) for d in answer.json()["deliveries"]]


# --- the section ----------------------------------------------------------------------------------------------


def _hours(seconds: float) -> str:
    return f"{seconds / HOUR:g} h" if seconds >= HOUR else f"{seconds / 60:g} min"


def run(quick: bool) -> Section:
    """Both phases in one event loop; figures with the anchors measured in the same run."""
    quiet_http_logs()
    sizes = plan(quick)
    port = free_port()
    receiver = f"http://127.0.0.1:{port}/deliveries"
    with (
        tempfile.TemporaryDirectory(prefix="bench-webhooks-") as folder,
        EmulatorProcess(job_seconds=10 * 24 * HOUR) as on,
        EmulatorProcess(job_seconds=10 * 24 * HOUR) as off,
        EmulatorProcess(job_seconds=10 * 24 * HOUR) as fixed,
    ):
        emulators = {"on": on, "off": off, "fixed": fixed}
        prepare_airflow(folder, {v: e.base_url for v, e in emulators.items()}, receiver)
        with serve_receiver(port, f"{on.base_url}/.well-known/jwks.json"):
            whole, (ends, end_reads) = asyncio.run(_measure(emulators, sizes))
            answers = delivery_answers(on)
    return section(sizes, whole, ends, end_reads, answers)


async def _measure(
    emulators: dict[str, EmulatorProcess], sizes: Plan
) -> tuple[dict[float, dict[str, Outcome]], tuple[list[tuple[float, float]], int]]:
    from airflow_provider_genai_batch.hooks import client_cache

    try:
        whole = {d: await whole_job(emulators, d, sizes.scale) for d in sizes.durations}
        ends = await end_phase(emulators["on"], sizes.durations, sizes.end_phase_rounds)
    finally:
        await client_cache.close_loop_clients()
    return whole, ends


def _per_job(duration: float, outcome: dict[str, Outcome], lags: list[float]) -> str:
    return (
        f"{_hours(duration)}: lag on {', '.join(fmt(lag) for lag in lags)} s, off {fmt(outcome['off'].lag)} s, "
        f"fixed {fmt(outcome['fixed'].lag)} s; calls on {outcome['on'].calls}, off {outcome['off'].calls}, "
        f"fixed {outcome['fixed'].calls}"
    )


def section(
    sizes: Plan,
    whole: dict[float, dict[str, Outcome]],
    ends: list[tuple[float, float]],
    end_reads: int,
    answers: list[int],
) -> Section:
    """The figures: lag with webhooks against both polling variants; calls per job against both."""
    durations = sizes.durations
    lags = [lag for _, lag in ends]
    end_waits = len(ends)
    span = f"{_hours(durations[0])} to {_hours(durations[-1])} jobs"
    off_lags = [whole[d]["off"].lag for d in durations]
    fixed_lags = [whole[d]["fixed"].lag for d in durations]
    calls = {v: [float(whole[d][v].calls) for d in durations] for v in CONNECTIONS}
    worst = max(lags)
    # the end falls between two polls; scaled timing can move one poll to either side of it, so one read of
    # difference on a job is noise, and the median ratio is the verdict
    calls_ratio = sorted(on / off for on, off in zip(calls["on"], calls["off"], strict=True))
    calls_ok = calls_ratio[len(calls_ratio) // 2] <= 1.0 and all(
        on <= off + 1 for on, off in zip(calls["on"], calls["off"], strict=True)
    )
    figures = [
        Figure(
            f"completion lag, webhooks on ({len(lags)} waits, {span})",
            "s",
            lags,
            LABELS["fixed"],
            fixed_lags,
            target=f"≤ {LAG_TARGET:g} s, every wait",
            met=worst <= LAG_TARGET,
            paired=False,
        ),
        Figure(
            f"completion lag, webhooks on ({len(lags)} waits, {span})",
            "s",
            lags,
            LABELS["off"],
            off_lags,
            paired=False,
        ),
        Figure(f"completion lag, webhooks off ({span})", "s", off_lags, LABELS["fixed"], fixed_lags),
        Figure(
            f"API calls per job, webhooks on ({span})",
            "calls",
            calls["on"],
            LABELS["off"],
            calls["off"],
            target="ratio ≤ 1 (and ≤ webhooks off + 1 on every job)",
            met=calls_ok,
        ),
        Figure(f"API calls per job, webhooks on ({span})", "calls", calls["on"], LABELS["fixed"], calls["fixed"]),
    ]
    for index, d in enumerate(durations):
        figures.append(
            Figure(
                f"API calls, {_hours(d)} job, webhooks on",
                "calls",
                [calls["on"][index]],
                LABELS["fixed"],
                [calls["fixed"][index]],
            )
        )
    figures.append(
        Figure(
            "job reads per wait at the end of a job, webhooks on (the first read, then the one the delivery caused)",
            "reads",
            [end_reads / end_waits],
            target="2",
            met=end_reads == 2 * end_waits,
        )
    )
    notes = [
        "Per job: " + "; ".join(_per_job(d, whole[d], [lag for dd, lag in ends if dd == d]) for d in durations) + ".",
        f"Deliveries the emulator sent and the receiver's answers: {len(answers)} sent, "
        f"{sum(1 for a in answers if a == 202)} accepted (202), {sum(1 for a in answers if a != 202)} other.",
        "With webhooks on, the trigger is armed (the job names the receiver): polling is only the fallback for a "
        "lost delivery, every `webhook_fallback_interval` (30 min by default) or at the deadline, and the delivery "
        "ends the wait; so a job costs its first read, one fallback poll per 30 min it runs, and the read the "
        "delivery causes.",
    ]
    if worst > LAG_TARGET:
        notes.insert(0, f"MISSED: a wait with webhooks ended {fmt(worst)} s after its job (target ≤ {LAG_TARGET:g} s).")
    if not calls_ok:
        notes.insert(0, "MISSED: webhooks on made more calls than webhooks off.")
    return Section(
        key="webhooks",
        title="10. Webhooks: completion lag and API calls per job, against adaptive and fixed 30 s polling",
        method=(
            "Three waits side by side in one event loop, each on its own emulator (its own process): our "
            "`GenAIBatchJobTrigger` on a connection with `webhook_url` naming a real receiver "
            "(`webhooks.receiver.create_app` under uvicorn, recording in a SQLite metadata DB; the emulator sends "
            "signed dynamic deliveries as Google does, and the trigger's watcher reads the record as on a "
            "triggerer; armed as the create operator arms it, so it polls only as the fallback, every "
            "`webhook_fallback_interval`, 30 min by default); the same trigger without `webhook_url` (our adaptive "
            "polling, webhooks off); and "
            f"`hook.aget_job` every {FIXED_INTERVAL:g} s (the Google provider's default pattern). Two phases in the "
            f"same run. (1) Whole {span}, run {sizes.scale:g}x faster (job lengths and polling schedules "
            f"alike), each ended with the emulator's `finish_job` at its scaled end: calls per job are the "
            f"emulator's job reads, polling lags are real lags x {sizes.scale:g}. The webhook's own path cannot be "
            "scaled (with webhooks on, the delivery wakes the wait a second or two of real time after the end); a "
            "wait pays one read after the end either way, so the calls are those of a real run. (2) The end of each "
            f"job in real time, {sizes.end_phase_rounds} per length: the trigger starts with `started_at` that far "
            "in the past (so its next poll is 30 min away, as at the end of such a job with webhooks armed) and the "
            "job ends 3 to 6 s later; the "
            "lag is job end to the trigger's event, real seconds (delivery, verification, record, the watcher's "
            "2 s round, the read)."
        ),
        figures=figures,
        notes=notes,
    )


if __name__ == "__main__":
    benchmark_main(run)
