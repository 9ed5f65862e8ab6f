"""``make demo`` keeps working: the script runs the inline example DAG through Airflow against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_script_shows_the_jobs_life_and_results() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GENAI_BATCH"))}
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    out = completed.stdout
    assert completed.returncode == 0, out[-3000:] + completed.stderr[-3000:]
    assert "jobs created on the server: 1" in out
    assert "PENDING -> RUNNING" in out and "SUCCEEDED" in out
    assert "sum: echo: What is 17 + 25? Answer with the number only." in out
    assert "demo-key-not-a-secret" not in out
