"""The ``pytest11`` entry point is loaded by every pytest session of anyone who installs the provider: importing it
must pull in no server, HTTP or Airflow code (measured: about 1 ms and three small modules of this package)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import pytest
before = set(sys.modules)
import airflow_provider_genai_batch.emulator.pytest_plugin
new = sorted(set(sys.modules) - before)
print("NEW=" + ",".join(new))
"""


def test_the_entry_point_imports_only_its_own_small_modules() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("NEW="))
    new = set(line.removeprefix("NEW=").split(","))
    assert new == {
        "airflow_provider_genai_batch",
        "airflow_provider_genai_batch.emulator",
        "airflow_provider_genai_batch.emulator.pytest_plugin",
    }
