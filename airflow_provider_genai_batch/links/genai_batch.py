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

__all__ = ["JOB_NAME_XCOM_KEY", "JOB_URL_XCOM_KEY", "REATTACHED_XCOM_KEY", "GenAIBatchJobLink"]

JOB_NAME_XCOM_KEY = "genai_batch_job_name"
JOB_URL_XCOM_KEY = "genai_batch_job_url"
# Whether the task reattached to a job an earlier try created (read by execute_complete and the UI).
REATTACHED_XCOM_KEY = "genai_batch_reattached"


class GenAIBatchJobLink(BaseOperatorLink):
    """Link to the batch job in AI Studio (Gemini) or the Cloud Console (Vertex AI).

    Example::

        GenAIBatchJobLink().get_link(operator, ti_key=ti.key)   # '' until the job exists
    """

    name = "Gen AI batch job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The URL the task pushed to XCom, or an empty string when there is none yet."""
        from airflow.sdk.execution_time.xcom import XCom

        value: Any = XCom.get_value(ti_key=ti_key, key=JOB_URL_XCOM_KEY)
        return value if isinstance(value, str) else ""
