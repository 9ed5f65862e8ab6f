"""Find the job an earlier try created, by the idempotency key it carries. Pure: it reads an iterable of jobs.

Which jobs may be reattached: any not in FAILED, CANCELLED, EXPIRED or CANCELLING (those end without usable
results, so a new job is submitted). Among several candidates the newest wins.

Cost: on Vertex AI the list is filtered server-side by the key label, so the scan reads one short page. The
Gemini API has no list filter: the scan reads the newest jobs first and stops after ``stop_after_old``
consecutive jobs created before ``created_after`` (the DAG run's start minus a margin), or after ``max_scanned``
jobs. That is one list call per page of jobs created since the run started.

Example::

    job = find_keyed_job(client.batches.list(page_size=50), key, created_after=run_start - margin)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from airflow_provider_genai_batch.utils.idempotency import job_carries_key
from airflow_provider_genai_batch.utils.polling import short_state

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob

__all__ = ["NOT_REATTACHABLE_STATES", "KeyedJobScan", "find_keyed_job", "is_reattachable"]

NOT_REATTACHABLE_STATES = frozenset({"FAILED", "CANCELLED", "EXPIRED", "CANCELLING"})
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_reattachable(job: BatchJob) -> bool:
    """Whether a job may stand for this task instance's job (it is running or ended with results)."""
    return short_state(job.state) not in NOT_REATTACHABLE_STATES


def _created(job: BatchJob) -> dt.datetime:
    created = job.create_time
    if created is None:
        return _EPOCH
    return created if created.tzinfo else created.replace(tzinfo=dt.UTC)


class KeyedJobScan:
    """Feed jobs one by one; it remembers the best candidate and says when scanning may stop.

    Shared by the sync and async look-ups (``for`` and ``async for`` over the client's list).
    """

    def __init__(
        self,
        key: str,
        *,
        created_after: dt.datetime | None = None,
        stop_after_old: int = 20,
        max_scanned: int = 5000,
    ) -> None:
        self.key = key
        self.created_after = created_after
        self.stop_after_old = stop_after_old
        self.max_scanned = max_scanned
        self.scanned = 0
        self._old_in_a_row = 0
        self.best: BatchJob | None = None

    def feed(self, job: BatchJob) -> bool:
        """Look at one job; return False when the scan should stop."""
        self.scanned += 1
        candidate = job_carries_key(job.display_name, job.labels, self.key) and is_reattachable(job)
        if candidate and (self.best is None or _created(job) > _created(self.best)):
            self.best = job
        if self.created_after is not None and job.create_time is not None and _created(job) < self.created_after:
            self._old_in_a_row += 1
        else:
            self._old_in_a_row = 0
        if self.created_after is not None and self._old_in_a_row >= self.stop_after_old:
            return False
        return self.scanned < self.max_scanned


def find_keyed_job(
    jobs: Iterable[BatchJob],
    key: str,
    *,
    created_after: dt.datetime | None = None,
    stop_after_old: int = 20,
    max_scanned: int = 5000,
) -> BatchJob | None:
    """The newest reattachable job carrying ``key`` among ``jobs`` (read lazily, newest first)."""
    scan = KeyedJobScan(key, created_after=created_after, stop_after_old=stop_after_old, max_scanned=max_scanned)
    for job in jobs:
        if not scan.feed(job):
            break
    return scan.best
