"""Airflow hooks: a connection turned into one shared batch client.

``from airflow_provider_genai_batch.hooks import GenAIBatchHook`` works like the operators' package import; the hook
module (and with it the client) is imported on first use of the name, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

__all__ = ["GenAIBatchHook"]


def __getattr__(name: str) -> Any:
    if name == "GenAIBatchHook":
        from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

        return GenAIBatchHook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
