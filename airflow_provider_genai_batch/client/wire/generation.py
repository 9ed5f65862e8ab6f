"""A GenerateContentConfig split into request fields and ``generationConfig``, per backend, as google-genai's
``_GenerateContentConfig_to_mldev`` / ``_to_vertex`` do; tools (``t_tools``/``t_tool``, ``_Tool_to_*``); the
embeddings config (``_EmbedContentConfig_to_mldev``). Pure.

Fields a backend lacks raise InvalidInputError naming them (the SDK raises ValueError).

Example::

    config_to_request_fields({"temperature": 0, "system_instruction": "be brief"}, "src[0].config", "gemini")
    # {"systemInstruction": {"parts": [{"text": "be brief"}], "role": "user"}, "generationConfig": {"temperature": 0}}
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.wire.content import content_to_wire
from airflow_provider_genai_batch.client.wire.schema import json_schema_to_wire, response_schema_to_wire
from airflow_provider_genai_batch.client.wire.values import (
    b64_field,
    camel,
    enum_value,
    not_on_backend,
    plain,
    snake_keys,
)

JsonDict = dict[str, Any]

# Options of the SDK's client, never sent.
CLIENT_ONLY = frozenset(
    {"http_options", "should_return_http_response", "automatic_function_calling", "automatic_continuation"}
)
# Sent as generationConfig.<camelCase> with the value as given (nested keys snake_case).
GENERATION = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "candidate_count",
        "max_output_tokens",
        "stop_sequences",
        "response_logprobs",
        "logprobs",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "response_mime_type",
        "response_modalities",
        "media_resolution",
        "thinking_config",
        "audio_transcription_config",
    }
)
# Sent on the request itself.
REQUEST_LEVEL = frozenset({"labels", "service_tier", "continuation_token"})
ONLY_GEMINI = frozenset({"enable_enhanced_civic_answers", "store"})
# Vertex only, inside generationConfig: field -> its key (Vertex renames one).
ONLY_VERTEX = {
    "routing_config": "routingConfig",
    "model_selection_config": "modelConfig",
    "audio_timestamp": "audioTimestamp",
}
# Vertex only, on the request (google-genai 3.3.0 ``_GenerateContentConfig_to_vertex`` sets them on the parent
# object; the aiplatform discovery document has them on GenerateContentRequest): field -> its key.
ONLY_VERTEX_REQUEST = {"model_armor_config": "modelArmorConfig", "generation_output_config": "outputConfig"}
# google-genai 3.3.0 ``types.ServiceTier`` (a case-insensitive enum): the values the SDK sends, lower-case.
SERVICE_TIERS = ("unspecified", "flex", "standard", "priority")
# Fields google-genai 3.3.0 sends that public evidence shows the live API rejecting: refused before any network
# call (docs/SDK_PARITY.md, "Fields the SDK sends", gives each field's sources).
REFUSED: dict[str, dict[str, tuple[str, str]]] = {
    "gemini": {},
    "vertex": {
        "service_tier": (
            "is rejected by Vertex AI in the request body: the SDK's values ('flex', 'priority'...) answer "
            "400 \"Invalid value at 'service_tier'\", and the API's own enum names are accepted but ignored "
            "(billed as standard); Vertex AI chooses Flex or Priority PayGo by an HTTP header, for online "
            "requests only",
            "remove it (batch prediction is billed at the batch rate), or use a gemini connection for service_tier",
        )
    },
}
_IMAGE_GEMINI = frozenset({"aspect_ratio", "image_size"})
_TOOL_ONLY_VERTEX = frozenset({"retrieval", "enterprise_web_search", "parallel_ai_search", "exa_ai_search"})
_TOOL_ONLY_GEMINI = frozenset({"file_search"})
_SEARCH_ONLY_VERTEX = frozenset({"blocking_confidence", "exclude_domains"})
EMBED_ONLY_VERTEX = frozenset({"mime_type", "auto_truncate", "document_ocr", "audio_track_extraction"})
EMBED_FIELDS = frozenset({"task_type", "title", "output_dimensionality"})


@dataclass(frozen=True)
class Target:
    """Which backend requests are built for (and, on Vertex, the project and location of resource names)."""

    backend: str = "gemini"
    project: str | None = None
    location: str = "us-central1"


GEMINI = Target()


def cached_content_name(name: Any, field: str, backend: str, project: str | None, location: str) -> str:
    """``t_cached_content_name``: a bare id gets ``cachedContents/`` (and ``projects/../locations/..`` on Vertex)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(field, "is empty", "give a cached content name such as 'cachedContents/abc'")
    plain(name, field)
    prefix = "cachedContents"
    bare = not name.startswith(f"{prefix}/") and f"{prefix}/{name}".count("/") + 1 == 2
    if backend == "vertex" and project:
        if name.startswith("projects/"):
            return name
        if name.startswith("locations/"):
            return f"projects/{project}/{name}"
        if name.startswith(f"{prefix}/"):
            return f"projects/{project}/locations/{location}/{name}"
        return f"projects/{project}/locations/{location}/{prefix}/{name}" if bare else name
    return f"{prefix}/{name}" if bare else name


