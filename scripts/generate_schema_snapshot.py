"""Generate the emulator's schema snapshot from Google's published schema artifacts.

Sources (dev dependencies only, never needed at run time):

- Gemini Developer API: the proto descriptors shipped in ``google-ai-generativelanguage``
  (``google.ai.generativelanguage_v1beta`` and ``_v1``), walked from ``GenerateContentRequest``,
  ``EmbedContentRequest`` and (v1beta only) ``CreateFileRequest``. The batch resources
  (``GenerateContentBatch``, ``InputConfig``, ``InlinedRequest``...) are in no version of that package
  (0.12.1 checked: v1, v1beta, v1alpha), so the batch *envelope* is written
  here by hand from the public REST reference and marked ``hand_written`` in the snapshot; every message it
  points to (``GenerateContentRequest``...) comes from the descriptors.
- Vertex AI: the ``aiplatform`` v1 / v1beta1 discovery documents shipped in ``google-api-python-client``,
  walked from ``BatchPredictionJob`` and ``GenerateContentRequest``. Discovery documents do not record oneofs:
  they are taken from the Gemini proto message of the same short name when every member exists in the Vertex
  message (``inferred``), plus the ``BatchPredictionJob`` input/output ``oneof`` groups of the public
  ``batch_prediction_job.proto`` (``hand_written``).

- Fields google-genai 3.3.0 sends that those artifacts lack (``SDK_FIELDS`` below): added by hand, each with its
  provenance, and listed under ``sdk_fields`` in the snapshot. The newer evidence wins: the SDK sends a field only
  once Google's API takes it. A field public reports show the live API rejecting in the SDK's spelling is added
  with the type that rejects it as Google does (Vertex AI ``serviceTier``).

Run ``.venv/bin/python -m scripts.generate_schema_snapshot`` (writes
``airflow_provider_genai_batch/emulator/schemas/*.json``); ``--check`` exits 1 when the files differ.

Snapshot format (one file per backend and API version)::

    {"format": 1, "backend": "gemini", "version": "v1beta", "artifacts": {...}, "roots": {"Name": "full.Name"},
     "hand_written": [...], "inferred_oneofs": [...], "sdk_fields": [{"message", "field", "provenance"}...],
     "messages": {"full.Name": {"fields": {"proto_name": FIELD}, "oneofs": {"group": ["proto_name", ...]}}},
     "enums": {"full.Name": {"VALUE_NAME": number}}}

    FIELD = {"type": "string|bool|int32|uint32|int64|uint64|float|double|bytes|enum|message|map",
             "json": "jsonName" (only when it is not the lowerCamelCase of the proto name),
             "ref": "full.Name" (enum and message), "repeated": true, "oneof": "group",
             "key": "string|int32|..." and "value": FIELD (map)}

Well-known types (``google.protobuf.Struct``, ``Value``, ``ListValue``, ``Any``, ``Duration``, ``Timestamp``,
``FieldMask``, ``Empty`` and the wrappers) are ``message`` fields whose ``ref`` the validator knows by name.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import re
import sys
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "airflow_provider_genai_batch" / "emulator" / "schemas"
REGENERATE = ".venv/bin/python -m scripts.generate_schema_snapshot"

GEMINI_VERSIONS = ("v1beta", "v1")
VERTEX_VERSIONS = ("v1beta1", "v1")
GEMINI_PACKAGE = "google-ai-generativelanguage"
VERTEX_PACKAGE = "google-api-python-client"

_WKT_PREFIX = "google.protobuf."

# ---------------------------------------------------------------------------------------------------------------
# Gemini: proto descriptors
# ---------------------------------------------------------------------------------------------------------------

_SCALARS = {
    1: "double",
    2: "float",
    3: "int64",
    4: "uint64",
    5: "int32",
    6: "uint64",  # fixed64
    7: "uint32",  # fixed32
    8: "bool",
    9: "string",
    12: "bytes",
    13: "uint32",
    15: "int32",  # sfixed32
    16: "int64",  # sfixed64
    17: "int32",  # sint32
    18: "int64",  # sint64
}
_TYPE_ENUM = 14
_TYPE_MESSAGE = 11


def lower_camel(name: str) -> str:
    """``response_mime_type`` -> ``responseMimeType`` (protoc's default JSON name)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """``responseMimeType`` -> ``response_mime_type``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _is_synthetic(oneof: Any) -> bool:
    """A proto3 ``optional`` field's synthetic oneof (``_name`` holding only ``name``)."""
    return len(oneof.fields) == 1 and oneof.name == "_" + oneof.fields[0].name


def _proto_name(field: Any) -> str:
    """The field's name in the .proto file: proto-plus appends ``_`` to names that clash with Python's
    (``Schema.type`` is ``type_`` in ``google-ai-generativelanguage``); its ``json_name`` keeps the original."""
    name: str = field.name
    if name.endswith("_") and field.json_name == lower_camel(name[:-1]):
        return name[:-1]
    return name


def _proto_field(field: Any, pending: list[Any], enums: dict[str, dict[str, int]]) -> dict[str, Any]:
    spec: dict[str, Any]
    if field.type == _TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        entry = field.message_type
        key = _proto_field(entry.fields_by_name["key"], pending, enums)
        value = _proto_field(entry.fields_by_name["value"], pending, enums)
        return {"type": "map", "key": key["type"], "value": value}
    if field.type == _TYPE_MESSAGE:
        spec = {"type": "message", "ref": field.message_type.full_name}
        if not field.message_type.full_name.startswith(_WKT_PREFIX):
            pending.append(field.message_type)
    elif field.type == _TYPE_ENUM:
        enum = field.enum_type
        enums[enum.full_name] = {value.name: value.number for value in enum.values}
        spec = {"type": "enum", "ref": enum.full_name}
    else:
        spec = {"type": _SCALARS[field.type]}
    if field.is_repeated:
        spec["repeated"] = True
    if field.json_name != lower_camel(_proto_name(field)):
        spec["json"] = field.json_name
    oneof = field.containing_oneof
    if oneof is not None and not _is_synthetic(oneof):
        spec["oneof"] = oneof.name
    return spec


def _walk_protos(roots: list[Any]) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    messages: dict[str, Any] = {}
    enums: dict[str, dict[str, int]] = {}
    pending = list(roots)
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name in messages:
            continue
        fields = {_proto_name(f): _proto_field(f, pending, enums) for f in descriptor.fields}
        oneofs = {o.name: [_proto_name(f) for f in o.fields] for o in descriptor.oneofs if not _is_synthetic(o)}
        messages[descriptor.full_name] = {"fields": fields, **({"oneofs": oneofs} if oneofs else {})}
    return messages, enums


def _envelope(package: str) -> dict[str, Any]:
    """The batch envelope, hand-written from the REST reference (the proto package does not ship it)."""

    def msg(name: str) -> str:
        return f"{package}.{name}"

    def inline(request: str) -> dict[str, Any]:
        return {
            "fields": {
                "request": {"type": "message", "ref": msg(request)},
                "metadata": {"type": "message", "ref": "google.protobuf.Struct"},
            }
        }

    def batch(input_config: str) -> dict[str, Any]:
        return {
            "fields": {
                "model": {"type": "string"},
                "name": {"type": "string"},
                "display_name": {"type": "string"},
                "input_config": {"type": "message", "ref": msg(input_config)},
                "priority": {"type": "int64"},
                "webhook_config": {"type": "message", "ref": msg("WebhookConfig")},
            }
        }

    def input_config(requests: str) -> dict[str, Any]:
        return {
            "fields": {
                "file_name": {"type": "string", "oneof": "source"},
                "requests": {"type": "message", "ref": msg(requests), "oneof": "source"},
            },
            "oneofs": {"source": ["file_name", "requests"]},
        }

    return {
        msg("BatchGenerateContentRequest"): {
            "fields": {"batch": {"type": "message", "ref": msg("GenerateContentBatch")}}
        },
        msg("GenerateContentBatch"): batch("InputConfig"),
        msg("InputConfig"): input_config("InlinedRequests"),
        msg("InlinedRequests"): {
            "fields": {"requests": {"type": "message", "ref": msg("InlinedRequest"), "repeated": True}}
        },
        msg("InlinedRequest"): inline("GenerateContentRequest"),
        msg("AsyncBatchEmbedContentRequest"): {
            "fields": {"batch": {"type": "message", "ref": msg("EmbedContentBatch")}}
        },
        msg("EmbedContentBatch"): batch("InputEmbedContentConfig"),
        msg("InputEmbedContentConfig"): input_config("InlinedEmbedContentRequests"),
        msg("InlinedEmbedContentRequests"): {
            "fields": {"requests": {"type": "message", "ref": msg("InlinedEmbedContentRequest"), "repeated": True}}
        },
        msg("InlinedEmbedContentRequest"): inline("EmbedContentRequest"),
        msg("WebhookConfig"): {
            "fields": {
                "uris": {"type": "string", "repeated": True},
                "user_metadata": {"type": "message", "ref": "google.protobuf.Struct"},
            }
        },
    }


# ---------------------------------------------------------------------------------------------------------------
# Fields google-genai 3.3.0 sends that the published artifacts above lack
# ---------------------------------------------------------------------------------------------------------------

_SDK = "google-genai 3.3.0 models.py / batches.py"
#: message short name -> proto field name -> (FIELD, provenance). Gemini API, every version the SDK may call (3.x
#: sends to ``v1`` by default, this client to ``v1beta``).
GEMINI_SDK_FIELDS: dict[str, dict[str, tuple[dict[str, Any], str]]] = {
    "GenerateContentRequest": {
        "service_tier": (
            {"type": "enum", "ref": "ServiceTier"},
            f"{_SDK} _GenerateContentConfig_to_mldev sets serviceTier on the request, values of types.ServiceTier "
            "(lower-case); https://ai.google.dev/gemini-api/docs/flex-inference documents service_tier 'flex' "
            "in the generateContent body; upper-case 'FLEX' is reported rejected (prism-php/prism#1002)",
        ),
        "labels": (
            {"type": "map", "key": "string", "value": {"type": "string"}},
            f"{_SDK} _GenerateContentConfig_to_mldev sets labels on the request (google-genai 2.19 still raised "
            "'labels parameter is only supported in Gemini Enterprise Agent Platform'; googleapis/python-genai#2296)",
        ),
        "store": (
            {"type": "bool"},
            f"{_SDK} _GenerateContentConfig_to_mldev sets store on the request (GenerateContentConfig.store, a bool)",
        ),
        "continuation_token": (
            {"type": "bytes"},
            f"{_SDK} _GenerateContentConfig_to_mldev sets continuationToken on the request (bytes, base64); the "
            "aiplatform discovery document has the same field on Vertex AI's GenerateContentRequest",
        ),
    },
    "GenerationConfig": {
        "audio_transcription_config": (
            {"type": "message", "ref": "google.protobuf.Struct"},
            f"{_SDK} _GenerateContentConfig_to_mldev sets generationConfig.audioTranscriptionConfig (changelog "
            "2.14.0/2.15.0); its Gemini API message is unpublished, so any object is accepted",
        ),
    },
}
#: google-genai 3.3.0 ``types.ServiceTier`` values, as the SDK sends them.
GEMINI_SERVICE_TIERS = {"unspecified": 0, "flex": 1, "standard": 2, "priority": 3}
VERTEX_SDK_FIELDS: dict[str, dict[str, tuple[dict[str, Any], str]]] = {
    "GenerateContentRequest": {
        "service_tier": (
            {"type": "enum", "ref": "ServiceTier"},
            f"{_SDK} _GenerateContentConfig_to_vertex sets serviceTier on the request; Vertex AI answers 400 "
            "(Invalid value at 'service_tier' ... ServiceTier) for the SDK's values ('flex', 'priority', 'STANDARD') "
            "and takes SERVICE_TIER_FLEX without effect "
            "(googleapis/python-genai#2433, #2847; googleapis/java-genai#972; BerriAI/litellm#34914): only the "
            "names those reports show are listed",
        ),
    },
}
#: Enum names of ``google.cloud.aiplatform.{v}.ServiceTier`` that public reports show accepted.
VERTEX_SERVICE_TIERS = {"SERVICE_TIER_UNSPECIFIED": 0, "SERVICE_TIER_FLEX": 1}


def _add_sdk_fields(
    messages: dict[str, Any],
    enums: dict[str, dict[str, int]],
    prefix: str,
    table: dict[str, dict[str, tuple[dict[str, Any], str]]],
    tiers: dict[str, int],
) -> list[dict[str, str]]:
    """Add ``table``'s fields to ``messages`` (names under ``prefix``); their provenance, for ``sdk_fields``."""
    added = []
    for short, fields in table.items():
        message = messages[prefix + short]
        for name, (spec, provenance) in fields.items():
            if name in message["fields"]:
                raise SystemExit(f"{prefix}{short}.{name} is published now: drop it from the SDK_FIELDS table")
            spec = dict(spec)
            if spec.get("ref") == "ServiceTier":
                spec["ref"] = prefix + "ServiceTier"
                enums[spec["ref"]] = dict(tiers)
            message["fields"][name] = spec
            added.append({"message": prefix + short, "field": name, "provenance": provenance})
    return added


def gemini_snapshot(version: str) -> dict[str, Any]:
    """The snapshot of one Gemini API version."""
    module = importlib.import_module(f"google.ai.generativelanguage_{version}")
    # CreateFileRequest (the Files API upload's metadata) ships in v1beta only.
    names = [n for n in ("GenerateContentRequest", "EmbedContentRequest", "CreateFileRequest") if hasattr(module, n)]
    roots = [getattr(module, name).pb().DESCRIPTOR for name in names]
    package = roots[0].file.package
    messages, enums = _walk_protos(roots)
    missing = [name for name in ("GenerateContentBatch", "InlinedRequest", "InputConfig") if hasattr(module, name)]
    envelope = _envelope(package)
    if missing:
        raise SystemExit(f"{module.__name__} now ships {missing}: build the envelope from the descriptors instead")
    messages.update(envelope)
    sdk_fields = _add_sdk_fields(messages, enums, f"{package}.", GEMINI_SDK_FIELDS, GEMINI_SERVICE_TIERS)
    return {
        "format": 1,
        "backend": "gemini",
        "version": version,
        "artifacts": {
            GEMINI_PACKAGE: importlib.metadata.version(GEMINI_PACKAGE),
            "module": module.__name__,
            "type_prefix": "type.googleapis.com/",
        },
        "roots": {
            "BatchGenerateContentRequest": f"{package}.BatchGenerateContentRequest",
            "AsyncBatchEmbedContentRequest": f"{package}.AsyncBatchEmbedContentRequest",
            **{name: f"{package}.{name}" for name in names},
        },
        "hand_written": sorted(envelope),
        "inferred_oneofs": [],
        "sdk_fields": sdk_fields,
        "messages": dict(sorted(messages.items())),
        "enums": dict(sorted(enums.items())),
    }


# ---------------------------------------------------------------------------------------------------------------
# Vertex AI: discovery documents
# ---------------------------------------------------------------------------------------------------------------

_STRING_FORMATS = {
    "byte": {"type": "bytes"},
    "int64": {"type": "int64"},
    "uint64": {"type": "uint64"},
    "google-datetime": {"type": "message", "ref": "google.protobuf.Timestamp"},
    "google-duration": {"type": "message", "ref": "google.protobuf.Duration"},
    "google-fieldmask": {"type": "message", "ref": "google.protobuf.FieldMask"},
}

#: Oneof groups of ``google/cloud/aiplatform/{v}/batch_prediction_job.proto`` (not in discovery documents).
_VERTEX_ONEOFS = {
    "BatchPredictionJobInputConfig": {"source": ["gcs_source", "bigquery_source", "vertex_multimodal_dataset_source"]},
    "BatchPredictionJobOutputConfig": {
        "destination": ["gcs_destination", "bigquery_destination", "vertex_multimodal_dataset_destination"]
    },
}


def _discovery_field(prop: dict[str, Any], pending: list[str], enums: dict[str, dict[str, int]], name: str) -> Any:
    if "$ref" in prop:
        pending.append(prop["$ref"])
        return {"type": "message", "ref": prop["$ref"]}
    kind = prop.get("type")
    if kind == "array":
        item = _discovery_field(prop.get("items", {"type": "any"}), pending, enums, name)
        if item.get("repeated") or item["type"] == "map":
            item = {"type": "message", "ref": "google.protobuf.ListValue"}
        return {**item, "repeated": True}
    if kind == "object":
        extra = prop.get("additionalProperties")
        if extra is None or extra.get("type") == "any":
            return {"type": "message", "ref": "google.protobuf.Struct"}
        return {"type": "map", "key": "string", "value": _discovery_field(extra, pending, enums, name)}
    if kind == "any":
        return {"type": "message", "ref": "google.protobuf.Value"}
    if kind == "boolean":
        return {"type": "bool"}
    if kind == "integer":
        return {"type": "uint32" if prop.get("format") == "uint32" else "int32"}
    if kind == "number":
        return {"type": "float" if prop.get("format") == "float" else "double"}
    if kind == "string" and "enum" in prop:
        enums[name] = {value: number for number, value in enumerate(prop["enum"])}
        return {"type": "enum", "ref": name}
    if kind == "string":
        return dict(_STRING_FORMATS.get(prop.get("format", ""), {"type": "string"}))
    raise SystemExit(f"unexpected discovery property {prop!r} at {name}")


def _discovery_path(version: str) -> Path:
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / f"aiplatform.{version}.json"


def vertex_snapshot(version: str, gemini: dict[str, Any]) -> dict[str, Any]:
    """The snapshot of one Vertex AI API version (``gemini``: the Gemini snapshot oneofs are inferred from)."""
    path = _discovery_path(version)
    document = json.loads(path.read_text())
    schemas = document["schemas"]
    prefix = f"GoogleCloudAiplatform{version[:1].upper()}{version[1:]}"
    roots = {name: prefix + name for name in ("BatchPredictionJob", "GenerateContentRequest")}
    gemini_by_short = {full.rsplit(".", 1)[-1]: spec for full, spec in gemini["messages"].items()}
    messages: dict[str, Any] = {}
    enums: dict[str, dict[str, int]] = {}
    inferred: list[str] = []
    pending = list(roots.values())
    while pending:
        name = pending.pop()
        if name in messages:
            continue
        props = schemas[name].get("properties", {})
        fields = {}
        for json_name, prop in sorted(props.items()):
            spec = _discovery_field(prop, pending, enums, f"{name}.{json_name}")
            proto_name = snake(json_name)
            if lower_camel(proto_name) != json_name:
                spec["json"] = json_name
            fields[proto_name] = spec
        short = name.removeprefix(prefix)
        oneofs = dict(_VERTEX_ONEOFS.get(short, {}))
        for group, members in gemini_by_short.get(short, {}).get("oneofs", {}).items():
            if group not in oneofs and all(member in fields for member in members):
                oneofs[group] = list(members)
                inferred.append(f"{name}.{group}")
        for group, members in oneofs.items():
            for member in members:
                if member in fields:
                    fields[member]["oneof"] = group
        oneofs = {g: [m for m in ms if m in fields] for g, ms in oneofs.items()}
        messages[name] = {"fields": fields, **({"oneofs": oneofs} if oneofs else {})}
    sdk_fields = _add_sdk_fields(messages, enums, prefix, VERTEX_SDK_FIELDS, VERTEX_SERVICE_TIERS)
    return {
        "format": 1,
        "backend": "vertex",
        "version": version,
        "artifacts": {
            VERTEX_PACKAGE: importlib.metadata.version(VERTEX_PACKAGE),
            "document": f"googleapiclient/discovery_cache/documents/{path.name}",
            "revision": document.get("revision"),
            "oneofs_from": f"{GEMINI_PACKAGE} {gemini['artifacts'][GEMINI_PACKAGE]} ({gemini['artifacts']['module']})",
            "type_prefix": "type.googleapis.com/",
        },
        "roots": roots,
        "hand_written": sorted(f"{prefix}{short}.{g}" for short, groups in _VERTEX_ONEOFS.items() for g in groups),
        "inferred_oneofs": sorted(inferred),
        "sdk_fields": sdk_fields,
        "messages": dict(sorted(messages.items())),
        "enums": dict(sorted(enums.items())),
    }


# ---------------------------------------------------------------------------------------------------------------


def snapshots() -> dict[str, str]:
    """File name -> text of every snapshot, generated from the installed packages."""
    gemini = {version: gemini_snapshot(version) for version in GEMINI_VERSIONS}
    out = {f"gemini.{v}.json": snapshot for v, snapshot in gemini.items()}
    for version in VERTEX_VERSIONS:
        out[f"vertex.{version}.json"] = vertex_snapshot(version, gemini["v1beta" if "beta" in version else "v1"])
    return {
        name: json.dumps(data, indent=0, sort_keys=False, separators=(",", ":")) + "\n" for name, data in out.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Write the snapshot files (or, with ``--check``, report whether they are up to date)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from a fresh generation")
    args = parser.parse_args(argv)
    stale = []
    for name, text in snapshots().items():
        path = SCHEMA_DIR / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print(f"schema snapshot out of date: {', '.join(stale)}; run {REGENERATE}", file=sys.stderr)
        return 1
    print(("stale: " if args.check else "written: ") + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
