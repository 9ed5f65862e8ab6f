"""Boundary: another deployment on the same Google project (or Gemini API key). Two Airflow installations that
run the same DAG ids never reattach to, wait on or cancel each other's jobs.

Threat model actor: another Airflow deployment (staging next to production) sharing one Google project.
The deployment identity is ``[genai_batch] deployment_id`` (``AIRFLOW__GENAI_BATCH__DEPLOYMENT_ID``), else a
digest of the Execution API's URL (``airflow_provider_genai_batch.deployment``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_genai_batch.deployment import deployment_digest_from_config, deployment_source
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.policy.idempotency import display_name_with_key, idempotency_key
from tests.common_ai.conftest import adc_key_file, cai, token_server

__all__ = ["adc_key_file", "cai", "token_server"]  # fixtures, imported for their names

DEPLOYMENT_ENV = "AIRFLOW__GENAI_BATCH__DEPLOYMENT_ID"
PROMPT = "a question"


def create_task(**kwargs: Any) -> dict[str, Any]:
    return {
        "class": "GenAIBatchCreateJobOperator",
        "task_id": "create",
        "model": "gemini-2.5-flash",
        "src": [PROMPT],
        "poll_interval": 0.1,
        "min_poll_interval": 0.1,
        **kwargs,
    }


def test_staging_neither_reattaches_to_nor_cancels_productions_job(
    run_dag: Any, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: staging and production ran the same DAG id on one project; staging reattached to production's
    job, and staging's Cancel cancelled it."""
    emulator.add_outcome("STUCK_PENDING", count=None)
    same_run = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    monkeypatch.setenv(DEPLOYMENT_ENV, "production")
    production = run_dag(
        {"dag_id": "shared_dag", "tasks": [create_task(wait_for_completion=False)]}, logical_date=same_run
    )
    assert production.state == "success", production.output[-3000:]
    monkeypatch.setenv(DEPLOYMENT_ENV, "staging")
    cancel = {"class": "GenAIBatchCancelJobOperator", "task_id": "cancel", "name": "{{ ti.xcom_pull('create') }}"}
    staging = run_dag(
        {"dag_id": "shared_dag", "tasks": [create_task(wait_for_completion=False), cancel]}, logical_date=same_run
    )
    assert staging.state == "success", staging.output[-3000:]
    assert staging.value("create")["reattached"] is False
    assert staging.value("create")["job_name"] != production.value("create")["job_name"]
    assert emulator.stats()["jobs_created"] == 2
    production_job = GenAIBatchHook().get_job(production.value("create")["job_name"])
    assert production_job.state.short == "PENDING"
    assert GenAIBatchHook().get_job(staging.value("create")["job_name"]).state.short == "CANCELLED"


def test_the_default_identity_follows_the_execution_api_url_never_its_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow 3 blanks ``[database] sql_alchemy_conn`` in every task process (``airflow-db-not-allowed:///``), so
    the default identity must come from what a task process still knows: the Execution API it calls."""
    monkeypatch.delenv(DEPLOYMENT_ENV, raising=False)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "airflow-db-not-allowed:///")  # as in a task process
    monkeypatch.setenv(
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "https://ops:first-secret@prod.example:8080/execution/"
    )
    production = deployment_digest_from_config()
    where, identity = deployment_source()
    assert where == "[core] execution_api_server_url"
    assert "first-secret" not in identity and "first-secret" not in production
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "https://ops:rotated@prod.example:8080/execution/")
    assert deployment_digest_from_config() == production  # a rotated password is the same deployment
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "https://staging.example:8080/execution/")
    assert deployment_digest_from_config() != production
    monkeypatch.delenv("AIRFLOW__CORE__EXECUTION_API_SERVER_URL")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://prod.example:8080")
    assert deployment_source() == ("[api] base_url", "https://prod.example:8080/execution/")
    monkeypatch.setenv(DEPLOYMENT_ENV, "production")
    assert deployment_source()[0] == "[genai_batch] deployment_id"
    assert deployment_digest_from_config() not in (production, "")


def legacy_key(dag_id: str, run_after: dt.datetime) -> str:
    """The key a version before the deployment identity gave the task ``create`` of this run."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=run_after, run_after=run_after)
    return idempotency_key(
        dag_id=dag_id,
        task_id="create",
        run_id=run_id,
        map_index=-1,
        model="gemini-2.5-flash",
        src=[PROMPT],
        config={"__embeddings__": False},
    )


@pytest.mark.parametrize("first_try_fails", [True, False], ids=["retry_reattaches", "first_try_does_not"])
def test_a_legacy_keyed_job_is_reattached_by_a_retry_only(
    run_dag: Any, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, first_try_fails: bool
) -> None:
    """Upgrade: a job created before the deployment was part of the key (the legacy key) is still found by a
    retry of its task instance (try 2+), so a task retried across the upgrade pays for one job; a first try never
    takes it (it may be another deployment's)."""
    emulator.configure(job_seconds=0.2, pending_seconds=0.1)
    monkeypatch.setenv(DEPLOYMENT_ENV, "production")
    dag_id = f"upgrade_{first_try_fails}"
    run_after = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    old = GenAIBatchHook().create_job(
        model="gemini-2.5-flash",
        src=[PROMPT],
        config={"display_name": display_name_with_key(None, task_id="create", key=legacy_key(dag_id, run_after))},
    )
    if first_try_fails:  # try 1's look-up fails (a permanent error): try 2 runs the look-up again
        emulator.add_fault("status", method="GET", path=r"/batches$", status=403, count=1)
    result = run_dag({"dag_id": dag_id, "tasks": [create_task()], "retries": 1}, logical_date=run_after)
    assert result.state == "success", result.output[-3000:]
    if first_try_fails:
        assert result.try_numbers["create"] == 2
        assert result.value("create")["job_name"] == old.name
        assert emulator.stats()["jobs_created"] == 1
    else:
        assert result.value("create")["job_name"] != old.name
        assert emulator.stats()["jobs_created"] == 2


def test_common_ai_orphan_look_up_never_finds_another_deployments_job(
    cai: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common-ai adapters key jobs by deployment too: staging's orphan recovery of a task instance that
    production also ran (same DAG, run and prompts) finds nothing, where it used to find production's job."""
    from airflow.providers.common.ai.batch.output_schema import build_output_spec

    from airflow_provider_genai_batch.common_ai.adapter import GeminiBatchAdapter

    adapter = GeminiBatchAdapter(api_key=cai.emulator.api_key, base_url=cai.emulator.base_url)
    key16, fingerprint = "0123456789abcdef", "f" * 64
    before = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    monkeypatch.setenv(DEPLOYMENT_ENV, "production")
    submitted = adapter.submit(
        [{"prompt": "hi"}],
        model="gemini-2.5-flash",
        idempotency_key=key16,
        input_fingerprint=fingerprint,
        output_spec=build_output_spec(str),
    )
    assert adapter.find_orphaned_batch(key16, fingerprint, before) == submitted.batch_id
    monkeypatch.setenv(DEPLOYMENT_ENV, "staging")
    assert adapter.find_orphaned_batch(key16, fingerprint, before) is None
