"""The multimodal example DAG, once per backend: ``dag.test()`` against the emulator captions every image, and
each caption is the emulator's deterministic answer for that very image (so the bytes arrived intact)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "example_genai_batch_multimodal.py"
PROMPT = "Write a one-sentence caption for this image."  # the example's prompt


@pytest.fixture(scope="module")
def bag(dags_folder: Path, tmp_path_factory: pytest.TempPathFactory, airflow_db: None) -> Any:
    os.environ["GENAI_BATCH_FIRST_POLL_SECONDS"] = "0.2"
    os.environ["GENAI_BATCH_RESULTS_DIR"] = str(tmp_path_factory.mktemp("results"))
    os.environ["GENAI_BATCH_IMAGES_DIR"] = str(tmp_path_factory.mktemp("images"))
    shutil.copy(EXAMPLE, dags_folder / EXAMPLE.name)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    parsed = DagBag(dag_folder=str(dags_folder / EXAMPLE.name))
    assert parsed.import_errors == {}
    return parsed


def _xcom(dag_run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value", map_index=-1)
            .one()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


def _expected(path: Path, prompt: str) -> str:
    data = path.read_bytes()
    return f"echo: {prompt} [image/png {len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:12]}]"


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_multimodal_captions(bag: Any, emulator: Any, backend: str) -> None:
    dag_id = f"genai_batch_multimodal_{backend}"
    dag_run = bag.dags[dag_id].test(logical_date=None)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    images = [Path(p) for p in _xcom(dag_run, "make_images")]
    assert [p.stem for p in images] == ["blue", "green", "red"]
    assert images[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    captions = _xcom(dag_run, "captions")
    assert captions == {p.stem: _expected(p, PROMPT) for p in images}
    stats = emulator.stats()
    assert stats["jobs_created"] == 1
