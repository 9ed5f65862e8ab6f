"""Gemini Developer API ("mldev") batches and Files API: request builders and response parsers. Pure.

Example::

    request = build_get(settings, "batches/abc")          # GET {base}/v1beta/batches/abc
    job = parse_job(response.json())                       # BatchJob, state JOB_STATE_*
"""

from __future__ import annotations

import os
import re
from typing import Any

from airflow_provider_genai_batch.client.errors import InvalidInputError, InvalidResponseError
from airflow_provider_genai_batch.client.models import (
    BatchJob,
    BatchJobDestination,
    BatchJobSource,
    BatchStats,
    File,
    InlinedResponse,
    JobError,
)
from airflow_provider_genai_batch.client.names import ModelName
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.wire.common import (
    ApiRequest,
    JsonDict,
    int64,
    job_fields,
    join_url,
    matched,
    object_field,
    page_params,
    parse_page,
    required_name,
    response_parser,
)
from airflow_provider_genai_batch.client.wire.stamp import stamp_metadata

_NAME_RE = re.compile(r"^(?:batches/)?([A-Za-z0-9][A-Za-z0-9_-]{0,127})$")
_FILE_RE = re.compile(r"^(?:files/)?([A-Za-z0-9][A-Za-z0-9_-]{0,127})$")


def model_path(model: str) -> str:
    """``gemini-2.5-flash`` -> ``models/gemini-2.5-flash``; ``models/...`` and ``tunedModels/...`` unchanged.

    A :class:`~airflow_provider_genai_batch.client.names.ModelName` is not checked again."""
    model = ModelName.parse(model)
    if model.startswith(("models/", "tunedModels/")):
        return model
    if "/" in model:
        raise InvalidInputError(
            "model",
            f"{model!r} is not a Gemini API model",
            "use 'gemini-2.5-flash' or 'models/gemini-2.5-flash'",
        )
    return f"models/{model}"


def batch_id(name: Any, field: str = "name") -> str:
    """The id of ``batches/{id}`` (a bare id is accepted too)."""
    return matched(_NAME_RE, name, field, "a Gemini batch name", "use the job name returned by create, 'batches/<id>'")[
        1
    ]


def file_id(name: Any, field: str = "file_name") -> str:
    """The id of ``files/{id}``, or of a ``https://.../files/{id}`` URI."""
    if isinstance(name, str) and "://" in name and "/files/" in name:
        name = name.rsplit("/files/", 1)[1].split(":", 1)[0].split("?", 1)[0]
    return matched(_FILE_RE, name, field, "a file name", "use 'files/<id>'")[1]


def _api(settings: ClientSettings, path: str) -> str:
    return join_url(settings.effective_base_url, settings.effective_api_version, path)


def build_create(
    settings: ClientSettings,
    model: str,
    input_config: JsonDict,
    *,
    display_name: str | None = None,
    webhook_config: JsonDict | None = None,
    embeddings: bool = False,
) -> ApiRequest:
    """POST ``models/{m}:batchGenerateContent`` (or ``:asyncBatchEmbedContent``). Never blindly re-sent.

    ``model``: the resource path (:func:`model_path`, built once when the create was prepared)."""
    batch: JsonDict = {"inputConfig": input_config}
    if display_name:
        batch["displayName"] = display_name
    if webhook_config is not None:  # an empty one too, as google-genai sends it
        batch["webhookConfig"] = webhook_config
    verb = "asyncBatchEmbedContent" if embeddings else "batchGenerateContent"
    return ApiRequest("POST", _api(settings, f"{model}:{verb}"), json={"batch": batch}, idempotent=False)


def inline_request(item: JsonDict, index: int) -> JsonDict:
    """One inlined request stamped with its index in ``metadata`` (see ``stamp.py``):
    ``{"request": {...}, "metadata": {...the user's..., "genai_batch_index": "0"}}``. The Gemini API echoes
    ``metadata`` in ``inlinedResponses[].metadata``, in whatever order it returns them.
    """
    return {**item, "metadata": stamp_metadata(item.get("metadata"), index, f"src[{index}]")}


def inline_requests(stamped: list[JsonDict]) -> JsonDict:
    """``inputConfig`` for requests already stamped by :func:`inline_request`."""
    return {"requests": {"requests": stamped}}


def inline_input(requests: list[JsonDict]) -> JsonDict:
    """``inputConfig`` for inlined requests, each stamped with its index (:func:`inline_request`)."""
    return inline_requests([inline_request(item, index) for index, item in enumerate(requests)])


def file_input(file_name: str) -> JsonDict:
    """``inputConfig`` for a Files API file."""
    return {"fileName": f"files/{file_id(file_name, 'src')}"}


def build_get(settings: ClientSettings, name: str) -> ApiRequest:
    """GET ``batches/{id}``."""
    return ApiRequest("GET", _api(settings, f"batches/{batch_id(name)}"))


def build_list(settings: ClientSettings, page_size: int | None, page_token: str | None) -> ApiRequest:
    """GET ``batches?pageSize=&pageToken=``."""
    return ApiRequest("GET", _api(settings, "batches"), params=page_params(page_size, page_token))


def build_cancel(settings: ClientSettings, name: str) -> ApiRequest:
    """POST ``batches/{id}:cancel`` with no body. Cancelling twice is harmless, so it may be retried."""
    return ApiRequest("POST", _api(settings, f"batches/{batch_id(name)}:cancel"))


