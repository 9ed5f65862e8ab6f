"""The task's "Gen AI batch job" button: a link to the job's console page, read from XCom.

The operator pushes the URL under :data:`JOB_URL_XCOM_KEY` the moment the job exists; at the end of every
attempt, deferral included, the worker calls :meth:`GenAIBatchJobLink.get_link`, which reads it back, so the
button works while the task is deferred.

Example::

    class MyOperator(BaseOperator):
        operator_extra_links = (GenAIBatchJobLink(),)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["JOB_NAME_XCOM_KEY", "JOB_URL_XCOM_KEY", "KEY_PROOF_XCOM_KEY", "REATTACHED_XCOM_KEY", "GenAIBatchJobLink"]

JOB_NAME_XCOM_KEY = "genai_batch_job_name"
JOB_URL_XCOM_KEY = "genai_batch_job_url"
# Whether the task reattached to a job an earlier try created (read by execute_complete and the UI).
REATTACHED_XCOM_KEY = "genai_batch_reattached"
# The identity the job's idempotency key was derived from (``policy.idempotency.key_identity``): the UI
# re-derives the key from it and shows a job through a task only when the job carries that key.
KEY_PROOF_XCOM_KEY = "genai_batch_key_proof"


class GenAIBatchJobLink(BaseOperatorLink):
    """Link to the batch job in AI Studio (Gemini) or the Cloud Console (Vertex AI).

    Example::

        GenAIBatchJobLink().get_link(operator, ti_key=ti.key)   # '' until the job exists
    """

    name = "Gen AI batch job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The console URL the task pushed to XCom; an empty string when there is none yet, or when the value is
        not an ``https`` URL of a console we link to (an editor of the DAG can overwrite the XCom)."""
        from airflow.sdk.execution_time.xcom import XCom

        from airflow_provider_genai_batch.links.urls import safe_console_url

        value: Any = XCom.get_value(ti_key=ti_key, key=JOB_URL_XCOM_KEY)
        return safe_console_url(value) or ""
