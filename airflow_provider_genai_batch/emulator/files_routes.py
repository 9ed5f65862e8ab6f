"""Gemini Files API routes: resumable upload, get, list, delete and download.

Upload (reference section 7.1): ``POST /upload/{V}/files`` with ``X-Goog-Upload-Protocol: resumable`` and
``X-Goog-Upload-Command: start`` answers an absolute ``X-Goog-Upload-URL`` (``...?upload_id=...``); chunks are
POSTed there without credentials, with ``X-Goog-Upload-Command: upload`` (or ``upload, finalize`` for the last
one) and ``X-Goog-Upload-Offset``. ``X-Goog-Upload-Command: query`` answers ``X-Goog-Upload-Size-Received``
so an interrupted client can resume; a chunk whose offset is not the number of bytes stored is refused with a
400 and the stored bytes are kept. The final chunk answers ``{"file": File}`` with ``X-Goog-Upload-Status:
final``.

Downloads are served at ``/{V}/files/{id}:download`` (what the SDK calls) and ``/download/{V}/files/{id}:download``
(the ``downloadUri``). Unlike the real service, the emulator also lets you download files you uploaded.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from airflow_provider_genai_batch.emulator.common import get_field, new_id, page, rfc3339
from airflow_provider_genai_batch.emulator.errors import (
    EmulatorError,
    failed_precondition,
    invalid_argument,
    not_found,
)
from airflow_provider_genai_batch.emulator.routing import (
    RequestContext,
    Route,
    empty_response,
    json_response,
    media_response,
)
from airflow_provider_genai_batch.emulator.schema_gate import check_body
from airflow_provider_genai_batch.emulator.state import FileRecord, FilesUpload, Store

__all__ = ["files_routes", "render_file"]

_VERSION = r"/(?P<version>v1|v1beta|v1alpha)"
_CHUNK_GRANULARITY = 8 * 1024 * 1024
_FILE_LIFETIME_SECONDS = 48 * 3600
_FILE_ID = re.compile(r"[a-z0-9-]{1,40}")


def render_file(record: FileRecord, ctx: RequestContext) -> dict[str, Any]:
    """The File JSON (``sizeBytes`` as a string; ``downloadUri`` for generated files)."""
    base, version = ctx.base_url, ctx.version
    created = rfc3339(record.create_time)
    body: dict[str, Any] = {"name": f"files/{record.id}"}
    if record.display_name is not None:
        body["displayName"] = record.display_name
    body.update(
        mimeType=record.mime_type,
        sizeBytes=str(len(record.data)),
        createTime=created,
        updateTime=created,
        expirationTime=rfc3339(record.create_time + _FILE_LIFETIME_SECONDS),
        sha256Hash=base64.b64encode(record.sha256.encode()).decode(),
        uri=f"{base}/{version}/files/{record.id}",
        state="ACTIVE",
        source=record.source,
    )
    if record.source == "GENERATED":
        body["downloadUri"] = f"{base}/download/{version}/files/{record.id}:download?alt=media"
    return body


def _int_header(ctx: RequestContext, name: str) -> int | None:
    value = ctx.header(name)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise invalid_argument(f"{name}: expected a byte count, got {value!r}")
    return int(value)


class _Handlers:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _file(self, ctx: RequestContext) -> FileRecord:
        with self.store.lock:
            record = self.store.files.get(ctx.params["id"])
        if record is None:
            raise not_found(f"Requested entity was not found: files/{ctx.params['id']}.")
        return record

    async def upload_start(self, ctx: RequestContext) -> Response:
        protocol = (ctx.header("x-goog-upload-protocol") or "").strip().lower()
        command = (ctx.header("x-goog-upload-command") or "").strip().lower()
        if protocol != "resumable" or command != "start":
            raise invalid_argument(
                "The emulator supports resumable uploads only: send X-Goog-Upload-Protocol: resumable and "
                "X-Goog-Upload-Command: start"
            )
        body = await ctx.json_body()
        # The published Files API messages are in v1beta only; they serve every version.
        check_body(self.store.config.strict, "gemini", "v1beta", "CreateFileRequest", body)
        file = get_field(body, "file") or {}
        if not isinstance(file, dict):
            raise invalid_argument("file: must be an object")
        display_name = get_field(file, "displayName")
        if display_name is not None and not isinstance(display_name, str):
            raise invalid_argument("file.displayName: must be a string")
        mime_type = ctx.header("x-goog-upload-header-content-type") or get_field(file, "mimeType")
        requested = get_field(file, "name")
        file_id = new_id(12)
        if requested is not None:
            file_id = str(requested).removeprefix("files/")
            if not _FILE_ID.fullmatch(file_id):
                raise invalid_argument(f"file.name: {requested!r} must be up to 40 lowercase letters, digits or dashes")
        upload = FilesUpload(
            id=new_id(40),
            file_id=file_id,
            mime_type=str(mime_type or "application/octet-stream"),
            display_name=display_name,
            declared_size=_int_header(ctx, "x-goog-upload-header-content-length"),
        )
        with self.store.lock:
            if file_id in self.store.files:
                raise EmulatorError(409, f"A file named files/{file_id} already exists.", "ALREADY_EXISTS")
            self.store.files_uploads[upload.id] = upload
        url = ctx.request.url.replace(query=urlencode({"upload_id": upload.id, "upload_protocol": "resumable"}))
        return empty_response(
            {
                "X-Goog-Upload-URL": str(url),
                "X-Goog-Upload-Status": "active",
                "X-Goog-Upload-Chunk-Granularity": str(_CHUNK_GRANULARITY),
            }
        )

    async def upload_chunk(self, ctx: RequestContext) -> Response:
        with self.store.lock:
            upload = self.store.files_uploads.get(ctx.query("upload_id") or "")
        if upload is None:
            raise not_found("Upload session not found (unknown upload_id).")
        raw = ctx.header("x-goog-upload-command") or ""
        commands = {c.strip().lower() for c in raw.split(",") if c.strip()}
        if not commands or commands - {"upload", "finalize", "query"}:
            raise invalid_argument(f"X-Goog-Upload-Command: expected upload, finalize or query, got {raw!r}")
        if "query" in commands:
            with self.store.lock:
                received = len(upload.file.data) if upload.file else len(upload.data)
                state = "final" if upload.file else "active"
            return empty_response({"X-Goog-Upload-Status": state, "X-Goog-Upload-Size-Received": str(received)})
        data = await ctx.request.body() if "upload" in commands else b""
        offset = _int_header(ctx, "x-goog-upload-offset")
        with self.store.lock:
            if upload.file is not None:
                if "finalize" in commands:
                    return self._final(upload.file, ctx)
                raise failed_precondition("The upload has already been finalized.")
            if "upload" in commands:
                if offset is None:
                    raise invalid_argument("X-Goog-Upload-Offset: required with the upload command")
                if offset != len(upload.data):
                    raise EmulatorError(
                        400,
                        f"X-Goog-Upload-Offset: {offset} does not match the {len(upload.data)} bytes received so "
                        "far; query the upload (X-Goog-Upload-Command: query) and resume from there.",
                        "INVALID_ARGUMENT",
                        {"X-Goog-Upload-Status": "active", "X-Goog-Upload-Size-Received": str(len(upload.data))},
                    )
                upload.data += data
            if "finalize" not in commands:
                return empty_response(
                    {"X-Goog-Upload-Status": "active", "X-Goog-Upload-Size-Received": str(len(upload.data))}
                )
            if upload.declared_size is not None and upload.declared_size != len(upload.data):
                raise invalid_argument(
                    f"X-Goog-Upload-Header-Content-Length: the upload declared {upload.declared_size} bytes "
                    f"but {len(upload.data)} were received"
                )
            record = FileRecord(
                id=upload.file_id,
                seq=self.store.next_seq(),
                data=bytes(upload.data),
                mime_type=upload.mime_type,
                display_name=upload.display_name,
                create_time=self.store.now(),
                source="UPLOADED",
            )
            if record.id in self.store.files:
                raise EmulatorError(409, f"A file named files/{record.id} already exists.", "ALREADY_EXISTS")
            self.store.files[record.id] = record
            upload.file, upload.data = record, bytearray()
        return self._final(record, ctx)

    @staticmethod
    def _final(record: FileRecord, ctx: RequestContext) -> Response:
        return json_response({"file": render_file(record, ctx)}, headers={"X-Goog-Upload-Status": "final"})

    async def get(self, ctx: RequestContext) -> Response:
        return json_response(render_file(self._file(ctx), ctx))

    async def list(self, ctx: RequestContext) -> Response:
        with self.store.lock:
            records = sorted(self.store.files.values(), key=lambda r: r.seq, reverse=True)
        selected, token = page(
            records, lambda r: r.seq, ctx.query("pageSize"), ctx.query("pageToken"), default=10, maximum=100
        )
        body: dict[str, Any] = {}
        if selected:
            body["files"] = [render_file(record, ctx) for record in selected]
        if token:
            body["nextPageToken"] = token
        return json_response(body)

    async def delete(self, ctx: RequestContext) -> Response:
        record = self._file(ctx)
        with self.store.lock:
            self.store.files.pop(record.id, None)
        return json_response({})

    async def download(self, ctx: RequestContext) -> Response:
        record = self._file(ctx)
        return media_response(ctx.request, record.data, record.mime_type)


def files_routes(store: Store) -> list[Route]:
    """The Files API routes (labels ``files.*``)."""
    h = _Handlers(store)
    file = _VERSION + r"/files/(?P<id>[^/:]+)"
    upload = r"/upload" + _VERSION + "/files"
    return [
        Route("POST", upload, "files.upload.chunk", h.upload_chunk, query={"upload_id": None}),
        Route("POST", upload, "files.upload.start", h.upload_start, "api_key"),
        Route("GET", _VERSION + "/files", "files.list", h.list, "api_key"),
        Route("GET", file, "files.get", h.get, "api_key"),
        Route("GET", file + ":download", "files.download", h.download, "api_key"),
        Route("GET", "/download" + file + ":download", "files.download", h.download, "api_key"),
        Route("DELETE", file, "files.delete", h.delete, "api_key"),
    ]
