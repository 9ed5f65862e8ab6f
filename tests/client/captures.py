"""Read the official SDK's captured wire logs (``../shared/reference/captures``) as test vectors."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "captures"
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
