"""Triggers for Google Gen AI batch jobs (read-only pollers)."""

from airflow_provider_genai_batch.triggers.genai_batch import GenAIBatchJobTrigger

__all__ = ["GenAIBatchJobTrigger"]
