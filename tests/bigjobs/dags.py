"""DAG shapes of the big-jobs tests, built from JSON parameters (their DAG files are written by
``tests/operators/dag_factory.py``, so the file ``dag.test()`` parses is two lines)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset

from airflow_provider_genai_batch.operators import (
    GenAIBatchCombineResultsOperator,
    GenAIBatchCreateJobOperator,
    GenAIBatchSplitOperator,
    GenAIBatchWriteResultsOperator,
)
from airflow_provider_genai_batch.policy.completion import CompletionPolicy
from tests.timings import FAST

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def create_then_save(params_json: str) -> DAG:
    """create (waits) >> save, with ``prices`` and optional asset ``outlets`` on both."""
    params = json.loads(params_json)
    dag_id = params["dag_id"]
    outlets = [Asset(params["asset"])] if params.get("asset") else []
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, render_template_as_native_obj=True) as dag:
        create = GenAIBatchCreateJobOperator(
            task_id="create",
            model=params["model"],
            src=params["src"],
            config=params.get("config"),
            max_failure_ratio=params.get("max_failure_ratio", 0.0),
            outlets=[Asset(params["create_asset"])] if params.get("create_asset") else [],
            genai_batch_conn_id=params["conn_id"],
            deferrable=False,
            **FAST,
        )
        if params.get("save") is False:
            return dag
        save = GenAIBatchWriteResultsOperator(
            task_id="save",
            name="{{ ti.xcom_pull(task_ids='create') }}",
            destination=params["destination"],
            genai_batch_conn_id=params["conn_id"],
            prices=params.get("prices"),
            outlets=outlets,
        )
        create >> save
    return dag


def sharded(params_json: str) -> DAG:
    """split >> create (mapped, at most ``max_active`` at once) >> combine."""
    params = json.loads(params_json)
    dag_id = params["dag_id"]
    outlets = [Asset(params["asset"])] if params.get("asset") else []
    default_args = {"retries": params.get("retries", 0), "retry_delay": dt.timedelta(seconds=0)}
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        render_template_as_native_obj=True,
        default_args=default_args,
    ) as dag:
        split = GenAIBatchSplitOperator(
            task_id="split",
            src=params["src"],
            limits=params.get("limits", "gemini"),
            max_shard_requests=params.get("max_shard_requests"),
            shard_folder=params.get("shard_folder"),
            genai_batch_conn_id=params["conn_id"],
        )
        create = GenAIBatchCreateJobOperator.partial(
            task_id="create",
            model=params.get("model", "gemini-2.5-flash"),
            genai_batch_conn_id=params["conn_id"],
            deferrable=params.get("deferrable", False),
            display_name=params.get("display_name"),
            completion=CompletionPolicy(**params["completion"]) if "completion" in params else None,
            max_active_tis_per_dagrun=params.get("max_active", 2),
            max_failure_ratio=params.get("max_failure_ratio", 0.0),
            **FAST,
        ).expand(src=split.output)
        if params.get("meanwhile"):
            from airflow.providers.standard.operators.python import PythonOperator

            gate = PythonOperator(task_id="meanwhile", python_callable=meanwhile, op_args=[params["meanwhile"]])
            split >> gate >> create
        GenAIBatchCombineResultsOperator(
            task_id="combine",
            jobs=create.output,
            shards=split.output_shards,
            destination=params["destination"],
            genai_batch_conn_id=params["conn_id"],
            prices=params.get("prices"),
            outlets=outlets,
        )
    return dag


def shard_uris(split_output: list[Any]) -> list[str]:
    """The shard paths or URIs of a split's return value (each a ``src``: a path, a URI or a shard reference)."""
    return [entry if isinstance(entry, str) else entry["src"] for entry in split_output]


def write_input(where: str, data: bytes, emulator_url: str | None) -> None:
    """Replace a local file or (through the emulator's control API) a gs:// object with ``data``."""
    if where.startswith("gs://"):
        from airflow_provider_genai_batch.emulator import EmulatorClient

        bucket, name = where.removeprefix("gs://").split("/", 1)
        assert emulator_url is not None
        with EmulatorClient(emulator_url) as emulator:
            emulator.put_object(bucket, name, data, "application/jsonl")
        return
    replacement = Path(where).with_name(Path(where).name + ".replacement")
    replacement.write_bytes(data)
    os.replace(replacement, where)  # a new file under the old name, as an editor or a copy would leave


def meanwhile(action: dict[str, Any], **context: Any) -> None:
    """What happens between this run's split and its creates (the ``meanwhile`` task of ``sharded``):

    - ``{"other_run": logical_date ISO, "src": path or URI, "data": text, "emulator_url"}``: the input is
      rewritten with other prompts and ANOTHER DAG run of this DAG (another process, as another worker would)
      runs its split, into the same shard folder;
    - ``{"replace_shard": n, "data": text, "emulator_url"}``: shard ``n`` of this run is replaced by other bytes.
    """
    if "replace_shard" in action:
        target = shard_uris(context["ti"].xcom_pull(task_ids="split"))[action["replace_shard"]]
        write_input(target, action["data"].encode(), action.get("emulator_url"))
        return
    write_input(action["src"], action["data"].encode(), action.get("emulator_url"))
    code = (
        "import datetime as dt, importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('other_run', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "split_only = module.dag.partial_subset(task_ids=['split'], include_downstream=False)\n"
        "run = split_only.test(logical_date=dt.datetime.fromisoformat(sys.argv[2]))\n"
        "sys.exit(0 if str(run.state) == 'success' else 3)\n"
    )
    root = Path(__file__).resolve().parents[2]
    # The DAG file ``run_built_dag`` wrote (``dag.fileloc`` names this module, where DAG() is called).
    dag_file = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{context['dag'].dag_id}.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code, str(dag_file), action["other_run"]],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the other run's split failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
