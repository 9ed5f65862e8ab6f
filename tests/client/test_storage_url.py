"""Where GCS traffic goes is a setting: an ``http://`` batch API URL never redirects GCS uploads by itself
(the connection extra ``storage_base_url`` is covered in tests/hooks/test_connection_settings.py)."""

from __future__ import annotations

from airflow_provider_genai_batch.client.settings import STORAGE_DEFAULT_BASE_URL, ClientSettings
from airflow_provider_genai_batch.client.wire.storage import build_upload_start


def vertex(**fields: str) -> ClientSettings:
    return ClientSettings(backend="vertex", project="p", access_token="t", **fields)


def test_a_local_batch_api_url_leaves_gcs_uploads_at_google() -> None:
    request = build_upload_start(vertex(base_url="http://127.0.0.1:8085"), "bkt", "a.jsonl", 1, "application/jsonl")
    assert request.url.startswith(f"{STORAGE_DEFAULT_BASE_URL}/upload/storage/v1/b/bkt/o")


def test_the_storage_url_comes_only_from_its_own_setting() -> None:
    settings = vertex(base_url="http://127.0.0.1:8085", storage_base_url="http://127.0.0.1:9000")
    request = build_upload_start(settings, "bkt", "a.jsonl", 1, "application/jsonl")
    assert request.url.startswith("http://127.0.0.1:9000/upload/storage/v1/b/bkt/o")
