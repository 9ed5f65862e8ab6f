"""Operators for Google Gen AI batch jobs.

Importing this package is cheap: it imports neither the batch client, google-auth, nor google-genai; those are
imported inside ``execute()``.
"""

from airflow_provider_genai_batch.operators.create import (
    GenAIBatchCreateEmbeddingsJobOperator,
    GenAIBatchCreateJobOperator,
)
from airflow_provider_genai_batch.operators.jobs import (
    GenAIBatchCancelJobOperator,
    GenAIBatchDeleteJobOperator,
    GenAIBatchGetJobOperator,
    GenAIBatchListJobsOperator,
)
from airflow_provider_genai_batch.operators.reaper import GenAIBatchReapOrphansOperator
from airflow_provider_genai_batch.operators.results import GenAIBatchWriteResultsOperator
from airflow_provider_genai_batch.operators.sharding import GenAIBatchCombineResultsOperator, GenAIBatchSplitOperator
from airflow_provider_genai_batch.operators.webhooks import GenAIBatchWebhooksOperator

__all__ = [
    "GenAIBatchCancelJobOperator",
    "GenAIBatchCombineResultsOperator",
    "GenAIBatchCreateEmbeddingsJobOperator",
    "GenAIBatchCreateJobOperator",
    "GenAIBatchDeleteJobOperator",
    "GenAIBatchGetJobOperator",
    "GenAIBatchListJobsOperator",
    "GenAIBatchReapOrphansOperator",
    "GenAIBatchSplitOperator",
    "GenAIBatchWebhooksOperator",
    "GenAIBatchWriteResultsOperator",
]
