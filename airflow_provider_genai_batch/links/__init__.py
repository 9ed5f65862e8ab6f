"""Operator extra links of the provider."""

from airflow_provider_genai_batch.links.genai_batch import JOB_URL_XCOM_KEY, GenAIBatchJobLink

__all__ = ["JOB_URL_XCOM_KEY", "GenAIBatchJobLink"]
