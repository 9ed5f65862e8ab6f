"""The GCS JSON API subset the client needs: list, download, resumable upload. Pure.

Example::

    request = build_list(settings, "bucket", "out/prediction-model-x/", None)
"""

from __future__ import annotations

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
