"""Turn pydantic's validation errors into ours: the field's path, the problem and a fix that says what to do.

Never the input value: it may be a secret (``hide_input_in_errors`` is not enough, the message is rebuilt).

Example::

    try:
        CreateBatchJobConfig.model_validate(config)
    except ValidationError as exc:
        raise invalid_input_from(exc, "config") from None      # config.display_name: ... give a string
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from airflow_provider_genai_batch.client.errors import InvalidInputError

_FIXES: dict[str, str] = {
    "string_type": "give a string",
    "int_type": "give a whole number",
    "int_parsing": "give a whole number",
    "int_from_float": "give a whole number",
    "float_type": "give a number",
    "float_parsing": "give a number",
    "bool_type": "give true or false",
    "bool_parsing": "give true or false",
    "dict_type": "give a mapping (a dict)",
    "model_type": "give a mapping (a dict)",
    "model_attributes_type": "give a mapping (a dict)",
    "list_type": "give a list",
    "tuple_type": "give a list",
    "extra_forbidden": "remove it (it is not a setting of this object)",
    "missing": "set it",
}


def _fix(error: Any) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in _FIXES:
        return _FIXES[kind]
    if kind == "literal_error":
        return f"use one of {ctx.get('expected')}"
    bounds = {"greater_than": "above", "greater_than_equal": "at least", "less_than": "below"}
    if kind in bounds:
        limit = next(iter(ctx.values()), "")
        return f"give a value {bounds[kind]} {limit}"
    if kind == "less_than_equal":
        return f"give a value of at most {ctx.get('le')}"
    return f"give a valid value ({error.get('msg', 'see the documentation')})"


def _path(loc: tuple[Any, ...]) -> str:
    """``('labels', 'team')`` -> ``labels.team``; drops pydantic's union branch tags (``str``, class names)."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and (p[:1].isupper() or p in {"str", "int", "float"}))]
    return ".".join(p for p in parts if p)


def invalid_input_from(exc: ValidationError, prefix: str) -> InvalidInputError:
    """The first error of ``exc`` as an InvalidInputError under ``prefix`` (``config``, ``src[3]``...)."""
    first = exc.errors(include_input=False, include_url=False)[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, InvalidInputError):
        return cause
    location = _path(tuple(first["loc"]))
    field = f"{prefix}.{location}" if prefix and location else (prefix or location)
    problem = str(first["msg"])
    if isinstance(cause, ValueError):
        problem = str(cause)
    return InvalidInputError(field, problem, _fix(first))
