"""A typed sync and async client for the Gemini Developer API and Vertex AI batch APIs.

No Airflow imports; usable from a plain script. See ``client.GenAIBatchClient`` for an example.
Importing this package does not import google-auth (that happens when a client needs Google credentials).
"""

from airflow_provider_genai_batch.client.client import AsyncGenAIBatchClient, GenAIBatchClient
from airflow_provider_genai_batch.client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GenAIBatchError,
    InternalServerError,
    InvalidInputError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedOperationError,
    is_transient,
)
from airflow_provider_genai_batch.client.models import (
    TERMINAL_STATES,
    BatchJob,
    BatchJobDestination,
    BatchJobSource,
    BatchStats,
    CompletionStats,
    CreateBatchJobConfig,
    EmbedContentBatch,
    File,
    InlinedRequest,
    InlinedResponse,
    JobError,
    JobState,
    OutputInfo,
    RequestCounts,
)
from airflow_provider_genai_batch.client.results import BatchResult, ResultsLocation, results_location
from airflow_provider_genai_batch.client.settings import ClientSettings

__all__ = [
    "TERMINAL_STATES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncGenAIBatchClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchJob",
    "BatchJobDestination",
    "BatchJobSource",
    "BatchResult",
    "BatchStats",
    "ClientSettings",
    "CompletionStats",
    "ConflictError",
    "CreateBatchJobConfig",
    "EmbedContentBatch",
    "File",
    "GenAIBatchClient",
    "GenAIBatchError",
    "InlinedRequest",
    "InlinedResponse",
    "InternalServerError",
    "InvalidInputError",
    "InvalidResponseError",
    "JobError",
    "JobState",
    "NotFoundError",
    "OutputInfo",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestCounts",
    "ResultsLocation",
    "ServiceUnavailableError",
    "UnsupportedOperationError",
    "is_transient",
    "results_location",
]
