"""Whether a job belongs to a task instance: the check that decides what the UI shows and may cancel.

XCom is not evidence: an editor of a DAG can write any XCom of its tasks through Airflow's REST API. What such
a user cannot change is the job: its display name (immutable) carries the idempotency key the operator derived
from the task instance, and on Vertex AI its ``genai-batch-key`` label carries it too. The key is
``SHA-256(json([dag_id, task_id, run_id, map_index, input fingerprint, {"deployment": digest}]))``; the
operator records that list (the *key proof*, ``links.genai_batch.KEY_PROOF_XCOM_KEY``). A job is this task's when

1. the proof starts with this task instance's own identity (a ``force_rerun`` try adds ``#try-<n>`` to the run
   id) and names this deployment (``airflow_provider_genai_batch.deployment``; a legacy proof without a
   deployment only while ``[genai_batch] accept_legacy_keys`` is on), and
2. the key re-derived from the proof is the key the job carries (display name, and the label on Vertex AI).

A forged proof must name this task (1) and hash to the key another task's job carries (2): a second preimage of
96 bits of SHA-256. No secret is involved, so the api-server needs none; the owner of a verified job is the DAG
its proof names, which is the DAG access is checked against.

A completion policy's follow-up job (attempt *k* >= 2, named in the task's recorded attempts) carries
``followup_key(key, k)`` instead (``policy.completion``), ``key`` being the key re-derived from the task's proof:
:func:`verify_followup` checks (1) and that derived key, so a forged attempts list binds nothing the proof does not.

Example::

    verdict = verify(record, job)
    verdict.verified, verdict.owner_dag_id, verdict.reason
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.policy.idempotency import key_from_display_name, key_from_labels, key_of_identity

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob
    from airflow_provider_genai_batch.ui.records import JobRecord

__all__ = ["Verdict", "plausible_job_name", "verify", "verify_followup"]

# The job names the client reads: Gemini batches and Vertex AI batch prediction jobs (short or full form).
_JOB_NAME = re.compile(
    r"^(batches/[A-Za-z0-9_-]{1,128}"
    r"|(projects/[a-z0-9-]{1,63}/locations/[a-z0-9-]{1,63}/)?batchPredictionJobs/[0-9A-Za-z_-]{1,128})$"
)
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`verify`."""

    verified: bool
    reason: str
    owner_dag_id: str | None = None


def plausible_job_name(name: object) -> bool:
    """Whether ``name`` has the shape of a job name (checked before any read: XCom may hold anything)."""
    return isinstance(name, str) and _JOB_NAME.fullmatch(name) is not None


def _proof_names_task(proof: Any, record: JobRecord) -> bool:
    if not isinstance(proof, list) or len(proof) not in (5, 6) or not _of_this_deployment(proof[5:]):
        return False
    dag_id, task_id, run_id, map_index, fingerprint = proof[:5]
    if (dag_id, task_id, map_index) != (record.dag_id, record.task_id, record.map_index):
        return False
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint) or not isinstance(run_id, str):
        return False
    return run_id == record.run_id or re.fullmatch(rf"{re.escape(record.run_id)}#try-[0-9]+", run_id) is not None


def _of_this_deployment(rest: list[Any]) -> bool:
    """A proof's deployment element names this deployment (``airflow_provider_genai_batch.deployment``); a proof
    without one (a legacy key) is accepted only while ``[genai_batch] accept_legacy_keys`` is on."""
    from airflow_provider_genai_batch.deployment import accept_legacy_keys, deployment_digest_from_config

    if not rest:
        return accept_legacy_keys()
    element = rest[0]
    own = deployment_digest_from_config()
    return isinstance(element, dict) and set(element) == {"deployment"} and bool(own) and element["deployment"] == own


def verify(record: JobRecord, job: BatchJob) -> Verdict:
    """Whether ``job`` (as read from the API) is the job of ``record``'s task instance."""
    if job.name != record.job_name:
        return Verdict(False, "the API returned another job than the one recorded")
    if not _proof_names_task(record.key_proof, record):
        return Verdict(False, "this task recorded no key proof of its own (not a job this task created)")
    key = key_of_identity(list(record.key_proof or []))
    if key_from_display_name(job.display_name) != key:
        return Verdict(False, "the job does not carry this task's idempotency key")
    if job.backend == "vertex" and key_from_labels(job.labels) != key:
        return Verdict(False, "the job's genai-batch-key label is not this task's idempotency key")
    return Verdict(True, "the job carries this task's idempotency key", owner_dag_id=record.dag_id)


def verify_followup(record: JobRecord, job: BatchJob, attempt: int) -> Verdict:
    """Whether ``job`` is attempt ``attempt`` (2, 3...) of ``record``'s task: its recorded attempts name it there,
    and it carries ``followup_key`` of the key re-derived from the task's own key proof."""
    from airflow_provider_genai_batch.policy.completion import followup_key

    attempts = record.attempts or []
    if attempt < 2 or len(attempts) < attempt or attempts[attempt - 1] != job.name:
        return Verdict(False, "the task's recorded attempts do not name this job")
    if not _proof_names_task(record.key_proof, record):
        return Verdict(False, "this task recorded no key proof of its own (not a job this task created)")
    key = followup_key(key_of_identity(list(record.key_proof or [])), attempt)
    if key_from_display_name(job.display_name) != key:
        return Verdict(False, f"the job does not carry the key of this task's attempt {attempt}")
    if job.backend == "vertex" and key_from_labels(job.labels) != key:
        return Verdict(False, f"the job's genai-batch-key label is not the key of this task's attempt {attempt}")
    return Verdict(True, f"the job carries the key of this task's attempt {attempt}", owner_dag_id=record.dag_id)
