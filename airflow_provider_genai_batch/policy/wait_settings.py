"""How a create operator, the sensor and the trigger wait: one frozen value, validated once, with its defaults
written once (``policy.defaults``).

``WaitSettings`` holds the wait parameters users pass (``poll_interval``, ``min_poll_interval``,
``max_failure_ratio``, ``max_consecutive_poll_errors``, ``cancel_on_kill``, ``webhook_fallback_interval``) and gives
what each caller needs: the polling schedule (with or without a webhook receiver armed for the job), the
partial-failure policy, a ``JobWatch``, the deferral's timeout and the trigger's kwargs (plain JSON, never a secret).
Cheap to import: the standard library and the other pure policy modules only.

Example::

    wait = WaitSettings(poll_interval=60)             # InvalidInputError on a bad value, before any call
    wait.schedule.interval(elapsed_seconds=3600)      # 60.0
    WaitSettings.from_kwargs(wait.to_kwargs()) == wait
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypedDict, cast

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.policy.defaults import (
    DEFAULT_MAX_CONSECUTIVE_POLL_ERRORS,
    DEFAULT_MAX_FAILURE_RATIO,
    DEFAULT_MIN_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WEBHOOK_FALLBACK_INTERVAL,
    DEFER_TIMEOUT_MARGIN,
)

if TYPE_CHECKING:
    from airflow_provider_genai_batch.policy.completion import StuckWatch
    from airflow_provider_genai_batch.policy.polling import PartialFailurePolicy, PollingSchedule
    from airflow_provider_genai_batch.policy.waiting import JobWatch

__all__ = [
    "CREATE_WAIT",
    "DEFAULT_WAIT",
    "WaitKwargs",
    "WaitSettings",
    "check_count",
    "check_flag",
    "check_positive_seconds",
    "check_ratio",
]


class WaitKwargs(TypedDict):
    """The settings as keyword arguments: the trigger's, stored in the metadata DB (plain JSON)."""

    poll_interval: float
    min_poll_interval: float
    max_failure_ratio: float
    max_consecutive_poll_errors: int
    cancel_on_kill: bool
    webhook_fallback_interval: float


