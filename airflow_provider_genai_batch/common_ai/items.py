"""common-ai ``BatchRequest`` items in, this client's request dicts out; job names and labels that carry the key.

Each prompt becomes an ``InlinedRequest`` (``contents``, ``config``, ``metadata``) that the client turns into
the exact wire form google-genai sends. ``config`` holds, in this order (later wins): the batch's
``request_params``, the request's own ``params``, then the keys the adapter manages: ``system_instruction``,
``max_output_tokens`` and, for structured output, ``response_mime_type: application/json`` with
``response_json_schema`` (the API takes JSON Schema as-is). ``metadata.key`` is ``<key16>-<index>``, the
``custom_id`` common-ai rejoins results by.

The job carries the idempotency key and the input fingerprint: its display name ends with this provider's
``--gbk-<key>`` marker, where the key is a digest of both, and a Vertex job also has the labels
``genai-batch-key``, ``common-ai-key`` and ``common-ai-input``.

Example::

    items = build_items([{"prompt": "hi"}], key16="0123456789abcdef", system_prompt="", max_tokens=64,
                        request_params=None, directive={})
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from airflow_provider_genai_batch.client.names import JobNaming

__all__ = [
    "CUSTOM_ID_SEPARATOR",
    "MANAGED_CONFIG_KEYS",
    "batch_key",
    "build_items",
    "check_json",
    "job_config",
    "parse_custom_id",
]

CUSTOM_ID_SEPARATOR = "-"
# Config keys the adapter sets itself; request_params / params cannot override them.
MANAGED_CONFIG_KEYS = frozenset(
    {"system_instruction", "max_output_tokens", "response_mime_type", "response_json_schema", "response_schema"}
)
_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def batch_key(key16: str, input_fingerprint: str, deployment: str = "") -> str:
    """The 24-hex job key for one task instance and input in ``deployment`` (what the display name and label
    carry); an empty ``deployment`` gives the legacy key (``airflow_provider_genai_batch.deployment``)."""
    suffix = f"\x00{deployment}" if deployment else ""
    return hashlib.sha256(f"{key16}\x00{input_fingerprint}{suffix}".encode()).hexdigest()[:24]


def _label_value(value: str) -> str | None:
    value = value.lower()[:63]
    return value if value and set(value) <= _LABEL_CHARS else None


def job_config(*, backend: str, key16: str, input_fingerprint: str, deployment: str = "") -> dict[str, Any]:
    """``display_name`` (both backends) and ``labels`` (Vertex) carrying the key and fingerprint."""
    extra = {
        name: value
        for name, raw in (("common-ai-key", key16), ("common-ai-input", input_fingerprint))
        if (value := _label_value(raw)) is not None
    }
    naming = JobNaming.shaped(f"llm_batch-{key16}")  # the client checks the config it is given
    return naming.config(batch_key(key16, input_fingerprint, deployment), backend=backend, labels=extra)


_JSON_SCALARS = (str, int, float, bool, type(None))


def check_json(value: Any, field: str) -> None:
    """Raise ``BatchInputError`` naming the first value under ``field`` that JSON cannot carry."""
    from airflow_provider_genai_batch.common_ai.errors import BatchInputError

    stack: list[tuple[Any, str]] = [(value, field)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise BatchInputError(f"{where}.{key!r}", "has a key that is not a string", "use string keys")
                stack.append((child, f"{where}.{key}"))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
        elif not isinstance(item, _JSON_SCALARS):
            raise BatchInputError(
                where,
                f"is a {type(item).__name__}, which JSON cannot carry",
                "give a string, number, bool, list or dict",
            )


def _config(
    request: Mapping[str, Any],
    *,
    system_prompt: str,
    max_tokens: int,
    request_params: Mapping[str, Any] | None,
    directive: Mapping[str, Any],
) -> dict[str, Any]:
    check_json(request_params or {}, "request_params")
    merged = {**(request_params or {}), **(request.get("params") or {})}
    config: dict[str, Any] = {k: v for k, v in merged.items() if k not in MANAGED_CONFIG_KEYS}
    instruction = request.get("system_prompt") or system_prompt
    if instruction:
        config["system_instruction"] = instruction
    config["max_output_tokens"] = request.get("max_tokens") or max_tokens
    config.update(directive)
    return config


def build_items(
    requests: list[Any],
    *,
    key16: str,
    system_prompt: str,
    max_tokens: int,
    request_params: Mapping[str, Any] | None,
    directive: Mapping[str, Any],
    check_model: Callable[[Any, int], object] | None = None,
) -> Iterator[dict[str, Any]]:
    """One ``InlinedRequest`` dict per prompt, keyed ``<key16>-<index>``; ``check_model`` vets overrides."""
    for index, request in enumerate(requests):
        if check_model is not None:
            check_model(request.get("model"), index)
        check_json(request.get("params") or {}, f"requests[{index}].params")
        yield {
            "contents": request["prompt"],
            "config": _config(
                request,
                system_prompt=system_prompt,
                max_tokens=max_tokens,
                request_params=request_params,
                directive=directive,
            ),
            "metadata": {"key": f"{key16}{CUSTOM_ID_SEPARATOR}{index}"},
        }


def parse_custom_id(key: str | None) -> int | None:
    """The request index of a ``<key16>-<index>`` key, or ``None`` when the key is not one of ours."""
    if not key:
        return None
    _, sep, tail = key.rpartition(CUSTOM_ID_SEPARATOR)
    if not sep or not tail.isdigit():
        return None
    return int(tail)
