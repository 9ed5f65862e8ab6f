"""Read the official SDK's captured wire logs (``sdk_captures/`` beside this file) as test vectors.

The logs were recorded by driving google-genai 2.25.0 and 3.3.0 against a plain HTTP recorder on loopback (every
verb of ``client.batches`` and ``client.files`` on both backends, API key and token auth) and printing each request's
method, path, headers and JSON body under a ``##### scenario`` title. They are fixtures: the tests never need
anything outside the repository. The differential tests in ``test_sdk_parity*.py`` regenerate bodies from the
installed SDK instead, so these logs pin only what needs no SDK run (paths, headers, simple verbs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CAPTURES = Path(__file__).resolve().parent / "sdk_captures"
_REQUEST_LINE = re.compile(r"^(GET|POST|PUT|DELETE|PATCH) (\S+)$")


@dataclass
class CapturedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def load(log_name: str, replace: dict[str, str] | None = None) -> dict[str, list[CapturedRequest]]:
    """Scenario title -> the requests the SDK sent for it (``replace``: text substitutions first)."""
    text = (CAPTURES / log_name).read_text()
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    scenarios: dict[str, list[CapturedRequest]] = {}
    current: list[CapturedRequest] = []
    decoder = json.JSONDecoder()
    lines = text.splitlines(keepends=True)
    position = 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("##### "):
            current = scenarios.setdefault(stripped[6:], [])
        elif match := _REQUEST_LINE.match(stripped):
            current.append(CapturedRequest(match.group(1), match.group(2), {}, None))
        elif stripped.startswith("headers: ") and current:
            current[-1].headers = json.loads(stripped[len("headers: ") :])
        elif stripped.startswith("body: ") and current:
            start = text.index("body: ", position) + len("body: ")
            try:
                current[-1].body, _ = decoder.raw_decode(text, start)
            except ValueError:
                current[-1].body = None
        position += len(line)
    return scenarios
