"""Every example DAG: imports cleanly, and a ``dag.test()`` run against the emulator succeeds with the expected
outcome (results, XCom manifests, and the emulator's own count of jobs)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
from airflow_provider_genai_batch.emulator.responses import embedding_values

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def example_bag(dags_folder: Path, tmp_path_factory: pytest.TempPathFactory, airflow_db: None) -> Any:
    """The example DAG files copied into the dags folder (``dag.test()`` needs them there) and parsed."""
    os.environ["GENAI_BATCH_FIRST_POLL_SECONDS"] = "0.2"
    os.environ["GENAI_BATCH_RESULTS_DIR"] = str(tmp_path_factory.mktemp("results"))
    for path in EXAMPLE_FILES:
        shutil.copy(path, dags_folder / path.name)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag(dag_folder=str(dags_folder))


def run(bag: Any, dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    dag = bag.dags[dag_id]
    dag_run = dag.test(run_conf=conf, logical_date=None)  # as a manual run from the UI: no logical date
    return dag_run


def states(dag_run: Any) -> dict[str, str]:
    return {
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": ti.state
        for ti in dag_run.get_task_instances()
    }


def xcom(dag_run: Any, task_id: str, map_index: int = -1) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value", map_index=map_index
            )
            .one()
        )
        value = row.value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def test_every_example_imports_without_errors(example_bag: Any) -> None:
    assert example_bag.import_errors == {}
    expected = {
        "genai_batch_gemini_inline",
        "genai_batch_gemini_jsonl_file",
        "genai_batch_gemini_embeddings",
        "genai_batch_vertex_gcs_to_gcs",
        "genai_batch_vertex_bigquery",
        "genai_batch_sensor_external_job",
        "genai_batch_dynamic_mapping",
        "genai_batch_housekeeping",
        "genai_batch_reap_orphans",
        "genai_batch_common_ai",
        "genai_batch_big_job",
        "genai_batch_big_job_report",
        "genai_batch_completion_policy",
        "genai_batch_completion_sharded",
    }
    assert expected <= set(example_bag.dags)


def test_gemini_inline(example_bag: Any, emulator: Any) -> None:
    dag_run = run(example_bag, "genai_batch_gemini_inline")
    assert set(states(dag_run).values()) == {"success"}
    manifest = xcom(dag_run, "answer_questions")
    assert manifest["state"] == "JOB_STATE_SUCCEEDED" and manifest["request_counts"]["succeeded"] == 3
    answers = xcom(dag_run, "summarise")
    assert answers["sum"] == "echo: What is 17 + 25? Answer with the number only."
    assert emulator.stats()["jobs_created"] == 1


def test_gemini_jsonl_file(example_bag: Any, emulator: Any) -> None:
    dag_run = run(example_bag, "genai_batch_gemini_jsonl_file")
    assert set(states(dag_run).values()) == {"success"}
    written = xcom(dag_run, "save_results")
    lines = Path(written["destination"]).read_text().splitlines()
    # The user's own file carries no index stamp: results keep its keys, in the order the service wrote them.
    assert sorted(json.loads(line)["key"] for line in lines) == ["review-0", "review-1", "review-2"]
    assert emulator.stats()["requests"]["files.upload.start"] == 1


def test_gemini_embeddings(example_bag: Any, emulator: Any) -> None:
    dag_run = run(example_bag, "genai_batch_gemini_embeddings")
    assert set(states(dag_run).values()) == {"success"}
    assert xcom(dag_run, "load_vectors") == 3
    manifest = xcom(dag_run, "embed_titles")
    settings = ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url)
    with GenAIBatchClient(settings) as client:
        first = next(r for r in client.batches.iter_results(manifest["job_name"]) if r.index == 0)
    assert first.embedding == embedding_values("red running shoes", 8)


def test_vertex_gcs_to_gcs(example_bag: Any, emulator: Any) -> None:
    rows = [
        {"key": f"row-{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}} for i in range(4)
    ]
    emulator.put_object("example-bucket", "in/input.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    conf = {"input_uri": "gs://example-bucket/in/input.jsonl", "output_prefix": "gs://example-bucket/out"}
    dag_run = run(example_bag, "genai_batch_vertex_gcs_to_gcs", conf)
    assert set(states(dag_run).values()) == {"success"}
    manifest = xcom(dag_run, "predict")
    assert manifest["backend"] == "vertex" and manifest["results"]["kind"] == "gcs"
    written = xcom(dag_run, "save_results")
    keys = sorted(json.loads(line)["key"] for line in Path(written["destination"]).read_text().splitlines())
    assert keys == [f"row-{i}" for i in range(4)]
    assert any(name.startswith("out/") for name in emulator.list_objects("example-bucket"))
    assert emulator.stats()["jobs"][0]["labels"]["team"] == "analytics"


def test_vertex_bigquery(example_bag: Any, emulator: Any) -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    emulator.put_table("bq://test-project.genai.requests", [{"id": 1, "request": request}])
    conf = {"source_table": "bq://test-project.genai.requests", "dest_dataset": "bq://test-project.genai_out"}
    dag_run = run(example_bag, "genai_batch_vertex_bigquery", conf)
    assert set(states(dag_run).values()) == {"success"}
    table = xcom(dag_run, "next_step")
    assert table.startswith("bq://test-project.genai_out.")
    output = emulator.get_table(table)
    assert output[0]["id"] == 1 and output[0]["response"]


def test_sensor_for_a_job_submitted_elsewhere(example_bag: Any, emulator: Any) -> None:
    settings = ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url)
    with GenAIBatchClient(settings) as client:
        job = client.batches.create(model="gemini-2.5-flash", src=["submitted from a notebook"])
    dag_run = run(example_bag, "genai_batch_sensor_external_job", {"job_name": job.name})
    assert set(states(dag_run).values()) == {"success"}
    assert xcom(dag_run, "report") == "JOB_STATE_SUCCEEDED"
    assert emulator.stats()["jobs_created"] == 1


def test_sensor_fails_when_the_job_fails(example_bag: Any, emulator: Any) -> None:
    emulator.add_outcome(final_state="FAILED", error_message="the model is overloaded")
    settings = ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url)
    with GenAIBatchClient(settings) as client:
        job = client.batches.create(model="gemini-2.5-flash", src=["x"])
    dag_run = run(example_bag, "genai_batch_sensor_external_job", {"job_name": job.name})
    assert states(dag_run)["wait_for_job"] == "failed"


def test_dynamic_mapping(example_bag: Any, emulator: Any) -> None:
    dag_run = run(example_bag, "genai_batch_dynamic_mapping")
    assert set(states(dag_run).values()) == {"success"}
    assert xcom(dag_run, "total") == 6
    assert emulator.stats()["jobs_created"] == 3


def test_housekeeping(example_bag: Any, emulator: Any) -> None:
    emulator.add_outcome(final_state="STUCK_PENDING")
    settings = ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url)
    with GenAIBatchClient(settings) as client:
        job = client.batches.create(model="gemini-2.5-flash", src=["forgotten"])
    dag_run = run(example_bag, "genai_batch_housekeeping", {"job_name": job.name})
    assert set(states(dag_run).values()) == {"success"}
    listed = xcom(dag_run, "list_recent")
    assert job.name in json.dumps(listed)
    stats = emulator.stats()
    assert stats["cancels"]["gemini"] == 1 and stats["deletes"]["gemini"] == 1


def test_big_job_in_shards(example_bag: Any, emulator: Any) -> None:
    dag_run = run(example_bag, "genai_batch_big_job")
    assert set(states(dag_run).values()) == {"success"}
    manifest = xcom(dag_run, "combine")
    assert [shard["requests"] for shard in manifest["shards"]] == [4, 4, 2]
    lines = [json.loads(line) for line in Path(manifest["destination"]).read_text().splitlines()]
    assert [line["key"] for line in lines] == [f"r{n}" for n in range(10)]
    assert manifest["estimated_cost"]["total"] > 0
    assert emulator.stats()["jobs_created"] == 3
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:  # the event, with its extra, and the consumer queued for the scheduler
        asset = session.query(AssetModel).filter_by(uri="genai-batch://results/nightly-summaries").one()
        # This run's event only: other tests in this process (the secret scan) run the same DAG.
        [event] = session.query(AssetEvent).filter_by(asset_id=asset.id, source_run_id=dag_run.run_id).all()
        queued = {row.target_dag_id for row in session.query(AssetDagRunQueue).filter_by(asset_id=asset.id)}
    assert event.extra["job_names"] == [shard["job_name"] for shard in manifest["shards"]]
    assert event.extra["usage"] == manifest["usage"]["total"]
    assert queued == {"genai_batch_big_job_report"}


def test_completion_policy_answers_every_row_once(example_bag: Any, emulator: Any) -> None:
    # The first job answers rows 0, 2, 4 and fails rows 1 (429) and 3 (503): the follow-up sends those two again.
    emulator.add_outcome(failed_requests={1: 429, 3: 503})
    dag_run = run(example_bag, "genai_batch_completion_policy")
    assert set(states(dag_run).values()) == {"success"}
    summary = xcom(dag_run, "report")
    assert [(a["attempt"], a["rows"]) for a in summary["attempts"]] == [(1, 5), (2, 2)]
    assert summary["rows"] == {"total": 5, "answered": 5, "failed": 0, "given_up": 0}
    assert summary["answered_by_attempt"] == {f"product-{n}": 2 if n in (1, 3) else 1 for n in range(5)}
    written = xcom(dag_run, "save_results")
    lines = [json.loads(line) for line in Path(written["destination"]).read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(5))
    assert all("error" not in line for line in lines)
    assert emulator.stats()["jobs_created"] == 2


@pytest.mark.slow
def test_completion_on_shards_answers_every_row_once(example_bag: Any, emulator: Any) -> None:
    # Shard 0 (rows 0-3): row 1 fails with 429, its follow-up answers it. Shard 1 (rows 4-7) EXPIRES after one
    # row (no results): its follow-up sends all four again. Shard 2 (rows 8-9) answers at once.
    emulator.add_outcome(failed_requests={1: 429}, match_display_name="shard-0--")
    emulator.add_outcome("EXPIRED", expired_done=1, match_display_name="shard-1--")
    dag_run = run(example_bag, "genai_batch_completion_sharded")
    assert set(states(dag_run).values()) == {"success"}
    summary = xcom(dag_run, "report")
    assert summary["rows"] == {"total": 10, "answered": 10, "failed": 0, "given_up": 0}
    assert summary["jobs"] == 5 and summary["attempts_per_shard"] == [[4, 1], [4, 4], [2]]
    assert summary["answered_by_attempt"] == {f"review-{n}": 2 if n in (1, 4, 5, 6, 7) else 1 for n in range(10)}
    manifest = xcom(dag_run, "combine")
    lines = [json.loads(line) for line in Path(manifest["destination"]).read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(10))
    assert emulator.stats()["jobs_created"] == 5
