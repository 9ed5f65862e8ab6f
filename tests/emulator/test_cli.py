"""The ``genai-batch-emulator`` command: prints its URL first, serves, stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def _start(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


@pytest.mark.parametrize(
    ("command", "stop"),
    [
        ([sys.executable, "-m", "airflow_provider_genai_batch.emulator"], signal.SIGTERM),
        ([str(Path(sys.executable).with_name("genai-batch-emulator"))], signal.SIGINT),
    ],
    ids=["python-m", "console-script"],
)
def test_cli_prints_its_url_first_and_serves(command: list[str], stop: signal.Signals) -> None:
    if not Path(command[0]).exists():
        pytest.skip("the console script is not installed in this environment")
    process, url = _start([*command, "--port", "0", "--api-key", "cli-key", "--job-seconds", "0.1", "--keep-order"])
    try:
        assert url.startswith("http://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
        response = httpx.get(f"{url}/v1/batches", headers={"x-goog-api-key": "cli-key"}, timeout=10)
        assert response.status_code == 200 and response.json() == {}
        config = httpx.get(f"{url}/_emulator/config", timeout=10).json()
        assert config["job_seconds"] == 0.1 and config["shuffle_results"] is False
    finally:
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "genai.Client(api_key='cli-key'" in stderr


def test_cli_rejects_bad_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_genai_batch.emulator", "--job-seconds", "-1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "job_seconds" in result.stderr and result.stdout == ""
