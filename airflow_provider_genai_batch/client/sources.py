"""Turn what a user passes as ``src`` into one of a few source kinds, validating as it goes. Pure.

Accepted, as in google-genai: a list of requests (strings, dicts in snake_case or camelCase, ``InlinedRequest``
or google-genai ``types.InlinedRequest``), ``"files/..."``, ``"gs://..."`` (or a list of them), ``"bq://..."``,
a ``BatchJobSource`` (or dict); and beyond the SDK: a local JSONL path (``pathlib.Path`` or
``"file://..."``) and any iterable of requests, streamed.

Requests are built for one backend (``Target``) by the conversion modules in ``client/wire/`` (``content``,
``schema``, ``generation``) exactly as google-genai 3.3.0 builds them (docs/SDK_PARITY.md); ``metadata`` is the
user's own, never invented.

Example::

    resolve_source([{"contents": "hi", "metadata": {"key": "a"}}], target=Target("vertex", "proj", "us-central1"))
    # InlineSource(requests=[{"request": {"contents": [...]}, "metadata": {"key": "a"}}])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_snake

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.models import BatchJobSource, EmbedContentBatch, InlinedRequest
from airflow_provider_genai_batch.client.names import GcsUri
from airflow_provider_genai_batch.client.validation import invalid_input_from
from airflow_provider_genai_batch.client.wire.common import JsonDict, check_bigquery_uri
from airflow_provider_genai_batch.client.wire.content import content_to_wire, contents_to_wire
from airflow_provider_genai_batch.client.wire.generation import (
    GEMINI,
    Target,
    config_to_request_fields,
    embed_config_to_wire,
    model_name,
)
from airflow_provider_genai_batch.client.wire.values import check_text, plain

_INLINED_FIELDS = frozenset({"model", "contents", "config", "metadata"})


@dataclass(frozen=True)
class InlineSource:
    """Requests in wire form: ``{"request": {...}, "metadata": {...}}``."""

    requests: list[JsonDict]


@dataclass(frozen=True)
class FileSource:
    """A Gemini Files API file, ``files/...``."""

    file_name: str


@dataclass(frozen=True)
class GcsSource:
    """Vertex: JSONL objects in GCS, each URI parsed once."""

    uris: list[GcsUri]


@dataclass(frozen=True)
class BigQuerySource:
    """Vertex: a BigQuery table with a ``request`` column."""

    uri: str


@dataclass(frozen=True)
class LocalFileSource:
    """A local JSONL file, uploaded (Gemini) or staged to GCS (Vertex) before the job is created."""

    path: Path


@dataclass(frozen=True)
class StreamSource:
    """Requests from an iterable, serialized to JSONL lines while uploading (bounded memory)."""

    requests: Iterable[Any]


Source = InlineSource | FileSource | GcsSource | BigQuerySource | LocalFileSource | StreamSource

#: Called with ``(index, request)`` for each request of a list, just before it is converted: a caller's checks
#: and hashes run in the same pass as the conversion (the operators' depth check and idempotency fingerprint).
RequestObserver = Callable[[int, Any], None]


def _check_metadata(metadata: Any, field: str) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(field, f"must be a mapping, got {type(metadata).__name__}", "pass a dict")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise InvalidInputError(
                f"{field}.{key}",
                f"is a {type(value).__name__}, but metadata values must be strings",
                "convert the value with str()",
            )
        check_text(value, f"{field}.{key}")
    return dict(metadata)


def _wire_request(request: Any, where: str) -> JsonDict:
    """A request already in wire form (``{"request": {...}}``): sent as given once checked to be JSON data."""
    request = plain(request, f"{where}.request", snake=False)
    if not isinstance(request, dict) or not request.get("contents"):
        raise InvalidInputError(f"{where}.request.contents", "is missing", "give the request's contents")
    return request


def _too_deep(where: str) -> InvalidInputError:
    return InvalidInputError(where, "is nested too deeply to be sent as JSON", "flatten the data (or a cycle in it)")


def generation_request_to_wire(item: Any, index: int, field: str = "src", target: Target = GEMINI) -> JsonDict:
    """One request of a generation batch in wire form, as google-genai's ``_InlinedRequest_to_mldev`` builds it
    (and, for Vertex, as ``models.generate_content`` builds the body); ``index`` names it in errors."""
    try:
        return _generation_request(item, f"{field}[{index}]", target)
    except RecursionError:
        raise _too_deep(f"{field}[{index}]") from None


def _generation_request(item: Any, where: str, target: Target) -> JsonDict:
    if isinstance(item, str):
        return {"request": {"contents": contents_to_wire(item, f"{where}.contents", target.backend)}}
    if isinstance(item, BaseModel) and not isinstance(item, InlinedRequest):
        item = item.model_dump(exclude_none=True)
    if isinstance(item, Mapping) and "request" in item:
        metadata = _check_metadata(item.get("metadata"), f"{where}.metadata")
        if metadata is None and item.get("key") is not None:
            metadata = {"key": str(item["key"])}
        out: JsonDict = {"request": _wire_request(item["request"], where)}
        if metadata is not None:
            out["metadata"] = metadata
        return out
    if isinstance(item, Mapping):
        _check_metadata(item.get("metadata"), f"{where}.metadata")
        unknown = sorted(str(k) for k in item if to_snake(str(k)) not in _INLINED_FIELDS)
        if unknown:
            raise InvalidInputError(
                f"{where}.{unknown[0]}", "is not a field of an inlined request", "use contents, config, model, metadata"
            )
        try:
            item = InlinedRequest.model_validate(item)
        except ValidationError as exc:
            raise invalid_input_from(exc, where) from None
    if not isinstance(item, InlinedRequest):
        raise InvalidInputError(
            where, f"is a {type(item).__name__}", "give a prompt string, a dict or an InlinedRequest"
        )
    request: JsonDict = {}
    if item.model:
        request["model"] = model_name(item.model, f"{where}.model", target.backend)
    request["contents"] = contents_to_wire(item.contents, f"{where}.contents", target.backend)
    request.update(
        config_to_request_fields(
            item.config, f"{where}.config", target.backend, project=target.project, location=target.location
        )
    )
    wire: JsonDict = {"request": request}
    if item.metadata is not None:
        wire["metadata"] = {k: check_text(v, f"{where}.metadata.{k}") for k, v in item.metadata.items()}
    return wire


def _embed_content(content: Any, field: str) -> JsonDict:
    """``t_contents_for_embed`` on Gemini: one Content per text, its parts' keys snake_case (sent unconverted)."""
    turn = content_to_wire(content, field, "gemini")
    turn["parts"] = [{to_snake(k): v for k, v in part.items()} for part in turn["parts"]]
    return turn


