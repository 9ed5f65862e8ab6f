"""``ui.binding.verify``: a job is a task's only when it carries the key re-derived from the task's proof."""

from __future__ import annotations

from typing import Any

from airflow_provider_genai_batch.client.models import BatchJob
from airflow_provider_genai_batch.policy.idempotency import (
    display_name_with_key,
    key_identity,
    key_of_identity,
    labels_with_key,
)
from airflow_provider_genai_batch.ui.binding import plausible_job_name, verify
from airflow_provider_genai_batch.ui.errors import ui_error_text
from airflow_provider_genai_batch.ui.records import JobRecord

FP = "ab" * 32


def proof(dag_id: str = "d", run_id: str = "r", map_index: int = -1) -> list[Any]:
    return key_identity(dag_id=dag_id, task_id="t", run_id=run_id, map_index=map_index, fingerprint=FP)


def job_for(identity: list[Any], *, backend: str = "gemini", label: str | None = None) -> BatchJob:
    key = key_of_identity(identity)
    name = "batches/j1" if backend == "gemini" else "projects/p/locations/l/batchPredictionJobs/1"
    labels = labels_with_key(None, label or key) if backend == "vertex" else None
    return BatchJob(
        name=name, backend=backend, display_name=display_name_with_key("n", task_id="t", key=key), labels=labels
    )


def record(job: BatchJob, key_proof: Any, **ti: Any) -> JobRecord:
    fields = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": -1, **ti}
    return JobRecord(**fields, job_name=job.name, key_proof=key_proof)


def test_the_tasks_own_job_is_verified_on_both_backends() -> None:
    for backend in ("gemini", "vertex"):
        job = job_for(proof(), backend=backend)
        verdict = verify(record(job, proof()), job)
        assert verdict.verified and verdict.owner_dag_id == "d", backend


def test_a_force_rerun_try_is_the_tasks_own() -> None:
    job = job_for(proof(run_id="r#try-3"))
    assert verify(record(job, proof(run_id="r#try-3")), job).verified


def test_another_tasks_job_or_a_proof_of_another_task_is_not_verified() -> None:
    other = job_for(proof(dag_id="b"))
    assert not verify(record(other, proof()), other).verified  # A's proof, B's job
    assert not verify(record(other, proof(dag_id="b")), other).verified  # B's proof on A's record
    mapped = job_for(proof(map_index=2))
    assert not verify(record(mapped, proof(map_index=2)), mapped).verified  # the record is map index -1
    assert not verify(record(other, proof(run_id="r#try-x")), other).verified
    for bad in (None, [], "x", [*proof(), "extra"], [*proof()[:4], "not-hex"]):
        assert not verify(record(other, bad), other).verified


def test_a_vertex_job_needs_the_label_too() -> None:
    job = job_for(proof(), backend="vertex", label="0" * 24)
    verdict = verify(record(job, proof()), job)
    assert not verdict.verified and "label" in verdict.reason


def test_job_names_are_checked_before_any_read() -> None:
    assert plausible_job_name("batches/abc-1") and plausible_job_name("projects/p/locations/l/batchPredictionJobs/9")
    for bad in ("../../v1beta/files", "batches/a/../b", "batches/a?x=1", "https://evil/batches/a", "", None, 3):
        assert not plausible_job_name(bad)


def test_ui_error_text_removes_url_credentials_keys_and_tokens() -> None:
    text = ui_error_text(RuntimeError("at https://u:pw-secret@host/x with ya29.tok-en and eyJhbGc.eyJzdWIi.sig"))
    assert text.startswith("RuntimeError: ") and "pw-secret" not in text and "ya29.tok" not in text
    assert "eyJzdWIi" not in text and "https://***@host/x" in text
    assert len(ui_error_text(RuntimeError("x" * 5000))) == 500
