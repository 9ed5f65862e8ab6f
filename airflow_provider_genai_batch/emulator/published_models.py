"""Which models exist: the emulator answers ``404 NOT_FOUND`` for a model Google does not publish, as the live
services do, so that a typo in a model name fails against the emulator as it would in production.

The lists are the model ids Google's model pages name (sources below; stable, preview and ``-latest`` aliases
that accept batch requests, and the embeddings models). A newer model is accepted once named in the emulator's
``extra_models`` setting (``--model NAME`` on the command line); ``check_models=False`` (``--any-model``) turns
the check off for tests that use made-up names.

Example::

    >>> model_problem("gemini", "models/gemini-2.5-flash", extra=(), enabled=True) is None
    True
"""

from __future__ import annotations

from airflow_provider_genai_batch.emulator.errors import EmulatorError, not_found

__all__ = ["GEMINI_API_MODELS", "VERTEX_PUBLISHER_MODELS", "model_problem"]

#: Gemini Developer API model ids, from https://ai.google.dev/gemini-api/docs/models (model pages and their
#: "Model code" rows) and https://ai.google.dev/gemini-api/docs/embeddings, as listed in 2025-2026.
GEMINI_API_MODELS: tuple[str, ...] = (
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-flash-preview-09-2025",
    "gemini-2.5-flash-lite-preview-09-2025",
    "gemini-2.5-flash-image",
    "gemini-2.0-flash",
    "gemini-2.0-flash-001",
    "gemini-2.0-flash-lite",
    "gemini-2.0-flash-lite-001",
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-pro-latest",
    "gemini-embedding-001",
    "text-embedding-004",
)

#: Vertex AI publisher (``publishers/google/models/...``) model ids, from
#: https://cloud.google.com/vertex-ai/generative-ai/docs/models and
#: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions (Gemini and text embeddings).
VERTEX_PUBLISHER_MODELS: tuple[str, ...] = (
    "gemini-3-pro-preview",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-flash-image",
    "gemini-2.0-flash",
    "gemini-2.0-flash-001",
    "gemini-2.0-flash-lite",
    "gemini-2.0-flash-lite-001",
    "gemini-embedding-001",
    "text-embedding-005",
    "text-embedding-004",
    "text-multilingual-embedding-002",
    "textembedding-gecko",
)


def model_problem(backend: str, model: str, *, extra: tuple[str, ...], enabled: bool) -> EmulatorError | None:
    """The 404 Google answers for ``model`` (``models/x`` on Gemini, the job's ``model`` on Vertex), or None.

    Tuned models (``tunedModels/...``, ``projects/.../models/...``, endpoints) and other publishers' models are
    not checked: their ids are the user's own.
    """
    if not enabled:
        return None
    if backend == "gemini":
        if not model.startswith("models/"):
            return None
        model_id = model.removeprefix("models/")
        if model_id in GEMINI_API_MODELS or model_id in extra:
            return None
        # The live message (public reports: tests/client/real_responses/errors/404_model_not_found.json).
        return not_found(
            f"{model} is not found for API version v1beta, or is not supported for batchGenerateContent. "
            "Call ListModels to see the list of available models and their supported methods."
        )
    prefix = "publishers/google/models/"
    tail = model.split("/publishers/google/models/", 1)[-1] if "/publishers/google/models/" in model else None
    if tail is None and model.startswith(prefix):
        tail = model.removeprefix(prefix)
    if tail is None:
        return None
    model_id = tail.split("@", 1)[0]
    if model_id in VERTEX_PUBLISHER_MODELS or model_id in extra or tail in extra:
        return None
    return not_found(
        f"Publisher Model `{model}` was not found or your project does not have access to it. Please ensure you "
        "are using a valid model version."
    )
