"""Sensors for Google Gen AI batch jobs."""

from airflow_provider_genai_batch.sensors.genai_batch import GenAIBatchJobSensor

__all__ = ["GenAIBatchJobSensor"]
