"""Deterministic model outputs, so tests can compute the exact results they expect.

Generation (``batchGenerateContent`` and Vertex batch prediction)::

    prompt  = prompt_text(request)          # every "text" part of request["contents"], joined by "\\n"
    media   = media_descriptions(request)   # one per inline_data / file_data part, in order:
              # inline: "<mime> <n> bytes sha256:<first 12 hex of sha256(decoded bytes)>"
              # file:   "<mime> at <file_uri>"
    answer  = "echo: " + prompt                          (no media parts)
              "echo: " + prompt + " [" + "; ".join(media) + "]"   (otherwise)
              JSON text fitting the response schema    (generationConfig.responseMimeType application/json:
                                                        see ``structured.py``)
    usage   = promptTokenCount     = len(prompt.split())
              candidatesTokenCount = len(answer.split())
              totalTokenCount      = the sum of both
    response = {"candidates": [{"content": {"parts": [{"text": answer}], "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": usage, "modelVersion": model_id(model)}

Embeddings (``asyncBatchEmbedContent``)::

    text   = prompt_text(request)           # the "text" parts of request["content"], joined by "\\n"
    B      = sha256(b"0:" + utf8(text)) + sha256(b"1:" + utf8(text)) + ...   (32 bytes per block)
    values[i] = round(int.from_bytes(B[4*i : 4*i + 4], "big") / 2**31 - 1, 6)   # in [-1, 1)
    response = {"embedding": {"values": values}}   # len(values) = request outputDimensionality, default 8

A request fails on its own (a per-request error, the rest of the batch goes on) when its prompt text contains
``FAIL_MARKER`` (``"EMULATOR_FAIL"``), when an outcome lists its index in ``failed_requests``, or when it has
no ``contents`` (generation) or ``content`` (embeddings).

Example::

    >>> generate_content_response({"contents": [{"parts": [{"text": "hi there"}]}]}, "models/gemini-2.5-flash")[
    ...     "candidates"][0]["content"]["parts"][0]["text"]
    'echo: hi there'
    >>> embedding_values("hello", 2)
    [-0.353149, 0.593216]
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from airflow_provider_genai_batch.emulator.common import get_field
from airflow_provider_genai_batch.emulator.structured import answer_json, json_schema_of

__all__ = [
    "DEFAULT_EMBEDDING_DIMENSIONALITY",
    "FAIL_MARKER",
    "RequestKind",
    "embed_content_response",
    "embedding_values",
    "generate_content_response",
    "media_descriptions",
    "model_id",
    "prompt_text",
    "request_problem",
]

#: Put this string in a prompt to make that one request fail.
FAIL_MARKER = "EMULATOR_FAIL"
#: Length of embedding vectors when the request sets no ``outputDimensionality``.
DEFAULT_EMBEDDING_DIMENSIONALITY = 8

RequestKind = Literal["generate", "embed"]


def _contents(request: Mapping[str, Any]) -> list[Any]:
    contents = request.get("contents")
    if contents is None:
        contents = request.get("content")
    if isinstance(contents, dict | str):
        return [contents]
    return contents if isinstance(contents, list) else []


def prompt_text(request: Mapping[str, Any]) -> str:
    """The text parts of ``contents`` (or ``content``), in order, joined by a newline.

    Non-text parts (images, files) and ``systemInstruction`` are ignored; a plain string in place of a content
    counts as one text part.
    """
    texts: list[str] = []
    for content in _contents(request):
        if isinstance(content, str):
            texts.append(content)
            continue
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


def _parts(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    parts: list[Mapping[str, Any]] = []
    for content in _contents(request):
        found = content.get("parts") if isinstance(content, dict) else None
        parts += [p for p in (found if isinstance(found, list) else []) if isinstance(p, dict)]
    return parts


def _decoded(data: Any) -> bytes | None:
    """Base64 in either alphabet (google-genai sends URL-safe, JSONL writers often the standard one)."""
    if not isinstance(data, str):
        return None
    text = data.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def media_descriptions(request: Mapping[str, Any]) -> list[str]:
    """One line per inline or file part of ``contents``, in order (see the module docstring)."""
    found: list[str] = []
    for part in _parts(request):
        inline = get_field(part, "inlineData")
        file_data = get_field(part, "fileData")
        if isinstance(inline, Mapping):
            raw = _decoded(inline.get("data"))
            mime = get_field(inline, "mimeType")
            if raw is None:
                found.append(f"{mime} undecodable data")
            else:
                found.append(f"{mime} {len(raw)} bytes sha256:{hashlib.sha256(raw).hexdigest()[:12]}")
        elif isinstance(file_data, Mapping):
            found.append(f"{get_field(file_data, 'mimeType')} at {get_field(file_data, 'fileUri')}")
    return found


def model_id(model: str) -> str:
    """The bare model id: ``models/gemini-2.5-flash`` or ``publishers/google/models/gemini-2.5-flash`` ->
    ``gemini-2.5-flash``."""
    return model.rsplit("/", 1)[-1]


def request_problem(kind: RequestKind, request: Mapping[str, Any]) -> str | None:
    """Why this request fails on its own, or ``None`` when it succeeds (ignoring ``failed_requests``)."""
    schema_problem = getattr(request, "schema_problem", None)  # schema_gate.RejectedRequest: fails as Google would
    if isinstance(schema_problem, str):
        return schema_problem
    if kind == "generate" and not _contents(request):
        return "GenerateContentRequest.contents: contents is not specified"
    if kind == "embed" and not _contents(request):
        return "EmbedContentRequest.content: content is not specified"
    if FAIL_MARKER in prompt_text(request):
        return f"The request failed on purpose: its prompt contains {FAIL_MARKER}."
    return None


def generate_content_response(request: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The GenerateContentResponse for one request: the prompt echoed back (see the module docstring)."""
    prompt = prompt_text(request)
    config = get_field(request, "generationConfig")
    json_mode, schema = json_schema_of(config) if isinstance(config, Mapping) else (False, None)
    if json_mode:
        answer = answer_json(schema, prompt)
    else:
        answer = f"echo: {prompt}"
        media = media_descriptions(request)
        if media:
            answer += f" [{'; '.join(media)}]"
    prompt_tokens = len(prompt.split())
    answer_tokens = len(answer.split())
    return {
        "candidates": [{"content": {"parts": [{"text": answer}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": answer_tokens,
            "totalTokenCount": prompt_tokens + answer_tokens,
        },
        "modelVersion": model_id(model),
    }


def embedding_values(text: str, dimensionality: int = DEFAULT_EMBEDDING_DIMENSIONALITY) -> list[float]:
    """A deterministic pseudo-embedding of ``text`` (see the module docstring for the formula)."""
    data = text.encode()
    stream = b"".join(
        hashlib.sha256(f"{block}:".encode() + data).digest() for block in range((dimensionality + 7) // 8)
    )
    return [round(int.from_bytes(stream[4 * i : 4 * i + 4], "big") / 2**31 - 1, 6) for i in range(dimensionality)]


def embed_content_response(request: Mapping[str, Any]) -> dict[str, Any]:
    """The EmbedContentResponse for one request, honouring ``outputDimensionality``."""
    dimensionality = get_field(request, "outputDimensionality")
    if not isinstance(dimensionality, int) or isinstance(dimensionality, bool) or dimensionality <= 0:
        dimensionality = DEFAULT_EMBEDDING_DIMENSIONALITY
    return {"embedding": {"values": embedding_values(prompt_text(request), dimensionality)}}
