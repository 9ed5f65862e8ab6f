"""Operators for existing jobs: get, list, cancel, delete. Each returns a small JSON-able value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.links.genai_batch import GenAIBatchJobLink
from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID, GenAIBatchBaseOperator
from airflow_provider_genai_batch.operators._inputs import OperatorInputError, check_job_name

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_genai_batch.client.models import BatchJob

__all__ = [
    "GenAIBatchCancelJobOperator",
    "GenAIBatchDeleteJobOperator",
    "GenAIBatchGetJobOperator",
    "GenAIBatchListJobsOperator",
    "job_name_from",
]


def job_name_from(value: Any, parameter: str = "name") -> str:
    """A job name given as a string or as the manifest a create operator returned."""
    if isinstance(value, dict) and "job_name" in value:
        value = value["job_name"]
    return check_job_name(value, parameter)


class GenAIBatchGetJobOperator(GenAIBatchBaseOperator):
    """Read a job and return its manifest (state, counts, where the results are).

    :param name: the job name, or a create operator's manifest (templated).

    Example::

        GenAIBatchGetJobOperator(task_id="status", name="{{ ti.xcom_pull('summarise')['job_name'] }}")
    """

    template_fields: Sequence[str] = ("name", "genai_batch_conn_id")
    operator_extra_links = (GenAIBatchJobLink(),)

    def __init__(self, *, name: Any, genai_batch_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(genai_batch_conn_id=genai_batch_conn_id, **kwargs)
        self.name = name

    def execute(self, context: Context) -> dict[str, Any]:
        """Return the job's manifest."""
        from airflow_provider_genai_batch.operators._outcome import manifest_for

        job = self.act(self.read(context))
        return manifest_for(self.hook, job, reattached=False)

    def read(self, context: Context) -> BatchJob:
        """The named job, its name pushed to XCom for the console link."""
        job = self.hook.get_job(job_name_from(self.name))
        self.push_job(context, job.name)
        return job

    def act(self, job: BatchJob) -> BatchJob:
        """What to do with the job once read (nothing: this operator only reads); returns the job to report."""
        return job


class GenAIBatchListJobsOperator(GenAIBatchBaseOperator):
    """List jobs, newest first, and return up to ``max_jobs`` manifests.

    :param page_size: jobs per API call.
    :param filter: Vertex AI only, AIP-160 syntax, e.g. ``state="JOB_STATE_SUCCEEDED"`` (templated).
    :param max_jobs: the most manifests returned (XCom stays small).

    Example::

        GenAIBatchListJobsOperator(task_id="recent", max_jobs=20)
    """

    template_fields: Sequence[str] = ("filter", "genai_batch_conn_id")

    def __init__(
        self,
        *,
        page_size: int | None = None,
        filter: str | None = None,
        max_jobs: int = 100,
        genai_batch_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(genai_batch_conn_id=genai_batch_conn_id, **kwargs)
        if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
            raise OperatorInputError("max_jobs", f"must be an integer >= 1, got {max_jobs!r}", "pass e.g. 100")
        if page_size is not None and (isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1):
            raise OperatorInputError("page_size", f"must be an integer >= 1, got {page_size!r}", "pass e.g. 50")
        self.page_size = page_size
        self.filter = filter
        self.max_jobs = max_jobs

    def execute(self, context: Context) -> list[dict[str, Any]]:
        """Return the manifests of the newest ``max_jobs`` jobs."""
        from airflow_provider_genai_batch.operators._outcome import manifest_for

        if self.filter is not None and not isinstance(self.filter, str):
            raise OperatorInputError("filter", f"must be a string, got {type(self.filter).__name__}", "pass a string")
        page_size = self.page_size or min(self.max_jobs, 100)
        manifests: list[dict[str, Any]] = []
        for job in self.hook.list_jobs(page_size=page_size, filter=self.filter or None):
            manifests.append(manifest_for(self.hook, job, reattached=False))
            if len(manifests) >= self.max_jobs:
                break
        self.log.info("Listed %d jobs", len(manifests))
        return manifests


class GenAIBatchCancelJobOperator(GenAIBatchGetJobOperator):
    """Ask the service to cancel a job; a job that already ended is left as it is.

    A job that ends between the read and the cancel (the service answers ``400 FAILED_PRECONDITION``) is read
    again: if it has ended, the task succeeds and returns the job's terminal state; otherwise the error stands.

    :param name: the job name, or a create operator's manifest (templated).

    Example::

        GenAIBatchCancelJobOperator(task_id="stop", name="batches/abc")
    """

    def act(self, job: BatchJob) -> BatchJob:
        """Cancel the job unless it already ended; the job as it is after the request."""
        if job.done:
            self.log.info("%s already ended (%s); nothing to cancel", job.name, job.state.short)
            return job
        from airflow_provider_genai_batch.client.errors import BadRequestError, ConflictError

        try:
            self.hook.cancel_job(job.name)
        except (BadRequestError, ConflictError) as exc:
            ended = self.hook.get_job(job.name)
            if not ended.done:
                raise
            self.log.info("%s ended before it could be cancelled (%s): %s", job.name, ended.state.short, exc)
            return ended
        self.log.info("Cancellation of %s requested", job.name)
        return self.hook.get_job(job.name)


class GenAIBatchDeleteJobOperator(GenAIBatchBaseOperator):
    """Delete a job (its results go with it on Gemini).

    :param name: the job name, or a create operator's manifest (templated).
    :param ignore_missing: succeed when the job does not exist.

    Example::

        GenAIBatchDeleteJobOperator(task_id="cleanup", name="batches/abc")
    """

    template_fields: Sequence[str] = ("name", "genai_batch_conn_id")

    def __init__(
        self,
        *,
        name: Any,
        ignore_missing: bool = True,
        genai_batch_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(genai_batch_conn_id=genai_batch_conn_id, **kwargs)
        self.name = name
        self.ignore_missing = ignore_missing

    def execute(self, context: Context) -> str:
        """Delete the job; return its name."""
        from airflow_provider_genai_batch.client.errors import NotFoundError

        name = job_name_from(self.name)
        try:
            self.hook.delete_job(name)
        except NotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("%s does not exist; nothing to delete", name)
            return name
        self.log.info("Deleted %s", name)
        return name
