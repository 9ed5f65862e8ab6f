"""Which live batch jobs are orphans to cancel, and why: a pure plan from the jobs and their owners' states.

A live (unfinished) job that carries this provider's idempotency key is an *orphan* when the task instance that
created it can no longer use it: the task ended without success (``failed``, ``upstream_failed``, ``skipped``,
``removed``), or its DAG run ended while the task was waiting for a retry or had no state. Orphans still count
against the project's cap on concurrent batch jobs, so they are cancelled. Kept:

- a job whose task *succeeded* while the job still runs: the task did not wait for it on purpose
  (``wait_for_completion=False``), and a sensor in this or another DAG may be waiting for it;
- a job whose task is alive (``running``, ``deferred``, ``queued``, ``scheduled``, ``up_for_reschedule``,
  ``restarting``): the task is waiting for it;
- a job whose task is ``up_for_retry`` or has no state (cleared) in a run that has not ended: the next try
  finds the job by its key and reattaches to it, so cancelling would pay for a second job;
- a job no task record claims (*unowned*): it may be another deployment's, or a job made outside Airflow; it is
  reported and never cancelled (its key cannot be re-derived here, so nothing proves it is ours);
- a job whose claiming record is not verified (``ui.binding.verify``: the job must carry the key re-derived from
  the task's recorded key proof): XCom is writable by DAG editors and is no evidence.

A completion policy's follow-up job (attempt 2, 3...) is its task's when the task's recorded attempts name it and
it carries the key derived from the verified key (``ui.binding.verify_followup``); it is then decided as the task's
first job is.

The caller gathers the facts (``ui/reaper.py`` in the api-server, where the metadata DB is) and applies the plan.

Example::

    plan = plan_reaping([LiveJob("genai_batch_default", job, owners=[owner])])
    plan[0].action, plan[0].reason   # ('cancel', 'its task instance is failed')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ALIVE_TI_STATES",
    "ENDED_RUN_STATES",
    "ENDED_TI_STATES",
    "HANDED_ON_TI_STATES",
    "REATTACHING_TI_STATES",
    "LiveJob",
    "Owner",
    "ReapDecision",
    "decide",
    "plan_reaping",
]

#: Task states in which the task still waits for (or is about to wait for) its job.
ALIVE_TI_STATES = frozenset({"running", "deferred", "queued", "scheduled", "up_for_reschedule", "restarting"})
#: Task states after which the next try reattaches to the same job by its key (unless the run has ended).
REATTACHING_TI_STATES = frozenset({"up_for_retry", "none", ""})
#: Task states after which nothing will wait for the job again (until someone clears the task).
ENDED_TI_STATES = frozenset({"failed", "upstream_failed", "skipped", "removed"})
#: A task that succeeded while its job runs handed the job on (``wait_for_completion=False``).
HANDED_ON_TI_STATES = frozenset({"success"})
#: DAG run states after which no task of the run is scheduled again.
ENDED_RUN_STATES = frozenset({"success", "failed"})

Action = Literal["cancel", "keep", "report", "skip"]


@dataclass(frozen=True)
class Owner:
    """A task instance's record that names a live job, and what the caller found about it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    verified: bool
    verify_reason: str
    ti_state: str | None
    dag_run_state: str | None
    #: Which of the task's jobs: 1, or a completion policy's follow-up (2, 3...).
    attempt: int = 1


@dataclass(frozen=True)
class LiveJob:
    """One unfinished job carrying our key on one connection, with every record that names it."""

    conn_id: str
    name: str
    state: str
    key: str | None
    owners: list[Owner] = field(default_factory=list)


@dataclass(frozen=True)
class ReapDecision:
    """What to do with one live job: ``cancel`` (an orphan), ``keep`` (its task may still use it), ``report``
    (no task claims it) or ``skip`` (a claim that could not be verified); ``owner`` is the verified owner."""

    job: LiveJob
    action: Action
    reason: str
    owner: Owner | None = None


def _state(value: str | None) -> str:
    return (value or "none").lower()


def decide(job: LiveJob) -> ReapDecision:
    """The decision for one live job (see the module docstring)."""
    verified = [o for o in job.owners if o.verified]
    if not job.owners:
        return ReapDecision(job, "report", "no task instance of this deployment recorded this job; not cancelled")
    if not verified:
        reasons = "; ".join(sorted({o.verify_reason for o in job.owners}))
        return ReapDecision(job, "skip", f"not verified as a task's job ({reasons}); never cancelled")
    if len({(o.dag_id, o.run_id, o.task_id, o.map_index) for o in verified}) > 1:
        return ReapDecision(job, "skip", "more than one task instance verifies as this job's owner; not cancelled")
    owner = verified[0]
    ti, run = _state(owner.ti_state), _state(owner.dag_run_state)
    if ti in ALIVE_TI_STATES:
        return ReapDecision(job, "keep", f"its task instance is {ti}", owner)
    if ti in HANDED_ON_TI_STATES:
        reason = "its task succeeded without waiting for the job (wait_for_completion=False): left to its reader"
        return ReapDecision(job, "keep", reason, owner)
    if ti in ENDED_TI_STATES:
        return ReapDecision(job, "cancel", f"its task instance is {ti}", owner)
    if run in ENDED_RUN_STATES:
        return ReapDecision(job, "cancel", f"its DAG run is {run} and its task instance is {ti}", owner)
    if ti in REATTACHING_TI_STATES:
        return ReapDecision(job, "keep", f"its task instance is {ti}: the next try reattaches to this job", owner)
    return ReapDecision(job, "keep", f"its task instance is in state {ti!r}, which is not known to have ended", owner)


def plan_reaping(jobs: list[LiveJob]) -> list[ReapDecision]:
    """One decision per live job, in the order given."""
    return [decide(job) for job in jobs]
