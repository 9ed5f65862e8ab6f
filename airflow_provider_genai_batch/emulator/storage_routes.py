"""A subset of the GCS JSON API, on the same port: uploads (media, multipart, resumable), object metadata,
downloads, listing and deletion. Buckets exist implicitly.

- ``POST /upload/storage/v1/b/{bucket}/o?uploadType=media&name=N``: the body is the object.
- ``POST ...?uploadType=multipart``: ``multipart/related`` body of JSON metadata then the media.
- ``POST ...?uploadType=resumable&name=N``: answers a ``Location`` session URI. ``PUT <session>`` with
  ``Content-Range: bytes FIRST-LAST/TOTAL`` (``TOTAL`` may be ``*`` until the last chunk) answers 308 with
  ``Range: bytes=0-N`` until the object is complete, then 200 with the object resource; ``Content-Range:
  bytes */TOTAL`` or ``bytes */*`` with an empty body asks for the state. A chunk may repeat bytes already
  received; a chunk leaving a gap is refused (400). Session PUTs need no credentials, like GCS.
- ``GET /storage/v1/b/{bucket}/o/{object}`` (name URL-encoded): the object resource; ``?alt=media`` (or
  ``/download/storage/v1/...``): the bytes, streamed.
- ``GET /storage/v1/b/{bucket}/o?prefix=&delimiter=&pageToken=&maxResults=``: ``{"items": [...],
  "prefixes": [...], "nextPageToken"}`` (empty lists omitted, as GCS does).
- ``DELETE /storage/v1/b/{bucket}/o/{object}``: 204 with no body, as GCS answers.

Everything but session PUTs needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import Response

from airflow_provider_genai_batch.emulator.common import new_id, parse_page_size, rfc3339
from airflow_provider_genai_batch.emulator.errors import invalid_argument, not_found
from airflow_provider_genai_batch.emulator.jobs import settle_due
from airflow_provider_genai_batch.emulator.routing import (
    RequestContext,
    Route,
    empty_response,
    json_response,
    media_response,
)
from airflow_provider_genai_batch.emulator.state import GcsObject, GcsUpload, Store

__all__ = ["render_object", "storage_routes"]

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(?P<first>\d+)-(?P<last>\d+)|\*)/(?P<total>\d+|\*)")
_DEFAULT_CONTENT_TYPE = "application/octet-stream"


def render_object(obj: GcsObject, base_url: str) -> dict[str, Any]:
    """The GCS object resource (``size`` and ``generation`` as strings)."""
    encoded = quote(obj.name, safe="")
    created = rfc3339(obj.create_time)
    return {
        "kind": "storage#object",
        "id": f"{obj.bucket}/{obj.name}/{obj.generation}",
        "selfLink": f"{base_url}/storage/v1/b/{obj.bucket}/o/{encoded}",
        "mediaLink": f"{base_url}/download/storage/v1/b/{obj.bucket}/o/{encoded}?generation={obj.generation}&alt=media",
        "name": obj.name,
        "bucket": obj.bucket,
        "generation": str(obj.generation),
        "metageneration": "1",
        "contentType": obj.content_type,
        "storageClass": "STANDARD",
        "size": str(len(obj.data)),
        "md5Hash": base64.b64encode(obj.md5).decode(),
        "etag": base64.b64encode(f"{obj.generation}".encode()).decode(),
        "timeCreated": created,
        "updated": created,
    }


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes, str | None]:
    """``(metadata, media, media content type)`` of a ``multipart/related`` upload body."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/") or found is None:
        raise invalid_argument("Content-Type: uploadType=multipart needs a multipart/related body with a boundary")
    delimiter = b"--" + found.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, separator, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            raise invalid_argument("multipart body: a part has no header/body separator")
        headers = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in head.decode("latin-1").split("\r\n"))
        )
        parts.append((headers, content.removesuffix(b"\r\n")))
    if len(parts) != 2:
        raise invalid_argument("multipart body: expected two parts, the JSON metadata then the media")
    try:
        metadata = json.loads(parts[0][1] or b"{}")
    except ValueError:
        raise invalid_argument("multipart body: the first part must be JSON object metadata") from None
    if not isinstance(metadata, dict):
        raise invalid_argument("multipart body: the first part must be JSON object metadata")
    return metadata, parts[1][1], parts[1][0].get("content-type")


