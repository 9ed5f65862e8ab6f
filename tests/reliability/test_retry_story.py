"""The retry story: the worst-case time before each layer gives up, computed from the real settings objects,
must match the figures docs/ARCHITECTURE.md states (section "Retries, composed")."""

from __future__ import annotations

import re
from pathlib import Path

from airflow_provider_genai_batch.client.plans import MAX_UPLOAD_RESUMES
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.transport import RetryPolicy
from airflow_provider_genai_batch.operators._submission import AMBIGUOUS_LOOKUP_DELAYS
from airflow_provider_genai_batch.policy.polling import PollingSchedule
from airflow_provider_genai_batch.policy.progress import PollErrorBudget

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"


def call_seconds(settings: ClientSettings, *, retry_after: bool) -> float:
    """One client call: every attempt waits a full read timeout, every retry sleeps its longest delay."""
    policy = RetryPolicy.from_settings(settings)
    attempts = policy.max_retries + 1
    if retry_after:  # the server asks for the longest wait the client accepts, every time
        sleeps = policy.max_retries * policy.max_retry_after
    else:
        sleeps = sum(min(policy.max_delay, policy.initial_delay * 2.0**k) for k in range(policy.max_retries))
    return attempts * max(settings.timeout, settings.connect_timeout) + sleeps


def poll_give_up_seconds(call: float, max_consecutive_poll_errors: int = 5) -> float:
    """The worker loop or trigger: ``max_consecutive_poll_errors`` failed calls, backing off between them."""
    budget = PollErrorBudget.for_schedule(PollingSchedule(), max_consecutive_poll_errors)
    backoffs = 0.0
    for _ in range(max_consecutive_poll_errors - 1):
        budget.record(transient=True)
        backoffs += budget.backoff_seconds()
    return max_consecutive_poll_errors * call + backoffs


def upload_give_up_seconds(call: float) -> float:
    """A resumable upload: each resume is a failed chunk, a back-off and a status query; then one last failure."""
    backoffs = sum(min(0.5 * 2**k, 30.0) for k in range(MAX_UPLOAD_RESUMES))
    return (2 * MAX_UPLOAD_RESUMES + 1) * call + backoffs


def ambiguous_create_give_up_seconds(call: float) -> float:
    """After a create that may have been applied: each look-up fails on its first list page."""
    return len(AMBIGUOUS_LOOKUP_DELAYS) * call + sum(AMBIGUOUS_LOOKUP_DELAYS)


def figures() -> dict[str, int]:
    settings = ClientSettings(backend="gemini", api_key="k")
    out: dict[str, int] = {}
    for label, retry_after in (("plain", False), ("retry-after", True)):
        call = call_seconds(settings, retry_after=retry_after)
        out[f"call/{label}"] = round(call)
        out[f"poll/{label}"] = round(poll_give_up_seconds(call))
        out[f"upload/{label}"] = round(upload_give_up_seconds(call))
        out[f"create/{label}"] = round(ambiguous_create_give_up_seconds(call))
    return out


def test_the_documented_worst_cases_are_the_settings() -> None:
    text = ARCHITECTURE.read_text()
    documented = {
        f"{layer}/{label}": int(value)
        for layer, plain, retry_after in re.findall(r"\|\s*`(\w+)`[^|]*\|[^|]*\|\s*(\d+) s[^|]*\|\s*(\d+) s", text)
        for label, value in (("plain", plain), ("retry-after", retry_after))
    }
    assert documented == figures()


def test_the_layers_only_add_up() -> None:
    """No layer retries another's give-up: the poll budget counts calls that already spent their retries."""
    f = figures()
    assert f["call/plain"] < f["poll/plain"] < f["upload/plain"]
    assert f["call/retry-after"] > f["call/plain"]