def embed_requests_to_wire(batch: EmbedContentBatch, field: str = "src") -> list[JsonDict]:
    """Expand an EmbedContentBatch to one request per content, config copied into each (as the SDK does)."""
    shared = embed_config_to_wire(batch.config, f"{field}.config")
    if not batch.contents:
        raise InvalidInputError(f"{field}.contents", "is empty", "give at least one text to embed")
    try:
        return [
            {"request": {"content": _embed_content(content, f"{field}.contents[{index}]"), **shared}}
            for index, content in enumerate(batch.contents)
        ]
    except RecursionError:
        raise _too_deep(f"{field}.contents") from None


def _local_path(src: Any) -> Path | None:
    if isinstance(src, os.PathLike):
        return Path(src)
    if isinstance(src, str) and src.startswith("file://"):
        return Path(src[len("file://") :])
    if isinstance(src, str) and src.endswith((".jsonl", ".json")) and "://" not in src:
        return Path(src)
    return None


def _string_source(src: str, field: str) -> Source:
    if src.startswith("files/"):
        return FileSource(src)
    if src.startswith("gs://"):
        return GcsSource([GcsUri.parse(src, field)])
    if src.startswith("bq://"):
        return BigQuerySource(check_bigquery_uri(src, field, need_table=True))
    raise InvalidInputError(
        field,
        f"{src!r} is not a source",
        "give 'files/...', 'gs://bucket/file.jsonl', 'bq://project.dataset.table', a local .jsonl path "
        "or a list of requests",
    )


def _job_source(src: BatchJobSource, field: str, target: Target) -> Source:
    given = [
        name
        for name in ("inlined_requests", "file_name", "gcs_uri", "bigquery_uri")
        if getattr(src, name) not in (None, [])
    ]
    if len(given) != 1:
        raise InvalidInputError(
            field,
            f"sets {', '.join(given) or 'nothing'}",
            "set exactly one of inlined_requests, file_name, gcs_uri or bigquery_uri",
        )
    if src.inlined_requests is not None:
        return InlineSource(
            [generation_request_to_wire(r, i, field, target) for i, r in enumerate(src.inlined_requests)]
        )
    if src.file_name is not None:
        return FileSource(src.file_name)
    if src.gcs_uri:
        return GcsSource([GcsUri.parse(uri, f"{field}.gcs_uri[{i}]") for i, uri in enumerate(src.gcs_uri)])
    return BigQuerySource(check_bigquery_uri(src.bigquery_uri, f"{field}.bigquery_uri", need_table=True))