class _Handlers:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _object(self, ctx: RequestContext) -> GcsObject:
        settle_due(self.store)
        bucket, name = ctx.params["bucket"], ctx.params["object"]
        with self.store.lock:
            obj = self.store.objects.get((bucket, name))
        if obj is None:
            raise not_found(f"No such object: {bucket}/{name}")
        return obj

    def _name(self, ctx: RequestContext, metadata: dict[str, Any]) -> str:
        name = metadata.get("name") or ctx.query("name")
        if not isinstance(name, str) or not name:
            raise invalid_argument("name: required (the object name, as ?name= or in the metadata)")
        return name

    async def insert(self, ctx: RequestContext) -> Response:
        upload_type = ctx.query("uploadType") or "media"
        body = await ctx.request.body()
        content_type = ctx.header("content-type") or _DEFAULT_CONTENT_TYPE
        metadata: dict[str, Any] = {}
        if upload_type == "multipart":
            metadata, body, media_type = _multipart(content_type, body)
            content_type = metadata.get("contentType") or media_type or _DEFAULT_CONTENT_TYPE
        elif upload_type != "media":
            raise invalid_argument(f"uploadType: {upload_type!r} is not one of media, multipart, resumable")
        obj = self.store.put_object(ctx.params["bucket"], self._name(ctx, metadata), body, content_type)
        return json_response(render_object(obj, ctx.base_url))

    async def upload_start(self, ctx: RequestContext) -> Response:
        metadata = await ctx.json_body()
        content_type = metadata.get("contentType") or ctx.header("x-upload-content-type") or _DEFAULT_CONTENT_TYPE
        total = ctx.header("x-upload-content-length")
        upload = GcsUpload(
            id=new_id(40),
            bucket=ctx.params["bucket"],
            name=self._name(ctx, metadata),
            content_type=str(content_type),
            total=int(total) if total and total.isdigit() else None,
        )
        with self.store.lock:
            self.store.gcs_uploads[upload.id] = upload
        session = ctx.request.url.replace(query=urlencode({"uploadType": "resumable", "upload_id": upload.id}))
        return empty_response({"Location": str(session), "X-GUploader-UploadID": upload.id})

    async def upload_chunk(self, ctx: RequestContext) -> Response:
        with self.store.lock:
            upload = self.store.gcs_uploads.get(ctx.query("upload_id") or "")
        if upload is None:
            raise not_found("No such upload session (unknown upload_id).")
        data = await ctx.request.body()
        content_range = ctx.header("content-range")
        with self.store.lock:
            if upload.object is None:
                self._apply_chunk(upload, content_range, data)
            if upload.object is not None:
                return json_response(render_object(upload.object, ctx.base_url))
            received = len(upload.data)
        headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
        return empty_response(headers, status_code=308)

    def _apply_chunk(self, upload: GcsUpload, content_range: str | None, data: bytes) -> None:
        if content_range is None:
            upload.data, upload.total = bytearray(data), len(data)
        else:
            found = _CONTENT_RANGE.fullmatch(content_range.strip())
            if found is None:
                raise invalid_argument(
                    f"Content-Range: {content_range!r} is not 'bytes FIRST-LAST/TOTAL' or 'bytes */TOTAL'"
                )
            if found["total"] != "*":
                upload.total = int(found["total"])
            if found["first"] is None:
                if data:
                    raise invalid_argument("Content-Range: a status query (bytes */TOTAL) must have no body")
            else:
                first, last = int(found["first"]), int(found["last"])
                if last < first or len(data) != last - first + 1:
                    raise invalid_argument(
                        f"Content-Range: {content_range!r} does not match the {len(data)} bytes sent"
                    )
                if first > len(upload.data):
                    raise invalid_argument(
                        f"Content-Range: the chunk starts at byte {first} but only {len(upload.data)} bytes were "
                        "received; query the session (bytes */*) and resume from there"
                    )
                upload.data += data[len(upload.data) - first :]
        if upload.total is not None and len(upload.data) > upload.total:
            raise invalid_argument(f"Content-Range: more than the declared {upload.total} bytes were sent")
        if upload.total is not None and len(upload.data) == upload.total:
            upload.object = self.store.put_object(upload.bucket, upload.name, bytes(upload.data), upload.content_type)
            upload.data = bytearray()

    async def get(self, ctx: RequestContext) -> Response:
        return json_response(render_object(self._object(ctx), ctx.base_url))

    async def download(self, ctx: RequestContext) -> Response:
        obj = self._object(ctx)
        return media_response(ctx.request, obj.data, obj.content_type)

    async def list(self, ctx: RequestContext) -> Response:
        settle_due(self.store)
        bucket, prefix, delimiter = ctx.params["bucket"], ctx.query("prefix") or "", ctx.query("delimiter")
        size = parse_page_size(ctx.query("maxResults"), default=1000, maximum=1000)
        with self.store.lock:
            objects = sorted(
                (o for (b, n), o in self.store.objects.items() if b == bucket and n.startswith(prefix)),
                key=lambda o: o.name,
            )
        entries: dict[str, GcsObject | None] = {}
        for obj in objects:
            rest = obj.name[len(prefix) :]
            if delimiter and delimiter in rest:
                entries[prefix + rest[: rest.index(delimiter) + len(delimiter)]] = None
            else:
                entries[obj.name] = obj
        keys = sorted(entries)
        token = ctx.query("pageToken")
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise invalid_argument(f"pageToken: {token!r} is not a valid page token") from None
            keys = [k for k in keys if k >= after]
        selected, rest_keys = keys[:size], keys[size:]
        body: dict[str, Any] = {"kind": "storage#objects"}
        items = [render_object(o, ctx.base_url) for k in selected if (o := entries[k]) is not None]
        prefixes = [k for k in selected if entries[k] is None]
        if items:
            body["items"] = items
        if prefixes:
            body["prefixes"] = prefixes
        if rest_keys:
            body["nextPageToken"] = base64.urlsafe_b64encode(rest_keys[0].encode()).decode()
        return json_response(body)

    async def delete(self, ctx: RequestContext) -> Response:
        obj = self._object(ctx)
        with self.store.lock:
            self.store.objects.pop((obj.bucket, obj.name), None)
        return empty_response(status_code=204)


def storage_routes(store: Store) -> list[Route]:
    """The GCS JSON API routes (labels ``gcs.objects.*``)."""
    h = _Handlers(store)
    objects = r"/storage/v1/b/(?P<bucket>[^/]+)/o"
    obj = objects + "/(?P<object>.+)"
    upload = "/upload" + objects
    return [
        Route("PUT", upload, "gcs.objects.upload.chunk", h.upload_chunk, query={"upload_id": None}),
        Route("POST", upload, "gcs.objects.upload.start", h.upload_start, "bearer", {"uploadType": "resumable"}),
        Route("POST", upload, "gcs.objects.insert", h.insert, "bearer"),
        Route("GET", objects, "gcs.objects.list", h.list, "bearer"),
        Route("GET", obj, "gcs.objects.download", h.download, "bearer", {"alt": "media"}),
        Route("GET", "/download" + obj, "gcs.objects.download", h.download, "bearer"),
        Route("GET", obj, "gcs.objects.get", h.get, "bearer"),
        Route("DELETE", obj, "gcs.objects.delete", h.delete, "bearer"),
    ]
