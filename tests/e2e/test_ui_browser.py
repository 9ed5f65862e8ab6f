"""The UI plugin in a real browser (Debian's headless Chromium driven by Playwright) on the real deployment.

The task-instance tab of a deferred job shows its progress bar advancing until SUCCEEDED; the jobs page filters;
the cancel button of a second job cancels it in the emulator. ``UI_SCREENSHOTS=<dir>`` also saves the README's
screenshots (light and dark) there.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from scripts.local_airflow import LocalAirflow
from tests.e2e.support import PROMPTS, VERTEX_SOURCE, find_secrets, wait_until

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = os.environ.get("UI_SCREENSHOTS")
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian's package (``make e2e`` installs it), never a downloaded one."""
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make chromium` (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def _page(browser: Any, airflow: LocalAirflow, dark: bool = False) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 760}, color_scheme="dark" if dark else "light")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(airflow.base_url + "/", wait_until="networkidle")  # signs in (all-admins local deployment)
    return page


def _task_tab(airflow: LocalAirflow, dag_id: str, run_id: str, task_id: str) -> str:
    return f"{airflow.base_url}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}/plugin/genai-batch-job"


def _frame(page: Any) -> Any:
    return page.frame_locator("iframe[src*='/genai-batch/']")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def _scan_plugin_responses(page: Any, airflow: LocalAirflow, ti_query: str) -> None:
    """Every plugin page, asset and endpoint, fetched with the browser's session: no secret in headers or body."""
    paths = [
        "jobs",
        "card",
        f"ti?{ti_query}",
        "static/ui.js",
        "static/ui.css",
        "static/card.js",
        "api/jobs",
        "api/summary",
        f"api/ti?{ti_query}",
    ]
    for path in paths:
        response = page.request.get(f"{airflow.base_url}/genai-batch/{path}")
        assert response.status == 200, (path, response.status)
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        assert not find_secrets(headers + response.text()), path
    for frame in page.frames:
        assert not find_secrets(frame.content()), frame.url


def test_task_tab_shows_progress_until_succeeded_then_jobs_page_filters(
    airflow: LocalAirflow, emulators: dict[str, EmulatorClient], browser: Any
) -> None:
    bucket, _, name = VERTEX_SOURCE.removeprefix("gs://").partition("/")
    lines = "".join(
        json.dumps({"key": p["metadata"]["key"], "request": {"contents": p["contents"]}}) + "\n" for p in PROMPTS
    )
    emulators["default"].put_object(bucket, name, lines.encode(), "application/jsonl")  # the run's Vertex AI task
    emulators["default"].configure(job_seconds=24.0, pending_seconds=1.0)
    try:
        run_id = airflow.trigger_dag("e2e_deferrable")
        airflow.wait_for_task_state("e2e_deferrable", run_id, "gemini_job", {"deferred"}, timeout=120)
    finally:
        emulators["default"].configure(job_seconds=9.0, pending_seconds=1.0)
    page = _page(browser, airflow)
    page.goto(_task_tab(airflow, "e2e_deferrable", run_id, "gemini_job"))
    frame = _frame(page)
    bar = frame.locator("[role=progressbar]")
    bar.wait_for(timeout=60_000)
    seen: list[int] = []
    polls: set[str] = set()
    state = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = frame.locator("#state [data-state]").get_attribute("data-state") or ""
        done = int(bar.get_attribute("aria-valuenow") or 0)
        polls.add(frame.locator("[data-field='Next poll']").inner_text())
        if not seen or seen[-1] != done:
            seen.append(done)
        if len(seen) == 2 and state == "RUNNING":
            _shot(page, "ui-task-view")
        if state in TERMINAL:
            break
        page.wait_for_timeout(500)
    assert state == "SUCCEEDED", f"state {state}, progress seen {seen}"
    assert seen == sorted(seen) and len(seen) >= 2 and seen[0] < seen[-1] == 2, seen
    assert any(text.startswith("in ") for text in polls), polls  # the wait until the trigger's next poll
    assert "Next poll" in frame.locator("#details").inner_text()
    assert frame.locator("[data-field='Idempotency key']").inner_text().strip() not in ("", "–")

    page.goto(airflow.base_url + "/plugin/genai-batch-jobs")
    jobs = _frame(page)
    jobs.locator("#rows tr").first.wait_for(timeout=60_000)
    jobs.locator("#dag_id").select_option("e2e_deferrable")
    page.wait_for_timeout(300)
    wait_until(lambda: jobs.locator("#rows tr").count() > 0 or None, 30, "the filtered rows")
    owners = jobs.locator("#rows tr td:nth-child(4)").all_inner_texts()
    assert owners and all(owner.startswith("e2e_deferrable / ") for owner in owners), owners
    jobs.locator("#state").select_option("SUCCEEDED")
    wait_until(
        lambda: all(s == "SUCCEEDED" for s in jobs.locator("#rows [data-state]").all_inner_texts()) or None,
        30,
        "the state filter",
    )
    jobs.locator("#state").select_option("")
    jobs.locator("#dag_id").select_option("")
    page.wait_for_timeout(500)
    _shot(page, "ui-jobs-page")
    _scan_plugin_responses(page, airflow, f"dag_id=e2e_deferrable&run_id={quote(run_id)}&task_id=gemini_job")
    page.goto(airflow.base_url + "/")  # the dashboard card (a React plugin) with the day's counts
    card = page.frame_locator("iframe[src*='/genai-batch/card']")
    card.locator("[data-count=succeeded]").wait_for(timeout=60_000)
    assert int(card.locator("[data-count=succeeded] b").inner_text()) >= 1
    _shot(page, "ui-dashboard-card")
    if SHOTS:
        dark = _page(browser, airflow, dark=True)
        dark.goto(airflow.base_url + "/plugin/genai-batch-jobs")
        _frame(dark).locator("#rows tr").first.wait_for(timeout=60_000)
        _shot(dark, "ui-jobs-page-dark")


def test_cancel_button_cancels_the_job_in_the_emulator(
    airflow: LocalAirflow, emulators: dict[str, EmulatorClient], browser: Any
) -> None:
    emulator = emulators["on_kill"]  # 900 s jobs: the job is still running when the button is pressed
    before = len(emulator.stats()["jobs"])
    run_id = airflow.trigger_dag("e2e_on_kill")
    airflow.wait_for_task_state("e2e_on_kill", run_id, "job", {"deferred"}, timeout=120)
    page = _page(browser, airflow)
    page.goto(_task_tab(airflow, "e2e_on_kill", run_id, "job"))
    frame = _frame(page)
    button = frame.locator("#cancel")
    button.wait_for(state="visible", timeout=60_000)
    assert button.is_enabled()
    button.click()
    assert "again" in button.inner_text()
    button.click()
    frame.locator("#state [data-state='CANCELLED']").wait_for(timeout=60_000)
    job = emulator.stats()["jobs"][before]
    assert job["state"] == "JOB_STATE_CANCELLED"
    airflow.wait_for_task_state("e2e_on_kill", run_id, "job", {"failed"}, timeout=120)
    _scan_plugin_responses(page, airflow, f"dag_id=e2e_on_kill&run_id={quote(run_id)}&task_id=job")
