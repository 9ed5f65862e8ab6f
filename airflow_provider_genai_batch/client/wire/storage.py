"""The GCS JSON API subset the client needs: list, object metadata, download, resumable upload. Pure.

Example::

    request = build_list(settings, "bucket", "out/prediction-model-x/", None)
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from airflow_provider_genai_batch.client.errors import InvalidResponseError
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.wire.common import ApiRequest, JsonDict, int64, join_url


def _object_url(settings: ClientSettings, bucket: str, name: str) -> str:
    return join_url(settings.effective_storage_base_url, "storage/v1/b", bucket, "o", quote(name, safe=""))


def build_list(settings: ClientSettings, bucket: str, prefix: str, page_token: str | None) -> ApiRequest:
    """GET ``storage/v1/b/{bucket}/o?prefix=``."""
    params = {"prefix": prefix, "fields": "items(name,size),nextPageToken"}
    if page_token:
        params["pageToken"] = page_token
    return ApiRequest("GET", join_url(settings.effective_storage_base_url, "storage/v1/b", bucket, "o"), params=params)


def parse_list(body: JsonDict) -> tuple[list[tuple[str, int | None]], str | None]:
    """Object names with sizes, and the next page token."""
    items = body.get("items") or []
    if not isinstance(items, list):
        raise InvalidResponseError("GCS returned a list whose 'items' is not a list")
    return [(str(item["name"]), int64(item.get("size"))) for item in items], body.get("nextPageToken") or None


@dataclass(frozen=True)
class ObjectMetadata:
    """What identifies one version of a GCS object: its generation and checksums (as GCS reports them).

    A rewritten object always gets a new ``generation``; ``md5_hash`` is absent for composite objects, whose
    ``crc32c`` is still set.
    """

    bucket: str
    name: str
    generation: str | None
    md5_hash: str | None
    crc32c: str | None
    size: int | None


_OBJECT_FIELDS = "bucket,name,generation,md5Hash,crc32c,size"


def build_object_get(settings: ClientSettings, bucket: str, name: str) -> ApiRequest:
    """GET ``storage/v1/b/{bucket}/o/{object}``: one object's metadata (no bytes)."""
    return ApiRequest("GET", _object_url(settings, bucket, name), params={"fields": _OBJECT_FIELDS})


def parse_object_metadata(body: JsonDict, bucket: str, name: str) -> ObjectMetadata:
    """The metadata fields that identify an object version (missing fields are None)."""

    def text(key: str) -> str | None:
        value = body.get(key)
        return str(value) if value not in (None, "") else None

    if not isinstance(body, dict):
        raise InvalidResponseError("GCS returned object metadata that is not a JSON object")
    return ObjectMetadata(
        bucket=str(body.get("bucket") or bucket),
        name=str(body.get("name") or name),
        generation=text("generation"),
        md5_hash=text("md5Hash"),
        crc32c=text("crc32c"),
        size=int64(body.get("size")),
    )


def build_download(settings: ClientSettings, bucket: str, name: str) -> ApiRequest:
    """GET an object's bytes (streamed by the caller)."""
    return ApiRequest("GET", _object_url(settings, bucket, name), params={"alt": "media"})


def build_upload_start(settings: ClientSettings, bucket: str, name: str, size: int, content_type: str) -> ApiRequest:
    """Open a resumable upload session; the answer's ``Location`` header is the session URL."""
    return ApiRequest(
        "POST",
        join_url(settings.effective_storage_base_url, "upload/storage/v1/b", bucket, "o"),
        params={"uploadType": "resumable", "name": name},
        json={"name": name, "contentType": content_type},
        headers={"X-Upload-Content-Type": content_type, "X-Upload-Content-Length": str(size)},
    )
