"""Fixtures for common-ai's ``@task.llm_batch`` on this provider's adapters, against the emulator.

``cai`` gives a fresh emulator whose jobs end at once (common-ai polls at most every 30 s) and two
connections as common-ai users have them: ``pydanticai_gemini`` (``pydanticai``: password = API key, host =
the emulator) and ``pydanticai_vertex`` (``pydanticai_vertex``: host = the emulator), with Vertex's project,
location, staging prefix and Application Default Credentials (a service-account key whose token endpoint is
local) in the environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks.token_server import TokenServer, service_account_key
from tests.conftest import STAGING_BUCKET, VERTEX_LOCATION, VERTEX_PROJECT, DagRunResult, set_connection
from tests.operators.dag_factory import dag_file_source

GEMINI_CONN = "pydanticai_gemini"
VERTEX_CONN = "pydanticai_vertex"
STAGING_PREFIX = f"gs://{STAGING_BUCKET}/common-ai"


@dataclass
class CommonAI:
    """The emulator plus where results land."""

    emulator: Any
    result_root: Path

    def rows(self, manifest: dict[str, Any]) -> list[dict[str, Any]]:
        """The landed JSONL rows, sorted by request index."""
        path = Path(manifest["result_uri"].removeprefix("file://"))
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return sorted(rows, key=lambda row: row["index"])


@pytest.fixture(scope="session")
def token_server() -> Iterator[TokenServer]:
    with TokenServer() as server:
        yield server


@pytest.fixture(scope="session")
def adc_key_file(token_server: TokenServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("adc") / "key.json"
    path.write_text(service_account_key(token_server.token_uri))
    return path


@pytest.fixture
def cai(genai_batch_emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, adc_key_file: Path) -> CommonAI:
    genai_batch_emulator.configure(job_seconds=0, pending_seconds=0)
    base = genai_batch_emulator.base_url
    set_connection(
        monkeypatch, GEMINI_CONN, {"conn_type": "pydanticai", "host": base, "password": genai_batch_emulator.api_key}
    )
    set_connection(monkeypatch, VERTEX_CONN, {"conn_type": "pydanticai_vertex", "host": base})
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", VERTEX_PROJECT)
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", VERTEX_LOCATION)
    monkeypatch.setenv("GENAI_BATCH_GCS_STAGING_PREFIX", STAGING_PREFIX)
    monkeypatch.setenv("GENAI_BATCH_STORAGE_BASE_URL", base)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc_key_file))
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return CommonAI(genai_batch_emulator, tmp_path / "results")


@pytest.fixture
def run_cai_dag(run_dag_file: Any) -> Any:
    """``run_cai_dag(spec) -> DagRunResult``: write the DAG file, ``dag.test()`` it, read back."""

    def run(spec: dict[str, Any]) -> DagRunResult:
        result: DagRunResult = run_dag_file(spec["dag_id"], dag_file_source(spec, "tests.common_ai.dags:build_dag"))
        return result

    return run
