"""A typed sync and async client for the Gemini Developer API and Vertex AI batch APIs.

No Airflow imports; usable from a plain script. See ``client.GenAIBatchClient`` for an example.
Importing this package is cheap: each name is imported from its module on first use (so ``client.errors`` and
``client.models`` can be imported without httpx); google-auth is imported only when a client needs Google
credentials.

The public API is what ``__all__`` names, with ``client.errors`` and ``client.models`` (whose types those names
are); ``tests/architecture/test_public_api.py`` pins them. The other modules (``plans``, ``transport``,
``creation``, ``sources``, ``jsonl``, ``validation``, ``keys``, ``redaction``, ``usage``, ``webhooks``,
``wire``) are internal: the provider's hooks use them, and they may change in any release.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULE_OF = {
    "APIConnectionError": "airflow_provider_genai_batch.client.errors",
    "APIStatusError": "airflow_provider_genai_batch.client.errors",
    "APITimeoutError": "airflow_provider_genai_batch.client.errors",
    "AsyncGenAIBatchClient": "airflow_provider_genai_batch.client.client",
    "AuthenticationError": "airflow_provider_genai_batch.client.errors",
    "BadRequestError": "airflow_provider_genai_batch.client.errors",
    "BatchJob": "airflow_provider_genai_batch.client.models",
    "BatchJobDestination": "airflow_provider_genai_batch.client.models",
    "BatchJobSource": "airflow_provider_genai_batch.client.models",
    "BatchResult": "airflow_provider_genai_batch.client.results",
    "BatchStats": "airflow_provider_genai_batch.client.models",
    "ClientSettings": "airflow_provider_genai_batch.client.settings",
    "CompletionStats": "airflow_provider_genai_batch.client.models",
    "ConflictError": "airflow_provider_genai_batch.client.errors",
    "CreateBatchJobConfig": "airflow_provider_genai_batch.client.models",
    "EmbedContentBatch": "airflow_provider_genai_batch.client.models",
    "File": "airflow_provider_genai_batch.client.models",
    "GenAIBatchClient": "airflow_provider_genai_batch.client.client",
    "GenAIBatchError": "airflow_provider_genai_batch.client.errors",
    "InlinedRequest": "airflow_provider_genai_batch.client.models",
    "InlinedResponse": "airflow_provider_genai_batch.client.models",
    "InternalServerError": "airflow_provider_genai_batch.client.errors",
    "InvalidInputError": "airflow_provider_genai_batch.client.errors",
    "InvalidResponseError": "airflow_provider_genai_batch.client.errors",
    "JobError": "airflow_provider_genai_batch.client.models",
    "JobState": "airflow_provider_genai_batch.client.models",
    "NotFoundError": "airflow_provider_genai_batch.client.errors",
    "OutputInfo": "airflow_provider_genai_batch.client.models",
    "PermissionDeniedError": "airflow_provider_genai_batch.client.errors",
    "RateLimitError": "airflow_provider_genai_batch.client.errors",
    "RequestCounts": "airflow_provider_genai_batch.client.models",
    "ResultsLocation": "airflow_provider_genai_batch.client.results",
    "ServiceUnavailableError": "airflow_provider_genai_batch.client.errors",
    "TERMINAL_STATES": "airflow_provider_genai_batch.client.models",
    "UnsupportedOperationError": "airflow_provider_genai_batch.client.errors",
    "is_transient": "airflow_provider_genai_batch.client.errors",
    "results_location": "airflow_provider_genai_batch.client.results",
}

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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