def build_delete(settings: ClientSettings, name: str) -> ApiRequest:
    """DELETE ``batches/{id}``."""
    return ApiRequest("DELETE", _api(settings, f"batches/{batch_id(name)}"))


def _responses(raw: list[Any]) -> list[InlinedResponse]:
    return [InlinedResponse.model_validate(item) for item in raw if isinstance(item, dict)]


def parse_destination(output: JsonDict | None) -> BatchJobDestination | None:
    """``metadata.output`` (or the top-level ``response``) to a destination, as the SDK reads it."""
    if not output:
        return None
    if output.get("responsesFile"):
        return BatchJobDestination(file_name=output["responsesFile"])
    inlined = (output.get("inlinedResponses") or {}).get("inlinedResponses")
    if isinstance(inlined, list):
        responses = _responses(inlined)
        if any(r.response and "embedding" in r.response for r in responses):
            return BatchJobDestination(inlined_embed_content_responses=responses)
        return BatchJobDestination(inlined_responses=responses)
    return None


def parse_source(input_config: JsonDict | None) -> BatchJobSource | None:
    """``metadata.inputConfig`` to a source (requests are not echoed back in full)."""
    if not input_config:
        return None
    file_name = input_config.get("fileName") or input_config.get("file_name")
    return BatchJobSource(file_name=file_name) if file_name else BatchJobSource()


@response_parser("Gemini batch")
def parse_job(body: JsonDict) -> BatchJob:
    """An Operation wrapping a GenerateContentBatch (or EmbedContentBatch) to a BatchJob."""
    name = required_name(body, "the Gemini API returned a batch without a name")
    metadata = object_field(body, "metadata")
    stats = object_field(metadata, "batchStats")
    output = object_field(metadata, "output") or {
        k: v for k, v in object_field(body, "response").items() if k != "@type"
    }
    error = body.get("error")
    return BatchJob(
        name=name,
        backend="gemini",
        **job_fields(metadata),
        error=JobError.model_validate(error) if isinstance(error, dict) else None,
        src=parse_source(object_field(metadata, "inputConfig")),
        dest=parse_destination(output),
        batch_stats=BatchStats(
            request_count=int64(stats.get("requestCount")),
            successful_request_count=int64(stats.get("successfulRequestCount")),
            failed_request_count=int64(stats.get("failedRequestCount")),
            pending_request_count=int64(stats.get("pendingRequestCount")),
        )
        if stats
        else None,
    )


@response_parser("Gemini batch list")
def parse_list(body: JsonDict) -> tuple[list[BatchJob], str | None]:
    """``{"operations": [...], "nextPageToken"}`` to jobs and the next token."""
    return parse_page(body, ("operations", "batches"), parse_job)


# --- Files API ---------------------------------------------------------------------------------


def upload_file_name(path: str | os.PathLike[str] | None) -> str | None:
    """The ``X-Goog-Upload-File-Name`` of a local file, as google-genai sends it (``os.path.basename``), or ``None``
    when there is no path or the name is not printable ASCII: HTTP/1.1 header values are bytes, and a name with
    other characters (``é``, a newline) cannot be sent as the SDK sends it (it fails there), so it is left out."""
    if path is None:
        return None
    name = os.path.basename(os.fspath(path))
    if not name or not name.isascii() or not name.isprintable():
        return None
    return name


def build_upload_start(
    settings: ClientSettings, size: int, mime_type: str, display_name: str | None, file_name: str | None = None
) -> ApiRequest:
    """Start a resumable upload: POST ``upload/{V}/files``. Safe to retry: it only opens a session.

    ``file_name`` (``upload_file_name`` of a local path) is sent as ``X-Goog-Upload-File-Name``, as google-genai's
    ``prepare_resumable_upload`` does for uploads from a path."""
    file: JsonDict = {"mimeType": mime_type, "sizeBytes": str(size)}
    if display_name:
        file["displayName"] = display_name
    headers = {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": mime_type,
    }
    if file_name:
        headers["X-Goog-Upload-File-Name"] = file_name
    return ApiRequest(
        "POST",
        join_url(settings.effective_base_url, "upload", settings.effective_api_version, "files"),
        json={"file": file},
        headers=headers,
    )


def build_file_get(settings: ClientSettings, name: str) -> ApiRequest:
    """GET ``files/{id}``."""
    return ApiRequest("GET", _api(settings, f"files/{file_id(name)}"))


def build_file_delete(settings: ClientSettings, name: str) -> ApiRequest:
    """DELETE ``files/{id}``."""
    return ApiRequest("DELETE", _api(settings, f"files/{file_id(name)}"))


def build_file_download(settings: ClientSettings, name: str) -> ApiRequest:
    """GET ``files/{id}:download?alt=media`` (streamed by the caller)."""
    return ApiRequest("GET", _api(settings, f"files/{file_id(name)}:download"), params={"alt": "media"})


@response_parser("Files API file")
def parse_file(body: JsonDict) -> File:
    """A File resource (or ``{"file": File}``) to a File."""
    inner = body.get("file", body)
    if not isinstance(inner, dict) or "name" not in inner:
        raise InvalidResponseError("the Files API returned no file")
    return File.model_validate(inner)
