"""Task failures of this provider: each names the job and why it ended (never a credential)."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.1: the task SDK does not re-export it yet
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined,unused-ignore]

__all__ = [
    "GenAIBatchJobEndedError",
    "GenAIBatchJobFailedError",
    "GenAIBatchJobStuckError",
    "GenAIBatchJobTimeoutError",
    "GenAIBatchPollingError",
    "GenAIBatchTaskTimeoutError",
]


class GenAIBatchJobFailedError(AirflowException):
    """The job ended FAILED, CANCELLED or EXPIRED, or with more failed requests than allowed."""


class GenAIBatchJobTimeoutError(AirflowException):
    """The job was still unfinished at the task's ``timeout``."""


class GenAIBatchPollingError(AirflowException):
    """Reading the job's state kept failing; the job itself may still be running (a retry reattaches)."""


class GenAIBatchJobEndedError(AirflowFailException, GenAIBatchJobFailedError):
    """The sensor's job ended without passing: the task fails without retries (they would re-read the same job)."""


class GenAIBatchTaskTimeoutError(AirflowFailException, GenAIBatchJobTimeoutError):
    """The create operator's ``timeout``, counted from the job's creation, passed: the task fails without retries
    (a retry would reattach to the same job past the same deadline, or pay for a new one)."""


class GenAIBatchJobStuckError(GenAIBatchJobFailedError):
    """A completion policy with ``on_stuck="fail"`` saw the job make no progress for too long; the job was left
    running (a retry reattaches to it)."""
