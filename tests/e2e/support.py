"""Constants and helpers shared by the end-to-end tests (the fixtures are in ``conftest.py``)."""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from packaging.version import Version

#: The Gemini API key of every e2e connection: fake, but recognisable in any log, table or XCom.
API_KEY = "AIzaSy-E2E-SECRET-0123456789abcdef"
#: The static Vertex AI access token of ``genai_batch_vertex``.
VERTEX_TOKEN = "ya29.E2E-SECRET-TOKEN-fedcba9876543210"
#: A substring of both secrets: catches a truncated or partly masked leak too.
SECRET_MARKER = "E2E-SECRET"
SECRETS = (API_KEY, VERTEX_TOKEN, SECRET_MARKER)

VERTEX_PROJECT = "e2e-project"
#: The requests of every Gemini scenario job.
PROMPTS: list[dict[str, Any]] = [
    {"contents": [{"role": "user", "parts": [{"text": "e2e prompt one"}]}], "metadata": {"key": "one"}},
    {"contents": [{"role": "user", "parts": [{"text": "e2e prompt two"}]}], "metadata": {"key": "two"}},
]
#: The GCS object the Vertex AI task reads (put into the emulator before the run).
VERTEX_SOURCE = "gs://e2e-bucket/inputs/requests.jsonl"
VERTEX_LOCATION = "us-central1"
DAGS_FOLDER = Path(__file__).parent / "dags"
REPO_ROOT = Path(__file__).resolve().parents[2]
TRIGGER_CLASSPATH = "airflow_provider_genai_batch.triggers.genai_batch.GenAIBatchJobTrigger"
AIRFLOW_VERSION = Version(importlib.metadata.version("apache-airflow"))
AIRFLOW_3_3_PLUS = Version("3.3.0") <= AIRFLOW_VERSION

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something truthy, at most ``timeout`` seconds; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def jobs_created(stats: Mapping[str, Any]) -> int:
    """Jobs created, from an emulator's ``stats()`` (an int, or a per-backend dict in older emulators)."""
    value = stats["jobs_created"]
    return int(value["total"]) if isinstance(value, dict) else int(value)


def cancels(stats: Mapping[str, Any]) -> int:
    """Cancel calls that took effect, all backends."""
    value = stats["cancels"]
    return sum(int(v) for v in value.values()) if isinstance(value, dict) else int(value)


def find_secrets(text: str) -> list[str]:
    """Which of ``SECRETS`` occur in ``text``."""
    return [secret for secret in SECRETS if secret in text]


def hits_with_context(text: str, width: int = 120) -> list[str]:
    """Each occurrence of a secret with some text around it, for a readable assertion message."""
    found: list[str] = []
    for secret in SECRETS:
        start = text.find(secret)
        while start != -1 and len(found) < 20:
            found.append(text[max(0, start - width) : start + len(secret) + width])
            start = text.find(secret, start + 1)
    return found