def check_positive_seconds(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    """A number of seconds > 0 (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InvalidInputError(name, f"must be a number of seconds > 0, got {value!r}", f"pass e.g. {name}=60")
    return float(value)


def check_ratio(name: str, value: Any) -> float:
    """A number within [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidInputError(
            name, f"must be a number within [0, 1], got {value!r}", f"pass e.g. {name}=0.05 to tolerate 5 %"
        )
    return float(value)


def check_count(name: str, value: Any) -> int:
    """An integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(name, f"must be an integer >= 1, got {value!r}", f"pass e.g. {name}=5")
    return value


def check_flag(name: str, value: Any) -> bool:
    """True or False (not a truthy string such as ``"false"``)."""
    if not isinstance(value, bool):
        raise InvalidInputError(name, f"must be True or False, got {value!r}", "pass True or False")
    return value


def _seconds(name: str, value: Any) -> float:
    seconds = check_positive_seconds(name, value)
    assert seconds is not None
    return seconds


@dataclass(frozen=True)
class WaitSettings:
    """The wait parameters of a create operator, the sensor and the trigger, checked when built.

    Every field is checked in ``__post_init__``: a bad value raises ``InvalidInputError(field, problem, fix)``
    when the operator is built (DAG parse), before any network call. Numbers are kept as floats (the count as an
    int), so equal settings compare and serialize equal however they were written.

    - ``poll_interval``: the longest wait between two polls, seconds (the schedule's cap).
    - ``min_poll_interval``: the first and shortest wait, seconds (the schedule's floor).
    - ``max_failure_ratio``: failed/total requests tolerated in a finished job (0: any failure fails).
    - ``max_consecutive_poll_errors``: transient poll errors in a row before the wait gives up.
    - ``cancel_on_kill``: cancel the job when the task is killed (the create operators default to True:
      :data:`CREATE_WAIT`).
    - ``webhook_fallback_interval``: with a webhook receiver armed for the job, polling is only the fallback for a
      lost delivery: polls are at least this many seconds apart (the deadline still shortens a wait).
    """

    poll_interval: float = DEFAULT_POLL_INTERVAL
    min_poll_interval: float = DEFAULT_MIN_POLL_INTERVAL
    max_failure_ratio: float = DEFAULT_MAX_FAILURE_RATIO
    max_consecutive_poll_errors: int = DEFAULT_MAX_CONSECUTIVE_POLL_ERRORS
    cancel_on_kill: bool = False
    webhook_fallback_interval: float = DEFAULT_WEBHOOK_FALLBACK_INTERVAL

    def __post_init__(self) -> None:
        checked = {
            "poll_interval": _seconds("poll_interval", self.poll_interval),
            "min_poll_interval": _seconds("min_poll_interval", self.min_poll_interval),
            "max_failure_ratio": check_ratio("max_failure_ratio", self.max_failure_ratio),
            "max_consecutive_poll_errors": check_count("max_consecutive_poll_errors", self.max_consecutive_poll_errors),
            "cancel_on_kill": check_flag("cancel_on_kill", self.cancel_on_kill),
            "webhook_fallback_interval": _seconds("webhook_fallback_interval", self.webhook_fallback_interval),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> WaitSettings:
        """The settings among ``kwargs``, others ignored; absent fields take their defaults. The operators, the
        sensor and the trigger pass their ``locals()``, so their public keyword parameters become one value without
        each listing the fields again."""
        return cls(**{f.name: kwargs[f.name] for f in fields(cls) if f.name in kwargs})

    def to_kwargs(self) -> WaitKwargs:
        """The fields as plain JSON values (trigger kwargs are stored in the metadata DB): numbers and a flag."""
        return cast(WaitKwargs, {f.name: getattr(self, f.name) for f in fields(self)})

    @property
    def schedule(self) -> PollingSchedule:
        """The adaptive polling schedule: from ``min_poll_interval`` growing with the elapsed time to
        ``poll_interval``."""
        from airflow_provider_genai_batch.policy.polling import PollingSchedule

        return PollingSchedule(min_interval=self.min_poll_interval, max_interval=self.poll_interval)

    def schedule_for(self, *, webhook_armed: bool) -> PollingSchedule:
        """The schedule of a wait; with a webhook receiver armed for the job, polls are at least
        ``webhook_fallback_interval`` apart (the floor, the error back-off and the deadline's cap stay the
        adaptive schedule's, so a wait still wakes for its deadline)."""
        from airflow_provider_genai_batch.policy.polling import PollingSchedule

        if not webhook_armed:
            return self.schedule
        return PollingSchedule(
            min_interval=self.min_poll_interval,
            max_interval=self.poll_interval,
            at_least=self.webhook_fallback_interval,
        )

    @property
    def partial(self) -> PartialFailurePolicy:
        """The partial-failure policy of ``max_failure_ratio``."""
        from airflow_provider_genai_batch.policy.polling import PartialFailurePolicy

        return PartialFailurePolicy(max_failure_ratio=self.max_failure_ratio)

    def defer_timeout(self, seconds_to_deadline: float) -> float:
        """The deferral's own timeout, seconds: past the trigger's deadline by one poll and a margin, so the
        trigger's clean ``timeout`` event arrives before Airflow's ``TaskDeferralTimeout``."""
        return max(0.0, seconds_to_deadline) + self.poll_interval + DEFER_TIMEOUT_MARGIN

    def watch(
        self,
        job_name: str,
        *,
        started_at: float,
        deadline: float | None,
        log: Any,
        partial: PartialFailurePolicy | None = None,
        stuck: StuckWatch | None = None,
        webhook_armed: bool = False,
    ) -> JobWatch:
        """The ``JobWatch`` of one wait on these settings (``partial`` overrides ``max_failure_ratio``'s)."""
        from airflow_provider_genai_batch.policy.waiting import JobWatch

        return JobWatch(
            job_name,
            started_at=started_at,
            deadline=deadline,
            schedule=self.schedule_for(webhook_armed=webhook_armed),
            partial=partial or self.partial,
            max_consecutive_poll_errors=self.max_consecutive_poll_errors,
            log=log,
            stuck=stuck,
        )


#: The default settings: the sensor's and the trigger's.
DEFAULT_WAIT = WaitSettings()
#: The create operators' defaults: a job the task created is the task's to cancel when the task is killed.
CREATE_WAIT = WaitSettings(cancel_on_kill=True)
