"""The tests the guide's "Testing your DAGs offline" page shows (docs/site/testing.md includes the parts between
the ``guide:`` markers): a user's tests of the example DAGs against the emulator fixture, Vertex AI and GCS
included. The suite's plumbing (the DAG files copied into the dags folder, the metadata database) stays outside the
markers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


@pytest.fixture
def load_dag(dags_folder: Path, airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``load_dag(file_name)``: an example DAG, parsed from the dags folder (where ``dag.test()`` needs it)."""
    monkeypatch.setenv("GENAI_BATCH_FIRST_POLL_SECONDS", "0.2")
    monkeypatch.setenv("GENAI_BATCH_RESULTS_DIR", str(tmp_path / "results"))

    def load(file_name: str) -> Any:
        shutil.copy(EXAMPLES / file_name, dags_folder / file_name)
        try:
            from airflow.dag_processing.dagbag import DagBag
        except ImportError:  # Airflow < 3.2
            from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
        bag = DagBag(dag_folder=str(dags_folder / file_name))
        assert bag.import_errors == {}
        (dag,) = bag.dags.values()
        return dag

    return load


# guide: gemini
def test_a_failed_gemini_job_fails_the_create_task(
    genai_batch_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, load_dag: Any
) -> None:
    connection = {
        "conn_type": "genai_batch",
        "host": genai_batch_emulator.base_url,  # the emulator, on a free port
        "password": genai_batch_emulator.api_key,
    }
    monkeypatch.setenv("AIRFLOW_CONN_GENAI_BATCH_DEFAULT", json.dumps(connection))
    genai_batch_emulator.add_outcome(final_state="FAILED", error_message="the model is overloaded")

    run = load_dag("gemini_inline.py").test()

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["answer_questions"] == "failed" and run.state == "failed"
    assert genai_batch_emulator.stats()["jobs_created"] == 1  # one job, even though the task failed
    # guide: end gemini


# guide: vertex
def test_vertex_reads_gcs_and_writes_predictions_to_gcs(
    genai_batch_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, load_dag: Any
) -> None:
    connection = {
        "conn_type": "genai_batch",
        "host": genai_batch_emulator.base_url,
        "extra": {
            "backend": "vertex",
            "project": "my-project",
            "location": "us-central1",
            "access_token": "emulator-token",  # the emulator accepts any bearer token
            "storage_base_url": genai_batch_emulator.base_url,  # GCS traffic goes to the emulator too
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_GENAI_BATCH_VERTEX", json.dumps(connection))
    lines = [
        {"key": f"row-{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}} for i in range(3)
    ]
    genai_batch_emulator.put_object(
        "my-bucket", "in/input.jsonl", "".join(json.dumps(x) + "\n" for x in lines).encode()
    )

    run = load_dag("vertex_gcs_to_gcs.py").test(
        run_conf={"input_uri": "gs://my-bucket/in/input.jsonl", "output_prefix": "gs://my-bucket/out"}
    )

    assert run.state == "success"
    outputs = [name for name in genai_batch_emulator.list_objects("my-bucket") if name.startswith("out/")]
    assert any(name.endswith(".jsonl") for name in outputs)  # Vertex AI's predictions*.jsonl shards
    written = os.environ["GENAI_BATCH_RESULTS_DIR"]
    (results,) = Path(written).rglob("*.jsonl")
    assert sorted(json.loads(line)["key"] for line in results.read_text().splitlines()) == ["row-0", "row-1", "row-2"]
    # guide: end vertex
