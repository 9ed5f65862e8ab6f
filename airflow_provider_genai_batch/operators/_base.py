"""What every operator of this provider shares: the connection id, a lazily built hook, job XComs."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_genai_batch.links.genai_batch import (
    JOB_NAME_XCOM_KEY,
    JOB_URL_XCOM_KEY,
    KEY_PROOF_XCOM_KEY,
    REATTACHED_XCOM_KEY,
    mark_job_pushed,
)
from airflow_provider_genai_batch.policy.defaults import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

__all__ = ["DEFAULT_CONN_ID", "REATTACHED_XCOM_KEY", "GenAIBatchBaseOperator"]


class GenAIBatchBaseOperator(BaseOperator):
    """Base of the provider's operators: ``genai_batch_conn_id`` and a hook built on first use."""

    def __init__(self, *, genai_batch_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.genai_batch_conn_id = genai_batch_conn_id
        mark_job_pushed(self, False)  # no console link (and no XCom read for one) until a job exists

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after a deferral: the job's URL was pushed before deferring, so the link reads it."""
        mark_job_pushed(self)
        return super().resume_execution(next_method, next_kwargs, context)

    def _dag_fileloc(self) -> str | None:
        """The DAG file this task was defined in (relative local paths are read from its folder), if known."""
        fileloc = getattr(self.get_dag(), "fileloc", None)
        return fileloc if isinstance(fileloc, str) and fileloc else None

    @cached_property
    def hook(self) -> GenAIBatchHook:
        """The hook of ``genai_batch_conn_id`` (imports the client on first use, never at DAG parse)."""
        from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

        return GenAIBatchHook(genai_batch_conn_id=self.genai_batch_conn_id)

    def push_job(
        self,
        context: Context,
        job_name: str,
        *,
        reattached: bool | None = None,
        key_proof: list[Any] | None = None,
    ) -> None:
        """Push the job name and console URL (for the extra link) to XCom at once; a created job's key proof
        (what its key was derived from) lets the UI check that the job belongs to this task."""
        ti = context["ti"]
        ti.xcom_push(key=JOB_NAME_XCOM_KEY, value=job_name)
        ti.xcom_push(key=JOB_URL_XCOM_KEY, value=self.hook.console_url(job_name))
        mark_job_pushed(self)
        if reattached is not None:
            ti.xcom_push(key=REATTACHED_XCOM_KEY, value=reattached)
        if key_proof is not None:
            ti.xcom_push(key=KEY_PROOF_XCOM_KEY, value=key_proof)
