"""Find the job an earlier try created, by the idempotency key it carries.

The one look-up-by-key of the provider: the create operators (``GenAIBatchHook.scan_jobs_by_key``) and the
common-ai adapters (``find_orphaned_batch``) both call :func:`scan_listed_jobs` with their client's batches, so
they follow the same rules (only ``prefer`` differs: see below):

- A *candidate* carries one of the keys (display name ``--gbk-<key>`` or the Vertex label), is reattachable (not
  FAILED, CANCELLED, EXPIRED or CANCELLING: those end without usable results, so a new job is submitted) and,
  when ``not_before`` is given, was created at or after it.
- The scan reads the whole list (Vertex AI: the short page its label filter returns; Gemini: every listed job)
  and picks one candidate by a deterministic rule: the earliest ``createTime``, ties broken by name
  (``prefer="earliest"``, the survivor of duplicates that overlapping tries may create), or the newest
  (``prefer="newest"``, what common-ai asks of ``find_orphaned_batch``). Every candidate is kept in
  ``candidates``, so a caller can cancel the duplicates.
- It never stops early on an assumed order. Vertex AI filters by label server-side, so its answer is exact.
  Gemini's ``batches.list`` documents no order, filter grammar or retention (``/v1beta/batches``: only
  ``pageSize``, ``pageToken`` and "the standard list filter", which google-genai refuses to send), and lists
  have been seen unfinished-first, then finished: any early stop on a date would be a guess. A scan that reads
  ``max_scanned`` jobs without reaching the end of the list and without a candidate is *incomplete*: the
  caller must fail loudly rather than take "not found" for an answer (:meth:`KeyedJobScan.raise_if_incomplete`).
- A finished list entry that carries a key but does not say where its results are (``client.client.needs_refetch``)
  is read again (one ``get``) before it is judged: Gemini's list entries are sparse (no ``output``) and a
  finished job's counts there are stale, so a reattached job would report no results and 0 succeeded requests.
  A keyed job deleted between the list and the read is no candidate. Unfinished entries are taken as listed
  (whoever waits for one reads it again), so the check after a create costs no read.
- The keys carry the deployment identity (``airflow_provider_genai_batch.deployment``); callers pass every key
  they accept (the legacy key without it while ``[genai_batch] accept_legacy_keys`` is on).

:class:`KeyedJobScan` holds the rules and is pure (it is fed jobs); :func:`scan_listed_jobs` is the loop.

Example::

    scan = scan_listed_jobs(client.batches, "gemini", KeyedJobScan(key))   # raises KeyLookupIncompleteError
    job = scan.best
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, Protocol

from airflow_provider_genai_batch.policy.defaults import DEFAULT_MAX_SCANNED
from airflow_provider_genai_batch.policy.idempotency import key_from_display_name, key_from_labels, vertex_key_filter

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.models import BatchJob

__all__ = [
    "DEFAULT_MAX_SCANNED",
    "LOOKUP_PAGE_SIZE",
    "JobReader",
    "KeyLookupIncompleteError",
    "KeyedJobScan",
    "find_keyed_job",
    "is_reattachable",
    "scan_listed_jobs",
    "survivor_order",
]

# Page size of the look-up by idempotency key. Neither API documents a maximum for its batch list (Gemini's
# batches.list says only "the standard list page size"; the Gemini Files API documents a maximum of 100, and
# AIP-158 has a service lower a larger value to its maximum rather than fail). 100 is the largest size we can
# rely on: one list call reads up to 100 jobs.
LOOKUP_PAGE_SIZE = 100

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


def survivor_order(job: BatchJob) -> tuple[dt.datetime, str]:
    """The sort key that makes the earliest-created job (ties: the smallest name) the survivor of duplicates."""
    return _created(job), job.name


class KeyedJobScan:
    """Feed jobs one by one; it keeps every candidate and says when scanning must stop (the budget).

    Shared by the sync and async look-ups (``for`` and ``async for`` over the client's list), the operators'
    and the common-ai adapters'. After the list ends or ``feed`` returns False, ``complete`` tells whether
    ``best`` is an answer.

    Example::

        scan = KeyedJobScan(["0123456789abcdef01234567"], not_before=bound)
        for job in jobs:
            if not scan.feed(job):
                break
        scan.raise_if_incomplete()
        job = scan.best
    """

    def __init__(
        self,
        keys: str | Iterable[str],
        *,
        not_before: dt.datetime | None = None,
        max_scanned: int = DEFAULT_MAX_SCANNED,
        prefer: Literal["earliest", "newest"] = "earliest",
        accept_ended: bool = False,
    ) -> None:
        #: Whether a job that ended badly (FAILED, CANCELLED, EXPIRED) is a candidate too: a completion
        #: policy's attempt, whose open rows its follow-up resubmits, is never replaced by a second job.
        self.accept_ended = accept_ended
        self.keys = (keys,) if isinstance(keys, str) else tuple(keys)
        if not self.keys:
            raise ValueError("KeyedJobScan needs at least one key")
        self.key = self.keys[0]
        self.not_before = not_before if not_before is None or not_before.tzinfo else not_before.replace(tzinfo=dt.UTC)
        self.max_scanned = max(1, max_scanned)
        self.prefer = prefer
        self.scanned = 0
        self.candidates: list[BatchJob] = []

    def carries_key(self, job: BatchJob) -> bool:
        """Whether ``job`` carries one of the scan's keys."""
        return key_from_labels(job.labels) in self.keys or key_from_display_name(job.display_name) in self.keys

    def feed(self, job: BatchJob | None) -> bool:
        """Look at one job (None: a listed job that is gone); return False when the budget is spent (the caller
        stops reading the list)."""
        self.scanned += 1
        if (
            job is not None
            and self.carries_key(job)
            and (self.accept_ended or is_reattachable(job))
            and (self.not_before is None or (job.create_time is not None and _created(job) >= self.not_before))
            and all(job.name != seen.name for seen in self.candidates)
        ):
            self.candidates.append(job)
        return self.scanned < self.max_scanned

    @property
    def best(self) -> BatchJob | None:
        """The candidate chosen by ``prefer`` (earliest: the survivor of duplicates), or None."""
        if not self.candidates:
            return None
        if self.prefer == "newest":
            return max(self.candidates, key=survivor_order)
        return min(self.candidates, key=survivor_order)

    @property
    def duplicates(self) -> list[BatchJob]:
        """Every candidate but ``best``: jobs of the same key that overlapping tries created."""
        best = self.best
        return [job for job in self.candidates if best is None or job.name != best.name]

    @property
    def complete(self) -> bool:
        """Whether the scan's answer can be trusted: a candidate found, or the whole list read."""
        return bool(self.candidates) or self.scanned < self.max_scanned

    def raise_if_incomplete(self) -> None:
        """Raise :class:`KeyLookupIncompleteError` when the budget ran out before an answer."""
        if not self.complete:
            raise KeyLookupIncompleteError(
                self.key,
                f"read {self.scanned} jobs (the budget) without finding it or reaching the end of the list",
            )


def find_keyed_job(
    jobs: Iterable[BatchJob],
    keys: str | Iterable[str],
    *,
    not_before: dt.datetime | None = None,
    max_scanned: int = DEFAULT_MAX_SCANNED,
    prefer: Literal["earliest", "newest"] = "earliest",
) -> BatchJob | None:
    """The candidate carrying one of ``keys`` among ``jobs`` (see the module docstring); raises when the budget
    ran out first."""
    scan = KeyedJobScan(keys, not_before=not_before, max_scanned=max_scanned, prefer=prefer)
    for job in jobs:
        if not scan.feed(job):
            break
    scan.raise_if_incomplete()
    return scan.best


class JobReader(Protocol):
    """What the look-up reads jobs through: the sync client's ``batches`` (``client.batches``)."""

    def list(self, *, page_size: int | None = None, filter: str | None = None) -> Iterable[BatchJob]:
        """Every job, page after page (``filter``: Vertex AI only)."""

    def get(self, *, name: str) -> BatchJob:
        """One job, read again."""


def scan_listed_jobs(batches: JobReader, backend: str, scan: KeyedJobScan) -> KeyedJobScan:
    """``scan`` fed every listed job that may carry one of its keys, complete (see the module docstring).

    Vertex AI: one list call filtered by the key label per key. Gemini: the whole list, page after page of
    ``LOOKUP_PAGE_SIZE``, up to the scan's budget. Raises :class:`KeyLookupIncompleteError` when the budget ran
    out first; list and read errors propagate (the caller treats them as "unknown", never as "absent").

    Example::

        scan = scan_listed_jobs(client.batches, "gemini", KeyedJobScan(keys, not_before=bound))
        job = scan.best
    """
    filters: list[str | None] = [vertex_key_filter(key) for key in scan.keys] if backend == "vertex" else [None]
    for list_filter in filters:
        listed = batches.list(page_size=LOOKUP_PAGE_SIZE, filter=list_filter)
        if not all(scan.feed(_read_again(batches, scan, job)) for job in listed):
            break  # the budget is spent
    scan.raise_if_incomplete()
    return scan


def _read_again(batches: JobReader, scan: KeyedJobScan, job: BatchJob) -> BatchJob | None:
    """``job`` as a ``get`` answers it when it carries a key, has ended and its list entry does not say where its
    results are; None when it was deleted meanwhile."""
    from airflow_provider_genai_batch.client.client import needs_refetch
    from airflow_provider_genai_batch.client.errors import NotFoundError

    if not (job.done and scan.carries_key(job) and needs_refetch(job)):
        return job
    try:
        return batches.get(name=job.name)
    except NotFoundError:
        return None
