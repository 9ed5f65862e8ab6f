"""Installing the common-ai extra keeps DAG parsing cheap: our operators never import common-ai, pydantic-ai or
google-genai, and the adapter package's ``__init__`` imports nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import airflow.sdk  # Airflow's provider discovery alone imports common-ai's package and get_provider_info
baseline = set(sys.modules)
import airflow_provider_genai_batch.operators
import airflow_provider_genai_batch.sensors
import airflow_provider_genai_batch.triggers
import airflow_provider_genai_batch.common_ai
prefixes = ("airflow.providers.common.ai", "pydantic_ai", "google.genai", "airflow_provider_genai_batch.common_ai.")
heavy = [m for m in set(sys.modules) - baseline if m.startswith(prefixes)]
print("HEAVY=" + ",".join(sorted(heavy)))
"""


def test_operators_and_adapter_package_import_no_common_ai() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    heavy = [line for line in result.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy == ["HEAVY="], heavy
