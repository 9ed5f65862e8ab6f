"""Contents and parts in wire form, as google-genai builds them (``t_contents``, ``t_content``, ``t_part``,
``_Content_to_mldev``/``_Content_to_vertex``, ``_Part_to_*``). Pure.

A string is one user turn; a list of parts is grouped into turns (user parts, or model parts for function
calls); a Content dict keeps its role (none is added when it has none, as the SDK does). Raw ``bytes`` in
``inline_data`` go out as URL-safe base64.

Example::

    contents_to_wire("hi", "src[0].contents", "gemini")   # [{"role": "user", "parts": [{"text": "hi"}]}]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.wire.values import (
    b64_field,
    camel,
    check_text,
    model_dict,
    not_on_backend,
    plain,
    snake_keys,
)

JsonDict = dict[str, Any]

PART_FIELDS = frozenset(
    {
        "media_resolution",
        "code_execution_result",
        "executable_code",
        "file_data",
        "function_call",
        "function_response",
        "inline_data",
        "text",
        "thought",
        "thought_signature",
        "video_metadata",
        "tool_call",
        "tool_response",
        "part_metadata",
        "audio_transcription",
        "media_processing",
        "speech_metadata",
    }
)
FILE_DATA_FIELDS = frozenset({"file_uri", "mime_type", "display_name"})
CONTENT_FIELDS = frozenset({"parts", "role"})
_VERTEX_LACKS = frozenset({"tool_call", "tool_response", "part_metadata"})
_PART_FIX = "use {'text': ...}, {'inline_data': {'data': b'...', 'mime_type': ...}} or {'file_data': {...}}"


def _blob(value: Any, field: str) -> JsonDict:
    blob = plain({k: v for k, v in snake_keys(value, field).items() if k != "data"}, field)
    data = snake_keys(value, field).get("data")
    if data is None:
        raise InvalidInputError(f"{field}.data", "is missing", "give the bytes of the file")
    return {"data": b64_field(data, f"{field}.data"), **blob}


def _function_call(value: Any, field: str, backend: str) -> Any:
    call = snake_keys(value, field)
    if backend == "gemini":
        for name in ("partial_args", "will_continue"):
            if name in call:
                raise not_on_backend(f"{field}.{name}", backend)
    return plain(call, field)


def _function_response(value: Any, field: str, backend: str) -> Any:
    response = snake_keys(value, field)
    if backend == "vertex":
        if "will_continue" in response:
            raise not_on_backend(f"{field}.will_continue", backend)
        out = {camel(k): v for k, v in plain(response, field).items()}
        if isinstance(out.get("parts"), list):
            out["parts"] = [_vertex_response_part(p, f"{field}.parts[{i}]") for i, p in enumerate(out["parts"])]
        return out
    return plain(response, field)


def _vertex_response_part(part: Any, field: str) -> Any:
    """``_FunctionResponsePart_to_vertex``: camelCase keys, no ``media_processing``."""
    if not isinstance(part, dict):
        return part
    if "media_processing" in part:
        raise not_on_backend(f"{field}.media_processing", "vertex")
    return {camel(k): v for k, v in part.items()}


def _part_dict(part: Mapping[str, Any] | BaseModel, field: str, backend: str) -> JsonDict:
    fields = snake_keys(part, field)
    if not fields:
        raise InvalidInputError(field, "is an empty part", _PART_FIX)
    if not set(fields) <= PART_FIELDS:
        if set(fields) <= FILE_DATA_FIELDS and "file_uri" in fields:
            return {"fileData": plain(fields, f"{field}.file_data")}
        unknown = sorted(set(fields) - PART_FIELDS)[0]
        raise InvalidInputError(f"{field}.{unknown}", "is not a Part field", _PART_FIX)
    out: JsonDict = {}
    for name, value in fields.items():
        where = f"{field}.{name}"
        if backend == "vertex" and name in _VERTEX_LACKS:
            raise not_on_backend(where, backend)
        if name == "text":
            if not isinstance(value, str):
                raise InvalidInputError(where, f"is a {type(value).__name__}", "give the text as a string")
            out["text"] = check_text(value, where)
        elif name == "inline_data":
            out["inlineData"] = _blob(value, where)
        elif name == "thought_signature":
            out["thoughtSignature"] = b64_field(value, where)
        elif name == "function_call":
            out["functionCall"] = _function_call(value, where, backend)
        elif name == "function_response":
            out["functionResponse"] = _function_response(value, where, backend)
        else:
            out[camel(name)] = plain(value, where)
    return out


def _is_file(value: Any) -> bool:
    return isinstance(value, BaseModel) and type(value).__name__ == "File"


def part_to_wire(part: Any, field: str, backend: str) -> JsonDict:
    """One Part: a string, a Part dict (snake or camel), a FileData dict, a google-genai Part or File."""
    if isinstance(part, str):
        return {"text": check_text(part, field)}
    if _is_file(part):
        uri, mime = getattr(part, "uri", None), getattr(part, "mime_type", None)
        if not uri or not mime:
            raise InvalidInputError(field, "is a File without uri or mime_type", "get the file again (files.get)")
        return {"fileData": {"file_uri": uri, "mime_type": mime}}
    if isinstance(part, Mapping | BaseModel):
        return _part_dict(part, field, backend)
    if isinstance(part, bytes | bytearray):
        raise InvalidInputError(
            field, "is raw bytes without a MIME type", "wrap it: {'inline_data': {'data': b'...', 'mime_type': ...}}"
        )
    if callable(part):
        raise InvalidInputError(field, "is a callable", _PART_FIX)
    raise InvalidInputError(field, f"is a {type(part).__name__}, not a Part", _PART_FIX)


def _looks_like_content(value: Any) -> bool:
    if isinstance(value, BaseModel):
        return type(value).__name__ in ("Content", "UserContent", "ModelContent")
    if isinstance(value, Mapping):
        keys = {str(k) for k in value}
        return not keys or (keys <= CONTENT_FIELDS and "parts" in keys) or keys == {"role"}
    return False


def _looks_like_part(value: Any) -> bool:
    if isinstance(value, str) or _is_file(value):
        return True
    if isinstance(value, BaseModel):
        return type(value).__name__ == "Part"
    if isinstance(value, Mapping) and value:
        keys = {str(k) for k in snake_keys(value, "")}
        return keys <= PART_FIELDS or (keys <= FILE_DATA_FIELDS and "file_uri" in keys)
    return False


def _turn(parts: list[JsonDict]) -> JsonDict:
    role = "model" if any("functionCall" in p for p in parts) else "user"
    return {"parts": parts, "role": role}


def content_to_wire(content: Any, field: str, backend: str) -> JsonDict:
    """One Content (``t_content``): a Content dict, or a part / list of parts made into one turn."""
    if content is None:
        raise InvalidInputError(field, "is missing", "give a prompt string or a Content dict")
    if _looks_like_content(content):
        fields = snake_keys(content, field)
        parts = fields.get("parts")
        if not isinstance(parts, list | tuple) or not parts:
            raise InvalidInputError(f"{field}.parts", "is missing or empty", "give at least one part")
        out: JsonDict = {"parts": [part_to_wire(p, f"{field}.parts[{i}]", backend) for i, p in enumerate(parts)]}
        if fields.get("role") is not None:
            role = fields["role"]
            if not isinstance(role, str):
                raise InvalidInputError(f"{field}.role", f"is a {type(role).__name__}", "use 'user' or 'model'")
            out["role"] = check_text(role, f"{field}.role")
        return out
    if isinstance(content, list | tuple):
        if not content:
            raise InvalidInputError(field, "is an empty list of parts", "give at least one part")
        return _turn([part_to_wire(p, f"{field}[{i}]", backend) for i, p in enumerate(content)])
    if isinstance(content, str) and not content:
        raise InvalidInputError(field, "is an empty string", "give the prompt text")
    part = part_to_wire(content, field, backend)
    return _turn([part])


def contents_to_wire(contents: Any, field: str, backend: str) -> list[JsonDict]:
    """A request's contents (``t_contents``): consecutive parts are grouped into turns, Contents kept."""
    if isinstance(contents, BaseModel) and not _looks_like_content(contents) and not _looks_like_part(contents):
        contents = model_dict(contents)
    if contents is None or (isinstance(contents, list | tuple) and not contents):
        raise InvalidInputError(field, "is missing or empty", "give a prompt string or a list of Content dicts")
    if not isinstance(contents, list | tuple):
        return [content_to_wire(contents, field, backend)]
    turns: list[JsonDict] = []
    pending: list[JsonDict] = []

    def flush() -> None:
        if pending:
            turns.append(_turn(list(pending)))
            pending.clear()

    for index, item in enumerate(contents):
        where = f"{field}[{index}]"
        if isinstance(item, list | tuple) or _looks_like_content(item):
            flush()
            turns.append(content_to_wire(item, where, backend))
        elif _looks_like_part(item):
            if isinstance(item, str) and not item:
                raise InvalidInputError(where, "is an empty string", "give the prompt text")
            part = part_to_wire(item, where, backend)
            if pending and ("functionCall" in part) != ("functionCall" in pending[0]):
                flush()
            pending.append(part)
        elif isinstance(item, Mapping):
            flush()
            turns.append(content_to_wire(dict(item), where, backend))
        else:
            raise InvalidInputError(
                where, f"is a {type(item).__name__}, not a Content nor a part", "use {'role': 'user', 'parts': [...]}"
            )
    flush()
    return turns
