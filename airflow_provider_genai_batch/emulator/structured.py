"""Deterministic structured answers: a JSON value that fits the request's response schema.

A request whose ``generationConfig.responseMimeType`` is ``application/json`` is answered with JSON text, as the
real models answer in JSON mode, so structured-output pipelines (pydantic ``output_type``, common-ai's
``@task.llm_batch``) can be tested end to end offline. The value is built from ``responseJsonSchema`` (JSON
Schema) or ``responseSchema`` (the API's ``Schema``, any case of ``type``), and depends only on the schema and the
prompt:

- ``string``: ``"echo: <prompt>"`` (cut to ``maxLength``); an ``enum``: the member at ``sha256(prompt) % len``;
- ``integer`` / ``number``: the prompt's word count, moved into ``[minimum, maximum]``;
- ``boolean``: whether the word count is even; ``null``: null;
- ``array``: ``max(minItems, 1)`` items of ``items``; ``object``: every property, in the schema's order;
- ``anyOf`` / ``oneOf``: the first branch that is not ``null``; ``$ref``: resolved against ``$defs`` /
  ``definitions``; no schema at all: the answer string itself, as JSON.

Example::

    >>> answer_json({"type": "object", "properties": {"n": {"type": "integer"}}}, "one two")
    '{"n": 2}'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["answer_json", "json_schema_of"]

_MAX_DEPTH = 32


def json_schema_of(generation_config: Mapping[str, Any]) -> tuple[bool, Any]:
    """``(json mode, schema or None)`` from a ``generationConfig`` (camelCase or snake_case keys)."""
    mime = generation_config.get("responseMimeType", generation_config.get("response_mime_type"))
    if not isinstance(mime, str) or mime.split(";")[0].strip().lower() != "application/json":
        return False, None
    for key in ("responseJsonSchema", "response_json_schema", "responseSchema", "response_schema"):
        if isinstance(generation_config.get(key), Mapping):
            return True, generation_config[key]
    return True, None


def answer_json(schema: Any, prompt: str) -> str:
    """The JSON text answering ``prompt`` under ``schema`` (see the module docstring)."""
    if not isinstance(schema, Mapping):
        return json.dumps(f"echo: {prompt}", ensure_ascii=False)
    return json.dumps(_Instance(schema, prompt).value(schema, 0), ensure_ascii=False)


class _Instance:
    def __init__(self, root: Mapping[str, Any], prompt: str) -> None:
        self.root = root
        self.prompt = prompt
        self.words = len(prompt.split())

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = self.root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return target if isinstance(target, Mapping) else {}

    def value(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return None
        schema = self._resolve(schema)
        for branch_key in ("anyOf", "any_of", "oneOf", "one_of"):
            branches = schema.get(branch_key)
            if isinstance(branches, list) and branches:
                chosen = next((b for b in branches if _type_of(self._resolve(b)) != "null"), branches[0])
                return self.value(chosen, depth + 1)
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[int(hashlib.sha256(self.prompt.encode()).hexdigest(), 16) % len(enum)]
        if "const" in schema:
            return schema["const"]
        kind = _type_of(schema)
        if kind == "object":
            properties = schema.get("properties")
            if not isinstance(properties, Mapping):
                return {}
            return {str(name): self.value(sub, depth + 1) for name, sub in properties.items()}
        if kind == "array":
            count = max(_int(schema.get("minItems", schema.get("min_items")), 1), 1)
            return [self.value(schema.get("items"), depth + 1) for _ in range(count)]
        if kind in ("integer", "number"):
            return _bounded(self.words, schema, integer=kind == "integer")
        if kind == "boolean":
            return self.words % 2 == 0
        if kind == "null":
            return None
        text = f"echo: {self.prompt}"
        limit = _int(schema.get("maxLength", schema.get("max_length")), 0)
        return text[:limit] if limit > 0 else text


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):  # JSON Schema ["string", "null"]
        kind = next((k for k in kind if isinstance(k, str) and k.lower() != "null"), "null")
    if isinstance(kind, str) and kind:
        return kind.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


def _bounded(words: int, schema: Mapping[str, Any], *, integer: bool) -> int | float:
    low, high = schema.get("minimum"), schema.get("maximum")
    value: float = words
    if isinstance(low, int | float) and not isinstance(low, bool):
        value = max(value, low)
    if isinstance(high, int | float) and not isinstance(high, bool):
        value = min(value, high)
    return int(value) if integer else float(value)
