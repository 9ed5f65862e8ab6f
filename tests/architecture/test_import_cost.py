"""What a DAG file loads: importing the operators and the sensor loads the operator classes and what their
constructors check, nothing that only ``execute()`` needs.

A fresh interpreter imports ``airflow.sdk`` (every DAG file does), then the two packages, and reports the modules
the import added. Each added module must be named here (so a new module-level import is a decision, seen in
review), and the heavy ones a DAG file does not need must be absent: the client's wire, transport and model
modules, the hook, the policies ``execute()`` applies (polling, completion, the manifest), google-auth,
google-genai, and the ``packaging`` / package-metadata read behind ``compat.AIRFLOW_V_3_3_PLUS``.
BENCHMARKS.md section 1 measures the cost of the same import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PACKAGE = "airflow_provider_genai_batch"
REPO = Path(__file__).resolve().parents[2]

# Every module importing the operators and the sensor may add to what `airflow.sdk` loaded.
ALLOWED = frozenset(
    {
        # Airflow's own, loaded lazily by `airflow.sdk` when the classes are first used: the sensor base, the link base
        "airflow.sdk.bases.operatorlink",
        "airflow.sdk.bases.sensor",
        f"{PACKAGE}.client",  # the package: its names are resolved lazily (PEP 562); importing it imports nothing
        f"{PACKAGE}.client.errors",  # the one input error, raised by the constructors' checks
        f"{PACKAGE}.compat",  # `conf`, for the `deferrable` default
        f"{PACKAGE}.links",
        f"{PACKAGE}.links.genai_batch",  # the operators' extra link
        f"{PACKAGE}.operators",
        f"{PACKAGE}.operators._base",
        f"{PACKAGE}.operators._cutting",  # the split's limits, its constructor defaults (standard library only)
        f"{PACKAGE}.operators._inputs",  # the constructors' argument checks
        f"{PACKAGE}.operators.create",
        f"{PACKAGE}.operators.jobs",
        f"{PACKAGE}.operators.lineage",  # a base class of the create, results and combine operators
        f"{PACKAGE}.operators.reaper",
        f"{PACKAGE}.operators.results",
        f"{PACKAGE}.operators.sharding",
        f"{PACKAGE}.operators.webhooks",
        f"{PACKAGE}.policy",
        f"{PACKAGE}.policy.defaults",  # constructor defaults
        f"{PACKAGE}.policy.wait_settings",  # the wait parameters, checked once when an operator is built
        f"{PACKAGE}.sensors",
        f"{PACKAGE}.sensors.genai_batch",
    }
)

# Named so the test says why it fails when one comes back: none is needed to parse a DAG file.
FORBIDDEN = (
    "google.auth",
    "google.genai",
    "google.oauth2",
    f"{PACKAGE}.client.auth",
    f"{PACKAGE}.client.client",
    f"{PACKAGE}.client.creation",
    f"{PACKAGE}.client.models",
    f"{PACKAGE}.client.plans",
    f"{PACKAGE}.client.results",
    f"{PACKAGE}.client.settings",
    f"{PACKAGE}.client.sources",
    f"{PACKAGE}.client.transport",
    f"{PACKAGE}.client.wire",
    f"{PACKAGE}.deployment",
    f"{PACKAGE}.hooks",
    f"{PACKAGE}.operators._assets",
    f"{PACKAGE}.operators._gcs_shards",
    f"{PACKAGE}.operators._outcome",
    f"{PACKAGE}.operators._shard_refs",
    f"{PACKAGE}.operators._submission",
    f"{PACKAGE}.policy.completion",
    f"{PACKAGE}.policy.idempotency",
    f"{PACKAGE}.policy.manifest",
    f"{PACKAGE}.policy.polling",
    f"{PACKAGE}.policy.waiting",
    f"{PACKAGE}.triggers",
    f"{PACKAGE}.webhooks",
)

PROBE = """
import json, sys
import airflow.sdk
before = set(sys.modules)
metadata_reads = []
import importlib.metadata as metadata
real_version = metadata.version
metadata.version = lambda name: metadata_reads.append(name) or real_version(name)
import airflow_provider_genai_batch.operators
import airflow_provider_genai_batch.sensors
metadata.version = real_version
print(json.dumps({"added": sorted(set(sys.modules) - before), "metadata_reads": metadata_reads}))
"""


def probe() -> dict[str, list[str]]:
    """The modules and package-metadata reads that importing the operators and the sensor adds, in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_importing_the_operators_and_sensor_loads_only_what_a_dag_file_needs() -> None:
    report = probe()
    added = set(report["added"])
    heavy = sorted(m for m in added if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert not heavy, f"a DAG file does not need these; import them inside the methods that use them: {heavy}"
    unexpected = sorted(added - ALLOWED)
    assert not unexpected, f"new modules loaded at DAG parse; make them lazy or name them in ALLOWED: {unexpected}"
    assert report["metadata_reads"] == [], "a package-metadata read at DAG parse (compat.AIRFLOW_V_3_3_PLUS?)"


def test_the_lists_do_not_overlap() -> None:
    assert not {m for m in ALLOWED if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}