def resolve_source(
    src: Any, field: str = "src", target: Target = GEMINI, *, each: RequestObserver | None = None
) -> Source:
    """Classify and validate a generation source; lists are converted now, iterators stay lazy.

    Which backend accepts which kind is checked by the caller (``creation.prepare_create``). ``each`` sees every
    request of a list in the same pass that converts it.
    """
    if src is None:
        raise InvalidInputError(field, "is missing", "give requests, a file, a gs:// or bq:// URI")
    path = _local_path(src)
    if path is not None:
        return _local_file(path, field)
    if isinstance(src, str):
        return _string_source(src, field)
    if isinstance(src, BatchJobSource):
        return _job_source(src, field, target)
    if isinstance(src, BaseModel) and type(src).__name__ == "BatchJobSource":
        return _job_source(BatchJobSource.model_validate(src), field, target)
    if isinstance(src, Mapping):
        if "request" in src or "contents" in src:
            raise InvalidInputError(field, "is a single request", "wrap it in a list: src=[request]")
        return _job_source(BatchJobSource.model_validate(src), field, target)
    if isinstance(src, list | tuple):
        if not src:
            raise InvalidInputError(field, "is an empty list", "give at least one request")
        if all(isinstance(item, str) and item.startswith("gs://") for item in src):
            return GcsSource([GcsUri.parse(uri, f"{field}[{i}]") for i, uri in enumerate(src)])
        return InlineSource(_converted(src, field, target, each))
    if isinstance(src, Iterable) and not isinstance(src, bytes | bytearray):
        return StreamSource(src)
    raise InvalidInputError(field, f"has unsupported type {type(src).__name__}", "see the accepted sources")


def _converted(
    src: list[Any] | tuple[Any, ...], field: str, target: Target, each: RequestObserver | None
) -> list[JsonDict]:
    """Every request in wire form, ``each`` called on it first: one pass."""
    if each is None:
        return [generation_request_to_wire(item, i, field, target) for i, item in enumerate(src)]
    converted = []
    for i, item in enumerate(src):
        each(i, item)
        converted.append(generation_request_to_wire(item, i, field, target))
    return converted


def resolve_embeddings_source(src: Any, field: str = "src", *, each: RequestObserver | None = None) -> Source:
    """Classify and validate an embeddings source (Gemini only); ``each`` sees each text of a list of texts in the
    pass that checks and converts it."""
    path = _local_path(src)
    if path is not None:
        return _local_file(path, field)
    if isinstance(src, str):
        if src.startswith("files/"):
            return FileSource(src)
        raise InvalidInputError(field, f"{src!r} is not an embeddings source", "give 'files/...' or texts")
    if isinstance(src, Mapping) and ("file_name" in src or "fileName" in src):
        file_name = src.get("file_name") or src.get("fileName")
        if not isinstance(file_name, str) or not file_name.startswith("files/"):
            raise InvalidInputError(f"{field}.file_name", f"{file_name!r} is not a file name", "use 'files/<id>'")
        return FileSource(file_name)
    if isinstance(src, Mapping) and "inlined_requests" in src:
        src = src["inlined_requests"]
    if isinstance(src, list | tuple):
        return InlineSource(_texts_to_wire(src, field, each))
    try:
        batch = EmbedContentBatch.model_validate(src)
    except ValidationError:
        raise _not_embeddings(field) from None
    return InlineSource(embed_requests_to_wire(batch, field))


def _not_embeddings(field: str) -> InvalidInputError:
    return InvalidInputError(
        field, "is not an embeddings source", "give a list of texts, {'contents': [...], 'config': {...}}"
    )


def _texts_to_wire(texts: list[Any] | tuple[Any, ...], field: str, each: RequestObserver | None) -> list[JsonDict]:
    """A list of texts in wire form, as ``embed_requests_to_wire`` expands ``{"contents": texts}``: one pass that
    checks each is a text, shows it to ``each`` and converts it."""
    if not texts:
        raise InvalidInputError(f"{field}.contents", "is empty", "give at least one text to embed")
    converted = []
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise _not_embeddings(field)
        if each is not None:
            each(index, text)
        converted.append({"request": {"content": _embed_content(text, f"{field}.contents[{index}]")}})
    return converted


def _local_file(path: Path, field: str) -> LocalFileSource:
    if not path.is_file():
        where = "" if path.is_absolute() else f" (a relative path is read from the current directory, {os.getcwd()})"
        raise InvalidInputError(field, f"local file {str(path)!r} does not exist{where}", "check the path")
    return LocalFileSource(path)


def iter_stream_requests(requests: Iterable[Any], field: str = "src", target: Target = GEMINI) -> Iterator[JsonDict]:
    """Lazily convert each streamed request to wire form, naming its position on error."""
    for index, item in enumerate(requests):
        yield generation_request_to_wire(item, index, field, target)
