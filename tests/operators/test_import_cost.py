"""DAG parsing stays cheap: importing the operators, sensor and trigger packages imports no client code (only the
dependency-free ``client.errors``, for the one input-error type, and ``client.names``, the key's spelling)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import airflow_provider_genai_batch.operators
import airflow_provider_genai_batch.sensors
import airflow_provider_genai_batch.triggers
import airflow_provider_genai_batch.links
prefixes = (
    "google.auth.",
    "google.genai",
    "airflow_provider_genai_batch.client",
    "airflow_provider_genai_batch.hooks.genai_batch",
)
# The one input error (client.errors, no imports) and the checked names carrying the idempotency key (client.names,
# standard library only: policy.idempotency uses its constants) are shared with the operators; the client package
# itself is lazy.
light = {
    "airflow_provider_genai_batch.client",
    "airflow_provider_genai_batch.client.errors",
    "airflow_provider_genai_batch.client.names",
}
heavy = [m for m in sys.modules if (m == "google.auth" or m.startswith(prefixes)) and m not in light]
print("HEAVY=" + ",".join(sorted(heavy)))
"""


def test_operator_packages_import_no_client_google_auth_or_genai() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    heavy = [line for line in result.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy == ["HEAVY="], heavy


def test_the_hook_is_importable_from_its_package_lazily() -> None:
    probe = (
        "import sys\n"
        "import airflow_provider_genai_batch.hooks as hooks\n"
        "assert 'airflow_provider_genai_batch.hooks.genai_batch' not in sys.modules\n"
        "from airflow_provider_genai_batch.hooks import GenAIBatchHook\n"
        "from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook as Direct\n"
        "assert GenAIBatchHook is Direct and 'GenAIBatchHook' in dir(hooks)\n"
        "print('OK')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert result.stdout.strip().endswith("OK"), result.stderr[-2000:]
