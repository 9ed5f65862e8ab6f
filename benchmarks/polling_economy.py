"""6. Polling economy: API calls per job and detection delay under the shared polling policy.

A simulated clock drives ``policy.polling.decide`` as the trigger and the worker loop do: poll at 0, then after each
"wait N s" decision, until the first poll at or after the completion time. Completion times sweep from 10 s to
24 h. The anchors are the fixed intervals the other providers' batch operators default to, read from their
installed signatures.

    .bench-venv/bin/python -m benchmarks.polling_economy [--quick]
"""

from __future__ import annotations

import inspect
import math

from benchmarks.common import Figure, Section, benchmark_main, fmt

DAY = 86_400.0
CALLS_TARGET = 300
DETECTION_FLOOR_SECONDS = 60.0
DETECTION_FRACTION = 0.05


def simulate(completes_at: float, max_interval: float, min_interval: float) -> tuple[int, float]:
    """(polls made, seconds from completion to the poll that saw it) for a job ending at ``completes_at``."""
    from airflow_provider_genai_batch.policy.polling import DecisionKind, PollingSchedule, decide

    schedule = PollingSchedule(min_interval=min_interval, max_interval=max_interval)
    now, polls = 0.0, 0
    while True:
        polls += 1
        state = "JOB_STATE_SUCCEEDED" if now >= completes_at else "JOB_STATE_RUNNING"
        decision = decide(state, now, False, schedule=schedule)
        if decision.kind is not DecisionKind.WAIT:
            return polls, now - completes_at
        now += decision.wait_seconds


def completion_times(points: int) -> list[float]:
    """Log-spaced completion times from 10 s to 24 h, with 24 h itself."""
    low, high = math.log(10.0), math.log(DAY)
    return [math.exp(low + (high - low) * i / (points - 1)) for i in range(points)]


def anchor_intervals() -> dict[str, float]:
    """Default poll intervals of the anchors' batch operators (seconds), from their installed code."""
    found: dict[str, float] = {}
    candidates = (
        (
            "Google `GenAIGeminiCreateBatchJobOperator`",
            "airflow.providers.google.cloud.operators.gen_ai",
            "GenAIGeminiCreateBatchJobOperator",
            "polling_interval",
        ),
        (
            "Anthropic `AnthropicBatchOperator`",
            "airflow.providers.anthropic.operators.batch",
            "AnthropicBatchOperator",
            "poll_interval",
        ),
        (
            "OpenAI `OpenAITriggerBatchOperator`",
            "airflow.providers.openai.operators.openai",
            "OpenAITriggerBatchOperator",
            "poll_interval",
        ),
    )
    for label, module_name, class_name, parameter in candidates:
        try:
            module = __import__(module_name, fromlist=[class_name])
        except ImportError:
            continue
        default = inspect.signature(getattr(module, class_name).__init__).parameters[parameter].default
        found[label] = float(default)
    return found


def run(quick: bool) -> Section:
    """Sweep completion times under our defaults; compare calls per job-day with the anchors' fixed intervals."""
    from airflow_provider_genai_batch.policy.defaults import DEFAULT_MIN_POLL_INTERVAL, DEFAULT_POLL_INTERVAL

    min_interval = DEFAULT_MIN_POLL_INTERVAL
    times = completion_times(60 if quick else 2_000)
    results = [(at, *simulate(at, DEFAULT_POLL_INTERVAL, min_interval)) for at in times]
    calls_day, _ = simulate(DAY, DEFAULT_POLL_INTERVAL, min_interval)
    allowed = [max(DETECTION_FLOOR_SECONDS, DETECTION_FRACTION * at) for at, _, _ in results]
    worst_share = max(delay / limit for (_, _, delay), limit in zip(results, allowed, strict=True))
    worst_at, _, worst_delay = max(
        results, key=lambda r: r[2] / max(DETECTION_FLOOR_SECONDS, DETECTION_FRACTION * r[0])
    )
    figures: list[Figure] = []
    for label, interval in anchor_intervals().items():
        figures.append(
            Figure(
                "API calls for a job that runs 24 h",
                "calls",
                [float(calls_day)],
                f"{label}: every {interval:g} s",
                [DAY / interval + 1],
                f"≤ {CALLS_TARGET}" if not figures else "",
                calls_day <= CALLS_TARGET if not figures else None,
                paired=False,
            )
        )
    if not figures:
        figures.append(
            Figure(
                "API calls for a job that runs 24 h",
                "calls",
                [float(calls_day)],
                target=f"≤ {CALLS_TARGET}",
                met=calls_day <= CALLS_TARGET,
            )
        )
    figures += [
        Figure(
            "worst detection delay ÷ allowance, over the sweep",
            "",
            [worst_share],
            target=f"≤ 1 (allowance: max({DETECTION_FLOOR_SECONDS:g} s, {DETECTION_FRACTION:.0%} of elapsed))",
            met=worst_share <= 1.0,
        ),
        Figure(
            "worst detection delay, jobs ending within the first hour",
            "s",
            [max(d for at, _, d in results if at <= 3600)],
        ),
        Figure("worst detection delay, jobs ending after 12 h", "s", [max(d for at, _, d in results if at >= DAY / 2)]),
        Figure(
            "API calls, job ending at 1 h", "calls", [float(simulate(3600, DEFAULT_POLL_INTERVAL, min_interval)[0])]
        ),
    ]
    notes = [
        f"Worst case over {len(times):,} completion times: a job ending at {fmt(worst_at)} s is seen "
        f"{fmt(worst_delay)} s later ({worst_share:.0%} of its allowance).",
    ]
    if calls_day > CALLS_TARGET:
        notes.insert(0, f"MISSED: {calls_day} calls for a 24 h job (target ≤ {CALLS_TARGET}).")
    if worst_share > 1:
        notes.insert(0, f"MISSED: detection delay reaches {worst_share:.0%} of its allowance.")
    return Section(
        key="polling_economy",
        title="6. Polling economy: a simulated 24 h job under the shared polling policy",
        method=(
            "`policy.polling.decide` driven by a simulated clock with the operators' defaults (first wait "
            f"{min_interval:g} s, waits of 5 % of the elapsed time, at most {DEFAULT_POLL_INTERVAL:g} s): poll at 0, "
            f"wait as decided, until the first poll after completion; {len(times):,} completion times, log-spaced "
            "from 10 s to 24 h. Deterministic, so one run; the anchors poll at a fixed interval (their operators' "
            "defaults), which costs 86,400 ÷ interval calls a day and detects within one interval."
        ),
        figures=figures,
        notes=notes,
    )


if __name__ == "__main__":
    benchmark_main(run)
