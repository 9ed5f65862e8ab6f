"""Errors that are both common-ai's (so ``@task.llm_batch`` treats them as bad input) and this provider's
:class:`InvalidInputError` (field path, problem, fix).

Example::

    raise BatchLimitError("requests", "holds 250,000 requests; Vertex AI takes at most 200,000",
                          "split the input with .expand()")
"""

from __future__ import annotations

from airflow.providers.common.ai.exceptions import (
    LLMBatchInputError,
    LLMBatchLimitExceededError,
    LLMBatchModelMismatchError,
)

from airflow_provider_genai_batch.client.errors import InvalidInputError

__all__ = ["BatchInputError", "BatchLimitError", "BatchModelError", "as_batch_input_error"]


class BatchInputError(LLMBatchInputError, InvalidInputError):
    """A request common-ai handed over cannot be sent (raised before any network call)."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        InvalidInputError.__init__(self, field, problem, fix)


class BatchLimitError(LLMBatchLimitExceededError, InvalidInputError):
    """The batch exceeds a backend limit (request count, bytes)."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        InvalidInputError.__init__(self, field, problem, fix)


class BatchModelError(LLMBatchModelMismatchError, InvalidInputError):
    """A request names a model this batch cannot use."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        InvalidInputError.__init__(self, field, problem, fix)


def as_batch_input_error(exc: InvalidInputError) -> BatchInputError:
    """The client's error re-raised as one common-ai recognises, with ``src`` spelled ``requests``."""
    field = exc.field.replace("src[", "requests[", 1) if exc.field.startswith("src[") else exc.field
    return BatchInputError(field, exc.problem, exc.fix)
