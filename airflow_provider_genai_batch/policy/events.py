"""The trigger's terminal event: built in one place, validated in one place. Pure.

Payload: ``{"status": "success" | "error" | "timeout" | "stuck", "job_name", "state", "reason", "manifest"?}``
("stuck": a completion policy's stuck watch fired; the job still runs and the worker decides what follows). Any other
status, a missing job name or a payload that is not a mapping is rejected: an unrecognised event never
becomes success.

Example::

    payload = JobEvent(status="success", job_name="batches/abc", state="JOB_STATE_SUCCEEDED").to_payload()
    validate_event(payload).succeeded   # True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from airflow_provider_genai_batch.policy.polling import Decision, DecisionKind

__all__ = ["EVENT_STATUSES", "InvalidTriggerEventError", "JobEvent", "event_for_decision", "validate_event"]

EventStatus = Literal["success", "error", "timeout", "stuck"]
EVENT_STATUSES: tuple[EventStatus, ...] = ("success", "error", "timeout", "stuck")


class InvalidTriggerEventError(ValueError):
    """The event a task resumed with is not one this provider's trigger emits."""


@dataclass(frozen=True)
class JobEvent:
    """One terminal event of :class:`~airflow_provider_genai_batch.triggers.GenAIBatchJobTrigger`."""

    status: EventStatus
    job_name: str
    state: str | None = None
    reason: str = ""
    manifest: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        """True only for ``status == "success"``."""
        return self.status == "success"

    def to_payload(self) -> dict[str, Any]:
        """The JSON-able dict the trigger yields."""
        payload: dict[str, Any] = {
            "status": self.status,
            "job_name": self.job_name,
            "state": self.state,
            "reason": self.reason,
        }
        if self.manifest is not None:
            payload["manifest"] = self.manifest
        return payload


def event_for_decision(
    decision: Decision, *, job_name: str, state: str | None, manifest: dict[str, Any] | None
) -> JobEvent:
    """The terminal event for a DONE or FAILED decision (a WAIT has no event)."""
    if decision.kind is DecisionKind.WAIT:
        raise ValueError("a WAIT decision has no terminal event")
    status: EventStatus = "success" if decision.kind is DecisionKind.DONE else "error"
    if decision.timed_out:
        status = "timeout"
    elif decision.stuck:
        status = "stuck"
    return JobEvent(status=status, job_name=job_name, state=state, reason=decision.reason, manifest=manifest)


def validate_event(payload: Any) -> JobEvent:
    """Check a resumed task's event; raise :class:`InvalidTriggerEventError` naming what is wrong."""
    if not isinstance(payload, dict):
        raise InvalidTriggerEventError(
            f"the trigger event is a {type(payload).__name__}, not a mapping; the task cannot tell how the job ended"
        )
    status = payload.get("status")
    if status not in EVENT_STATUSES:
        raise InvalidTriggerEventError(
            f"the trigger event has status {status!r}; expected one of {', '.join(EVENT_STATUSES)}"
        )
    job_name = payload.get("job_name")
    if not isinstance(job_name, str) or not job_name:
        raise InvalidTriggerEventError("the trigger event has no job_name")
    state = payload.get("state")
    reason = payload.get("reason")
    manifest = payload.get("manifest")
    return JobEvent(
        status=cast(EventStatus, status),
        job_name=job_name,
        state=state if isinstance(state, str) else None,
        reason=reason if isinstance(reason, str) else "",
        manifest=manifest if isinstance(manifest, dict) else None,
    )