def model_name(model: Any, field: str, backend: str) -> str:
    """``t_model`` for a per-request model (Gemini): ``models/`` is added to a bare name."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(field, "is empty", "give a model such as 'gemini-2.5-flash'")
    if ".." in model or "?" in model or "&" in model or any(c.isspace() for c in model):
        raise InvalidInputError(field, f"{model!r} is not a model name", "use a name such as 'gemini-2.5-flash'")
    if backend == "vertex":
        raise InvalidInputError(
            field,
            "Vertex AI batch prediction runs every request on the job's model",
            "remove the per-request model, or submit one job per model",
        )
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def _speech(value: Any, field: str, backend: str) -> Any:
    """``t_speech_config``: a voice name becomes a prebuilt voice; Vertex renames the outer keys
    (``_SpeechConfig_to_vertex``, ``_VoiceConfig_to_vertex``), Gemini sends it as given."""
    if isinstance(value, str):
        value = {"voice_config": {"prebuilt_voice_config": {"voice_name": value}}}
    converted = plain(value, field)
    if backend != "vertex":
        return converted
    out: JsonDict = {}
    for name, item in converted.items():
        if name == "voice_config":
            out["voiceConfig"] = _vertex_voice(item, f"{field}.{name}")
        elif name == "multi_speaker_voice_config" and isinstance(item, dict):
            speakers = item.get("speaker_voice_configs") or []
            out["multiSpeakerVoiceConfig"] = {
                "speakerVoiceConfigs": [
                    {
                        camel(k): _vertex_voice(v, f"{field}.{name}.speaker_voice_configs[{i}].{k}")
                        if k == "voice_config"
                        else v
                        for k, v in speaker.items()
                    }
                    for i, speaker in enumerate(speakers)
                ]
            }
        else:
            out[camel(name)] = item
    return out


def _vertex_voice(value: Any, field: str) -> Any:
    if not isinstance(value, dict):
        return value
    out: JsonDict = {}
    for name, item in value.items():
        if name == "replicated_voice_config" and isinstance(item, dict):
            for bad in ("consent_audio", "voice_consent_signature"):
                if bad in item:
                    raise not_on_backend(f"{field}.{name}.{bad}", "vertex")
            out["replicatedVoiceConfig"] = {camel(k): v for k, v in item.items()}
        else:
            out[camel(name)] = item
    return out


def _image(value: Any, field: str, backend: str) -> JsonDict:
    fields = snake_keys(value, field)
    out: JsonDict = {}
    for name, item in fields.items():
        if backend == "gemini" and name not in _IMAGE_GEMINI:
            raise not_on_backend(f"{field}.{name}", backend)
        if name in ("output_mime_type", "output_compression_quality"):
            options = out.setdefault("imageOutputOptions", {})
            options["mimeType" if name == "output_mime_type" else "compressionQuality"] = plain(item, field)
        else:
            out[camel(name)] = plain(item, f"{field}.{name}")
    return out


def _safety(value: Any, field: str, backend: str) -> list[JsonDict]:
    if not isinstance(value, list | tuple):
        raise InvalidInputError(field, f"is a {type(value).__name__}", "give a list of {'category', 'threshold'}")
    out = []
    for index, item in enumerate(value):
        setting = snake_keys(item, f"{field}[{index}]")
        if backend == "gemini" and "method" in setting:
            raise not_on_backend(f"{field}[{index}].method", backend)
        out.append(plain(setting, f"{field}[{index}]"))
    return out


def _tool_config(value: Any, field: str, backend: str) -> JsonDict:
    fields = snake_keys(value, field)
    out: JsonDict = {}
    for name, item in fields.items():
        where = f"{field}.{name}"
        if name == "include_server_side_tool_invocations" and backend == "vertex":
            raise not_on_backend(where, backend)
        if name == "function_calling_config" and backend == "gemini":
            calling = snake_keys(item, where)
            if "stream_function_call_arguments" in calling:
                raise not_on_backend(f"{where}.stream_function_call_arguments", backend)
            out[camel(name)] = {camel(k): enum_value(k, plain(v, f"{where}.{k}")) for k, v in calling.items()}
        else:
            out[camel(name)] = plain(item, where)
    return out


def _declaration(value: Any, field: str) -> JsonDict:
    declaration: JsonDict = plain(value, field)
    if not isinstance(declaration, dict):
        raise InvalidInputError(field, f"is a {type(value).__name__}", "give {'name': ..., 'parameters': {...}}")
    for key in ("parameters", "response"):
        if isinstance(declaration.get(key), dict):
            declaration[key] = _upper_types(declaration[key])
    return declaration


def _upper_types(schema: Any) -> Any:
    """The API's Schema type names are upper-case (the SDK's Type enum accepts any case)."""
    if isinstance(schema, list):
        return [_upper_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: JsonDict = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.upper()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _upper_types(sub) for name, sub in value.items()}
        elif key in ("items", "any_of", "additional_properties"):
            out[key] = _upper_types(value)
        else:
            out[key] = value
    return out


def _tool(tool: Mapping[str, Any], field: str, backend: str) -> JsonDict:
    out: JsonDict = {}
    for name, value in tool.items():
        where = f"{field}.{name}"
        if (backend == "gemini" and name in _TOOL_ONLY_VERTEX) or (backend == "vertex" and name in _TOOL_ONLY_GEMINI):
            raise not_on_backend(where, backend)
        if name == "function_declarations":
            out["functionDeclarations"] = value
        elif name == "mcp_servers" and backend == "vertex" and value:
            raise not_on_backend(where, backend)
        elif name == "google_search" and backend == "gemini":
            search = snake_keys(value, where)
            for bad in _SEARCH_ONLY_VERTEX & set(search):
                raise not_on_backend(f"{where}.{bad}", backend)
            out["googleSearch"] = {camel(k): enum_value(k, plain(v, f"{where}.{k}")) for k, v in search.items()}
        elif name == "google_maps" and backend == "gemini":
            maps = snake_keys(value, where)
            if "grounding_types" in maps:
                raise not_on_backend(f"{where}.grounding_types", backend)
            converted = {camel(k): plain(v, f"{where}.{k}") for k, v in maps.items()}
            if "authConfig" in converted:
                converted["authConfig"] = _auth_config(converted["authConfig"], f"{where}.auth_config")
            out["googleMaps"] = converted
        else:
            out[camel(name)] = plain(value, where)
    return out


def _auth_config(value: JsonDict, field: str) -> JsonDict:
    for name in value:
        if name != "api_key":
            raise not_on_backend(f"{field}.{name}", "gemini")
    return {"apiKey": value["api_key"]} if "api_key" in value else {}


def tools_to_wire(value: Any, field: str, backend: str) -> list[JsonDict]:
    """``t_tools``: every function declaration merged into one last tool; other tools kept in order."""
    if not isinstance(value, list | tuple):
        raise InvalidInputError(field, f"is a {type(value).__name__}", "give a list of tools")
    declarations: list[JsonDict] = []
    tools: list[JsonDict] = []
    for index, tool in enumerate(value):
        where = f"{field}[{index}]"
        if inspect.isfunction(tool) or inspect.ismethod(tool) or (callable(tool) and not isinstance(tool, Mapping)):
            raise InvalidInputError(
                where,
                "is a Python function; a batch cannot call your code",
                "declare it: {'function_declarations': [{'name': ..., 'parameters': {...}}]}",
            )
        if not tool:
            continue
        fields = snake_keys(tool, where)
        given = fields.pop("function_declarations", None)
        if given:
            if not isinstance(given, list | tuple):
                raise InvalidInputError(f"{where}.function_declarations", "is not a list", "give a list")
            declarations += [_declaration(d, f"{where}.function_declarations[{i}]") for i, d in enumerate(given)]
        if fields or not given:
            tools.append(_tool(fields, where, backend))
    if declarations:
        tools.append({"functionDeclarations": declarations})
    return tools


def service_tier(value: Any, field: str) -> str:
    """``service_tier`` as google-genai's ``ServiceTier`` sends it (its value, lower-case); any other spelling is
    refused, where the SDK would warn and send it for the API to reject."""
    text = plain(value, field)
    if isinstance(text, str) and text.strip().lower() in SERVICE_TIERS:
        return text.strip().lower()
    raise InvalidInputError(
        field,
        f"is {text!r}, which is no service tier of the Gemini API",
        f"use one of {', '.join(repr(t) for t in SERVICE_TIERS)} (for example 'flex' for Flex pricing)",
    )


def labels(value: Any, field: str) -> dict[str, str]:
    """Per-request ``labels``: a map of strings to strings, keys as given (google-genai's ``dict[str, str]``)."""
    given = plain(value, field, snake=False)
    if not isinstance(given, dict):
        raise InvalidInputError(field, f"is a {type(value).__name__}", "give a dict of strings, e.g. {'team': 'a'}")
    for key, item in given.items():
        if not isinstance(item, str):
            raise InvalidInputError(f"{field}.{key}", f"is a {type(item).__name__}", "give label values as strings")
    return given


def boolean(value: Any, field: str) -> bool:
    """A ``bool`` field (``store``): Google's JSON parser takes only ``true`` / ``false``."""
    if not isinstance(value, bool):
        raise InvalidInputError(field, f"is {value!r}", "give True or False")
    return value


def config_to_request_fields(
    config: Any, field: str, backend: str, *, project: str | None = None, location: str = "us-central1"
) -> JsonDict:
    """Split a GenerateContentConfig (dict, snake or camel, or pydantic object) for one request."""
    if config is None:
        return {}
    fields = snake_keys(config, field)
    if backend == "vertex" and not fields:
        return {}  # models.generate_content on Vertex treats an empty config as none
    if isinstance(fields.get("generation_config"), Mapping):
        fields = {**snake_keys(fields.pop("generation_config"), f"{field}.generation_config"), **fields}
    request: JsonDict = {}
    generation: JsonDict = {}
    for name, value in fields.items():
        where = f"{field}.{name}"
        if name in CLIENT_ONLY:
            continue
        if (backend == "vertex" and name in ONLY_GEMINI) or (
            backend == "gemini" and (name in ONLY_VERTEX or name in ONLY_VERTEX_REQUEST)
        ):
            raise not_on_backend(where, backend)
        if name in REFUSED[backend]:
            raise InvalidInputError(where, *REFUSED[backend][name])
        if name == "system_instruction":
            request["systemInstruction"] = content_to_wire(value, where, backend)
        elif name == "safety_settings":
            request["safetySettings"] = _safety(value, where, backend)
        elif name == "tools":
            request["tools"] = tools_to_wire(value, where, backend)
        elif name == "tool_config":
            request["toolConfig"] = _tool_config(value, where, backend)
        elif name == "cached_content":
            request["cachedContent"] = cached_content_name(value, where, backend, project, location)
        elif name == "service_tier":
            request["serviceTier"] = service_tier(value, where)
        elif name == "labels":
            request["labels"] = labels(value, where)
        elif name == "continuation_token":
            request["continuationToken"] = b64_field(value, where)
        elif name == "store":
            request["store"] = boolean(value, where)
        elif name in ONLY_VERTEX_REQUEST:
            request[ONLY_VERTEX_REQUEST[name]] = plain(value, where)
        elif name == "response_schema":
            schema = response_schema_to_wire(value, where, backend)
            if schema is not None:
                generation["responseSchema"] = schema
        elif name == "response_json_schema":
            generation["responseJsonSchema"] = json_schema_to_wire(value, where)
        elif name == "speech_config":
            if value:
                generation["speechConfig"] = _speech(value, where, backend)
        elif name == "image_config":
            generation["imageConfig"] = _image(value, where, backend)
        elif name in ONLY_VERTEX:
            generation[ONLY_VERTEX[name]] = plain(value, where)
        elif name in GENERATION or name == "enable_enhanced_civic_answers":
            generation[camel(name)] = enum_value(name, plain(value, where))
        else:
            raise InvalidInputError(
                where, "is not a GenerateContentConfig field", "check the spelling (see google-genai's types)"
            )
    request["generationConfig"] = generation
    return request


def embed_config_to_wire(config: Any, field: str) -> JsonDict:
    """``_EmbedContentConfig_to_mldev``: task type, title and output dimensionality (Gemini)."""
    if config is None:
        return {}
    out: JsonDict = {}
    for name, value in snake_keys(config, field).items():
        where = f"{field}.{name}"
        if name in CLIENT_ONLY:
            continue
        if name in EMBED_ONLY_VERTEX:
            raise not_on_backend(where, "gemini")
        if name not in EMBED_FIELDS:
            raise InvalidInputError(
                where, "is not an EmbedContentConfig field", "use task_type, title or output_dimensionality"
            )
        out[camel(name)] = plain(value, where)
    return out
