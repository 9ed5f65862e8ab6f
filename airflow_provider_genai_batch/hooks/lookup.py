"""Find the job an earlier try created, by the idempotency key it carries. Pure: it reads an iterable of jobs.

Which jobs may be reattached: any not in FAILED, CANCELLED, EXPIRED or CANCELLING (those end without usable
results, so a new job is submitted). The scan stops at the first reattachable job carrying the key.

What the APIs offer (checked 2026-12):

- Vertex AI ``batchPredictionJobs.list`` takes an AIP-160 ``filter``: the scan reads one short page filtered by
  the key label.
- Gemini ``GET /v1beta/batches`` (``batches.list``, the standard ``google.longrunning`` ListOperations of
  https://ai.google.dev/api/batch-api#method:-batches.list) documents ``filter``, ``pageSize`` and ``pageToken``
  as "the standard list filter / page size / page token" and nothing more: no filter grammar, no maximum page
  size, no ordering, no retention of finished jobs. google-genai (3.3.0, ``batches.py``
  ``_ListBatchJobsConfig_to_mldev``) refuses ``filter`` on the Gemini API and sends only ``pageSize`` and
  ``pageToken``. So the scan cannot filter server-side and must not assume the list is newest-first.

Gemini scan, correct in any list order: it reads every listed job until the list ends, except when it may
prove that the rest cannot hold the key. That early stop is allowed only when every job read so far came in
newest-first order (creation times never increasing) and ``stop_after_old`` jobs in a row were created before
``created_after``: a bound that never moves (the DAG run's ``run_after`` minus a margin, which clearing a run
does not change). A list in any other order is read to its end. A scan that reaches ``max_scanned`` jobs
without an answer is *incomplete*: the caller must not take "not found" for an answer.

Example::

    scan = KeyedJobScan(key, created_after=run_after - margin)
    for job in client.batches.list(page_size=100):
        if not scan.feed(job):
            break
    scan.raise_if_incomplete()
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from airflow_provider_genai_batch.policy.defaults import DEFAULT_MAX_SCANNED
from airflow_provider_genai_batch.policy.idempotency import job_carries_key

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob

__all__ = [
    "DEFAULT_MAX_SCANNED",
    "KeyLookupIncompleteError",
    "KeyedJobScan",
    "find_keyed_job",
    "is_reattachable",
]

# Jobs older than the bound, in a row and in newest-first order, before the scan may stop (one full page).
DEFAULT_STOP_AFTER_OLD = 100
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class KeyLookupIncompleteError(Exception):
    """The look-up by idempotency key could not tell whether a job exists (budget spent or the list failed).

    Creating a job now could make a second one, so the try fails unless the operator was told otherwise
    (``on_incomplete_lookup="create"``).
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(
            f"The look-up of idempotency key {key} could not be completed: {reason}. Failing rather than risk a "
            "second paid job; set on_incomplete_lookup='create' to create a job anyway, or clean up old jobs "
            "(batches.delete) so the list is shorter."
        )
        self.key = key
        self.reason = reason


def is_reattachable(job: BatchJob) -> bool:
    """Whether a job may stand for this task instance's job (it is running or ended with results)."""
    return job.state.is_reattachable


def _created(job: BatchJob) -> dt.datetime:
    created = job.create_time
    if created is None:
        return _EPOCH
    return created if created.tzinfo else created.replace(tzinfo=dt.UTC)


class KeyedJobScan:
    """Feed jobs one by one; it keeps the match and says when scanning may stop (see the module docstring).

    Shared by the sync and async look-ups (``for`` and ``async for`` over the client's list). After the list
    ends or ``feed`` returns False, ``complete`` tells whether ``best`` is an answer.

    Example::

        scan = KeyedJobScan("0123456789abcdef01234567", created_after=bound)
        for job in jobs:
            if not scan.feed(job):
                break
        scan.raise_if_incomplete()
        job = scan.best
    """

    def __init__(
        self,
        key: str,
        *,
        created_after: dt.datetime | None = None,
        stop_after_old: int = DEFAULT_STOP_AFTER_OLD,
        max_scanned: int = DEFAULT_MAX_SCANNED,
    ) -> None:
        self.key = key
        self.created_after = created_after
        self.stop_after_old = max(1, stop_after_old)
        self.max_scanned = max_scanned
        self.scanned = 0
        self.best: BatchJob | None = None
        self.stopped_early = False
        self.newest_first = True
        self._old_in_a_row = 0
        self._previous: dt.datetime | None = None

    @property
    def complete(self) -> bool:
        """Whether the scan's answer can be trusted: a match, a proven early stop, or the whole list read."""
        return self.best is not None or self.stopped_early or self.scanned < self.max_scanned

    def feed(self, job: BatchJob) -> bool:
        """Look at one job; return False when the scan should stop."""
        self.scanned += 1
        if job_carries_key(job.display_name, job.labels, self.key) and is_reattachable(job):
            self.best = job
            return False
        created = _created(job)
        if job.create_time is None or (self._previous is not None and created > self._previous):
            self.newest_first = False  # not newest-first (or unknown): only the end of the list is an answer
        self._previous = created
        if self.created_after is not None and job.create_time is not None and created < self.created_after:
            self._old_in_a_row += 1
        else:
            self._old_in_a_row = 0
        if self.newest_first and self.created_after is not None and self._old_in_a_row >= self.stop_after_old:
            self.stopped_early = True
            return False
        return self.scanned < self.max_scanned

    def raise_if_incomplete(self) -> None:
        """Raise :class:`KeyLookupIncompleteError` when the budget ran out before an answer."""
        if not self.complete:
            raise KeyLookupIncompleteError(
                self.key,
                f"read {self.scanned} jobs (the budget) without finding it or reaching the end of the list",
            )


def find_keyed_job(
    jobs: Iterable[BatchJob],
    key: str,
    *,
    created_after: dt.datetime | None = None,
    stop_after_old: int = DEFAULT_STOP_AFTER_OLD,
    max_scanned: int = DEFAULT_MAX_SCANNED,
) -> BatchJob | None:
    """The first reattachable job carrying ``key`` among ``jobs``; raises when the budget ran out first."""
    scan = KeyedJobScan(key, created_after=created_after, stop_after_old=stop_after_old, max_scanned=max_scanned)
    for job in jobs:
        if not scan.feed(job):
            break
    scan.raise_if_incomplete()
    return scan.best
