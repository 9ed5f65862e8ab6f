"""``response_schema`` and ``response_json_schema`` in wire form, as google-genai builds them (``t_schema``,
``process_schema``, ``handle_null_fields``, ``_process_enum``, ``t_json_schema``). Pure.

``response_schema`` may be the API's Schema (dict or google-genai ``types.Schema``), a JSON Schema (what
``Model.model_json_schema()`` gives: lower-case types, ``$defs``/``$ref``, ``anyOf`` with ``null``), a pydantic
model class, an Enum class, or a type such as ``list[int]``. It goes out as the API's Schema: ``$ref`` inlined,
``null`` alternatives as ``nullable``, upper-case types, ``property_ordering`` added, snake_case keys.
``response_json_schema`` goes out as given (a pydantic class becomes its JSON Schema).

Example::

    response_schema_to_wire({"type": "object", "properties": {"a": {"type": "string"}}}, "response_schema", "gemini")
    # {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}
"""

from __future__ import annotations

import copy
import enum
import types
import typing
from typing import Any

import pydantic
from pydantic.alias_generators import to_snake

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.wire.values import plain

JsonDict = dict[str, Any]

SCHEMA_FIELDS = frozenset(
    {
        "additional_properties",
        "any_of",
        "default",
        "description",
        "enum",
        "example",
        "format",
        "items",
        "max_items",
        "max_length",
        "max_properties",
        "maximum",
        "min_items",
        "min_length",
        "min_properties",
        "minimum",
        "nullable",
        "pattern",
        "properties",
        "property_ordering",
        "required",
        "title",
        "type",
    }
)
TYPES = frozenset({"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"})
_SPELLINGS = {
    "additional_properties": "additionalProperties",
    "any_of": "anyOf",
    "prefix_items": "prefixItems",
    "property_ordering": "propertyOrdering",
}
_FIX = "give a JSON Schema dict, a pydantic model class, an Enum class or the API's Schema"


class _Resolver:
    """``process_schema``: inline ``$defs``, turn ``null`` into ``nullable``, order properties."""

    def __init__(self, backend: str, defs: JsonDict) -> None:
        self.backend = backend
        self.defs = defs
        self.active: set[int] = set()

    def ref(self, ref: Any, field: str) -> JsonDict:
        name = str(ref).split("defs/")[-1]
        if name not in self.defs or not isinstance(self.defs[name], dict):
            raise InvalidInputError(f"{field}.$ref", f"{ref!r} names no entry of $defs", "define it under $defs")
        found: JsonDict = self.defs[name]
        return found

    def process(self, schema: JsonDict, field: str) -> JsonDict:
        if id(schema) in self.active:
            return schema
        self.active.add(id(schema))
        try:
            self._process(schema, field)
        finally:
            self.active.discard(id(schema))
        return schema

    def _sub(self, sub: Any, field: str) -> JsonDict:
        if not isinstance(sub, dict):
            raise InvalidInputError(field, f"is a {type(sub).__name__}, not a schema", _FIX)
        if "$ref" in sub:
            target = self.ref(sub.pop("$ref"), field)
            if id(target) in self.active:
                return {}
            sub = target
        return self.process(sub, field)

    def _process(self, schema: JsonDict, field: str) -> None:
        if schema.get("title") == "PlaceholderLiteralEnum":
            del schema["title"]
        if self.backend == "gemini" and (schema.get("additionalProperties") or schema.get("additional_properties")):
            raise InvalidInputError(
                f"{field}.additionalProperties",
                "the Gemini Developer API's Schema has no additionalProperties",
                "remove it, or use response_json_schema",
            )
        for source, target in _SPELLINGS.items():
            if (value := schema.pop(source, None)) is not None:
                schema[target] = value
        _null_to_nullable(schema)
        if "$ref" in schema:
            schema.update(self.ref(schema.pop("$ref"), field))
        if (any_of := schema.get("anyOf")) is not None:
            if not isinstance(any_of, list):
                raise InvalidInputError(f"{field}.anyOf", "is not a list", "give a list of schemas")
            schema["anyOf"] = [self._sub(s, f"{field}.anyOf[{i}]") for i, s in enumerate(any_of)]
            return
        kind = schema.get("type")
        kind = kind.value if isinstance(kind, enum.Enum) else kind
        kind = kind.upper() if isinstance(kind, str) else kind
        if (const := schema.get("const")) is not None:
            if kind != "STRING":
                raise InvalidInputError(f"{field}.const", "is not a string", "Literal values must be strings")
            schema["enum"] = [const]
            del schema["const"]
        if kind == "OBJECT":
            properties = schema.get("properties")
            if isinstance(properties, dict):
                for name, sub in list(properties.items()):
                    properties[name] = self._sub(sub, f"{field}.properties.{name}")
                if len(properties) > 1 and "propertyOrdering" not in schema:
                    schema["property_ordering"] = list(properties)
            if isinstance(additional := schema.get("additionalProperties"), dict):
                schema["additionalProperties"] = self._sub(additional, f"{field}.additionalProperties")
        elif kind == "ARRAY":
            if schema.get("items") is not None:
                schema["items"] = self._sub(schema["items"], f"{field}.items")
            if isinstance(prefixes := schema.get("prefixItems"), list):
                schema["prefixItems"] = [self._sub(p, f"{field}.prefixItems[{i}]") for i, p in enumerate(prefixes)]


