"""The pages' own scripts, run in Node (``tests/ui/render.js``) on API answers: what they show."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import airflow_provider_genai_batch.ui as ui_package

STATIC = Path(ui_package.__file__).parent / "static"
RENDER = Path(__file__).parent / "render.js"


def render(page: str, answers: dict[str, Any], static: Path = STATIC) -> dict[str, str]:
    """Each element with an id, as HTML, after the page's script ran on ``answers``."""
    out = subprocess.run(
        ["node", str(RENDER), page, str(static)],
        input=json.dumps({"answers": answers}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, str] = json.loads(out.stdout)
    return result


def test_the_dashboard_card_counts_cancelled_jobs() -> None:
    counts = {"running": 1, "succeeded": 2, "failed": 0, "expired": 0, "cancelled": 3, "other": 0}
    cards = render("card", {"/api/summary": {"window_hours": 24, "counts": counts}})["cards"]
    assert '<div data-count="cancelled"><b>3</b>cancelled</div>' in cards
    assert '<div data-count="succeeded"><b>2</b>succeeded</div>' in cards


def test_an_unverified_job_shows_why_and_offers_no_cancel() -> None:
    row = {
        "job_name": "batches/other",
        "verified": False,
        "verify_reason": "the job does not carry this task's idempotency key",
        "state": "UNVERIFIED",
        "progress": {},
        "console_url": None,
        "can_cancel": True,
    }
    page = render("ti", {"/api/ti": row})
    assert "not carry this task" in page["details"] and "hidden" in page["cancel"]
