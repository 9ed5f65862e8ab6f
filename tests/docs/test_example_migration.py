"""The migration guide's converted DAG (example_dags/migrated_from_google_provider.py), run with ``dag.test()``
against the emulator: one job, its answers read from the results file, the job deleted at the end."""

from __future__ import annotations

from typing import Any

from tests.example_dags.test_example_dags import example_bag, run, states, xcom

__all__ = ["example_bag"]  # the fixture, shared with the other example DAGs' tests


def test_the_converted_dag_runs_and_cleans_up(example_bag: Any, emulator: Any) -> None:
    dag_run = run(example_bag, "genai_batch_migrated_from_google_provider")
    assert set(states(dag_run).values()) == {"success"}
    manifest = xcom(dag_run, "create_batch_job")
    assert manifest["state"] == "JOB_STATE_SUCCEEDED" and manifest["request_counts"]["succeeded"] == 2
    assert xcom(dag_run, "get_batch_job")["job_name"] == manifest["job_name"]
    assert xcom(dag_run, "answers") == [
        "echo: Tell me a one-line joke about pipelines.",
        "echo: Why is the sky blue? One sentence.",
    ]
    stats = emulator.stats()
    assert stats["jobs_created"] == 1 and stats["deletes"]["gemini"] == 1