def _null_to_nullable(schema: JsonDict) -> None:
    """``handle_null_fields``: ``{"type": "null"}`` (alone or in ``anyOf``) becomes ``nullable: true``."""
    if schema.get("type") == "null":
        schema["nullable"] = True
        del schema["type"]
    elif isinstance(any_of := schema.get("anyOf"), list) and {"type": "null"} in any_of:
        schema["nullable"] = True
        any_of.remove({"type": "null"})
        if len(any_of) == 1:
            schema.update(any_of[0])
            del schema["anyOf"]


def _to_api_schema(schema: Any, field: str) -> JsonDict:
    """Validate as the API's Schema and dump it: known fields only, snake_case keys, upper-case types
    (``additional_properties`` is free-form in the SDK's Schema: sent as given)."""
    if not isinstance(schema, dict):
        raise InvalidInputError(field, f"is a {type(schema).__name__}, not a schema", _FIX)
    out: JsonDict = {}
    for key, value in schema.items():
        name = to_snake(key) if not key.startswith("$") else key
        where = f"{field}.{key}"
        if name not in SCHEMA_FIELDS:
            raise InvalidInputError(
                where, "is not a field of the API's Schema", "remove it, or use response_json_schema"
            )
        if value is None:
            continue
        if name == "type":
            kind = value.value if isinstance(value, enum.Enum) else value
            if not isinstance(kind, str) or kind.upper() not in TYPES:
                raise InvalidInputError(
                    where, f"{value!r} is not a Schema type", f"use one of {', '.join(sorted(TYPES))}"
                )
            out[name] = kind.upper()
        elif name == "items" and isinstance(value, dict):
            out[name] = _to_api_schema(value, where)
        elif name == "any_of":
            if not isinstance(value, list):
                raise InvalidInputError(where, "is not a list", "give a list of schemas")
            out[name] = [_to_api_schema(s, f"{where}[{i}]") for i, s in enumerate(value)]
        elif name == "properties":
            if not isinstance(value, dict):
                raise InvalidInputError(where, "is not a mapping", "map property names to schemas")
            out[name] = {k: _to_api_schema(v, f"{where}.{k}") for k, v in value.items()}
        else:
            out[name] = plain(value, where, snake=False)
    return out


def _placeholder_schema(origin: Any, field: str) -> JsonDict:
    """The JSON Schema of a bare type (``list[int]``, an Enum...), as the SDK's ``Placeholder`` model gives it."""
    try:
        model = pydantic.create_model("Placeholder", placeholder=(origin, ...))
        schema: JsonDict = model.model_json_schema()
    except (TypeError, pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError) as exc:
        raise InvalidInputError(field, f"{origin!r} has no JSON Schema ({type(exc).__name__})", _FIX) from None
    return schema


def _enum_schema(origin: Any, field: str) -> JsonDict:
    members = list(origin)
    for member in members:
        if not isinstance(member.value, int | str):
            raise InvalidInputError(f"{field}.{member.name}", "is not a string or integer", "use a str or int Enum")
    if any(isinstance(m.value, int) for m in members):
        as_strings: Any = enum.Enum  # the functional API, with a name only known at run time
        return _placeholder_schema(as_strings(origin.__name__, [str(m.value) for m in members], type=str), field)
    return _placeholder_schema(origin, field)


def _is_type_form(origin: Any) -> bool:
    return isinstance(origin, types.GenericAlias | types.UnionType | type) or typing.get_origin(origin) in (
        typing.Union,
        types.UnionType,
    )


def response_schema_to_wire(value: Any, field: str, backend: str) -> JsonDict | None:
    """``t_schema``: any accepted form to the API's Schema."""
    if not value:
        return None
    placeholder = False
    if isinstance(value, dict):
        schema = copy.deepcopy(value)
    elif isinstance(value, enum.EnumMeta):
        schema, placeholder = _enum_schema(value, field), True
    elif isinstance(value, pydantic.BaseModel):
        schema = value.model_dump(exclude_unset=True)
        if not schema:
            raise InvalidInputError(field, "is an empty Schema", _FIX)
    elif isinstance(value, type) and issubclass(value, pydantic.BaseModel):
        schema = value.model_json_schema()
    elif _is_type_form(value):
        schema, placeholder = _placeholder_schema(value, field), True
    else:
        raise InvalidInputError(field, f"is a {type(value).__name__}", _FIX)
    schema = plain(schema, field, snake=False)
    defs = schema.pop("$defs", None) or schema.pop("defs", None) or {}
    if not isinstance(defs, dict):
        raise InvalidInputError(f"{field}.$defs", "is not a mapping", "map names to schemas")
    resolver = _Resolver(backend, defs)
    for name, sub in defs.items():
        if isinstance(sub, dict):
            resolver.process(sub, f"{field}.$defs.{name}")
    resolver.process(schema, field)
    if placeholder:
        schema = schema["properties"]["placeholder"]
    return _to_api_schema(schema, field)


def json_schema_to_wire(value: Any, field: str) -> Any:
    """``t_json_schema``: sent as given; a pydantic class becomes its JSON Schema."""
    if isinstance(value, type) and issubclass(value, pydantic.BaseModel):
        value = value.model_json_schema()
    return plain(value, field, snake=False)
