"""The task's "Gen AI batch job" button: a link to the job's console page, read from XCom.

The operator pushes the URL under :data:`JOB_URL_XCOM_KEY` the moment the job exists; at the end of every
attempt, deferral included, the worker calls :meth:`GenAIBatchJobLink.get_link`, which reads it back, so the
button works while the task is deferred. An operator of this provider says whether this try has a job yet
(:func:`mark_job_pushed`): a task that failed before it got one gets an empty link without a read of an XCom that
is not there (Airflow logs such a read as an error, a second, misleading one next to the task's real failure).

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

__all__ = [
    "JOB_NAME_XCOM_KEY",
    "JOB_URL_XCOM_KEY",
    "KEY_PROOF_XCOM_KEY",
    "REATTACHED_XCOM_KEY",
    "GenAIBatchJobLink",
    "mark_job_pushed",
]

JOB_NAME_XCOM_KEY = "genai_batch_job_name"
JOB_URL_XCOM_KEY = "genai_batch_job_url"
# Whether the task reattached to a job an earlier try created (read by execute_complete and the UI).
REATTACHED_XCOM_KEY = "genai_batch_reattached"
# The identity the job's idempotency key was derived from (``policy.idempotency.key_identity``): the UI
# re-derives the key from it and shows a job through a task only when the job carries that key.
KEY_PROOF_XCOM_KEY = "genai_batch_key_proof"
# On an operator: whether this try's XCom holds the job's URL (True), or no job exists yet (False). Absent on
# operators that do not set it: the XCom is read.
_JOB_PUSHED_ATTRIBUTE = "_genai_batch_job_pushed"


def mark_job_pushed(operator: object, pushed: bool = True) -> None:
    """Record on ``operator`` whether this try has pushed its job's URL: ``False`` in ``__init__``, ``True`` when
    the URL is pushed and when a deferred try resumes (it deferred only after pushing).

    Example::

        mark_job_pushed(self, False)   # in __init__: no job yet, the link stays empty without an XCom read
    """
    setattr(operator, _JOB_PUSHED_ATTRIBUTE, pushed)


class GenAIBatchJobLink(BaseOperatorLink):
    """Link to the batch job in AI Studio (Gemini) or the Cloud Console (Vertex AI).

    Example::

        GenAIBatchJobLink().get_link(operator, ti_key=ti.key)   # '' until the job exists
    """

    name = "Gen AI batch job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The console URL the task pushed to XCom; an empty string when there is none yet, or when the value is
        not an ``https`` URL of a console we link to (an editor of the DAG can overwrite the XCom). No XCom is read
        when the operator says its try has no job (it failed before getting one)."""
        if getattr(operator, _JOB_PUSHED_ATTRIBUTE, True) is False:
            return ""
        from airflow.sdk.execution_time.xcom import XCom

        from airflow_provider_genai_batch.links.urls import safe_console_url

        value: Any = XCom.get_value(ti_key=ti_key, key=JOB_URL_XCOM_KEY)
        return safe_console_url(value) or ""
