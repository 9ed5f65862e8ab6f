"""settings_from_connection: every field, both spellings, GCP connections, and errors without secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.hooks.connection import (
    EXTRA_FIELDS,
    connection_fingerprint,
    settings_from_connection,
)

SECRET = "AIzaSECRET-value-123"
SA_JSON = {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nSECRETKEY\n", "client_email": "a@b"}


def conn(conn_type: str = "genai_batch", extra: dict[str, Any] | None = None, **fields: Any) -> Connection:
    return Connection(conn_id="c", conn_type=conn_type, extra=json.dumps(extra or {}), **fields)


class TestGenAIBatchConnection:
    def test_gemini_with_api_key(self) -> None:
        settings = settings_from_connection(conn(password=SECRET))
        assert settings.backend == "gemini"
        assert settings.api_key is not None and settings.api_key.get_secret_value() == SECRET
        assert SECRET not in repr(settings)

    def test_host_is_the_base_url(self) -> None:
        settings = settings_from_connection(conn(password=SECRET, host="http://127.0.0.1:8085/"))
        assert settings.base_url == "http://127.0.0.1:8085"

    @pytest.mark.parametrize(
        ("host", "port", "expected"),
        [
            ("127.0.0.1", 8085, "http://127.0.0.1:8085"),
            ("localhost", None, "http://localhost"),
            ("proxy.example.com", 443, "https://proxy.example.com:443"),
        ],
    )
    def test_host_without_scheme(self, host: str, port: int | None, expected: str) -> None:
        settings = settings_from_connection(conn(password=SECRET, host=host, port=port))
        assert settings.base_url == expected

    def test_all_vertex_extras(self) -> None:
        extra = {
            "backend": "vertex",
            "project": "p",
            "location": "europe-west4",
            "service_account_key": "/keys/sa.json",
            "impersonation_chain": "a@p.iam.gserviceaccount.com, b@p.iam.gserviceaccount.com",
            "quota_project": "q",
            "api_version": "v1",
            "storage_base_url": "http://127.0.0.1:9000",
            "gcs_staging_prefix": "gs://bucket/stage/",
            "timeout": "30",
            "max_retries": 2,
        }
        settings = settings_from_connection(conn(extra=extra))
        assert settings.backend == "vertex"
        assert settings.project == "p"
        assert settings.location == "europe-west4"
        assert settings.service_account_key_path == "/keys/sa.json"
        assert settings.impersonation_chain == ("a@p.iam.gserviceaccount.com", "b@p.iam.gserviceaccount.com")
        assert settings.quota_project == "q"
        assert settings.api_version == "v1"
        assert settings.storage_base_url == "http://127.0.0.1:9000"
        assert settings.gcs_staging_prefix == "gs://bucket/stage"
        assert settings.timeout == 30.0
        assert settings.max_retries == 2
        assert not settings.use_application_default_credentials

    def test_prefixed_spelling_is_accepted(self) -> None:
        extra = {"extra__genai_batch__backend": "vertex", "extra__genai_batch__project": "p"}
        settings = settings_from_connection(conn(extra=extra))
        assert settings.backend == "vertex" and settings.project == "p"

    def test_plain_spelling_wins_over_prefixed(self) -> None:
        extra = {"extra__genai_batch__project": "old", "project": "new", "backend": "vertex"}
        assert settings_from_connection(conn(extra=extra)).project == "new"

    def test_empty_values_from_the_ui_are_ignored(self) -> None:
        extra = {"backend": "gemini", "project": "", "extra__genai_batch__location": "", "impersonation_chain": []}
        settings = settings_from_connection(conn(password=SECRET, extra=extra))
        assert settings.project is None

    def test_service_account_json(self) -> None:
        extra = {"backend": "vertex", "project": "p", "service_account_key": json.dumps(SA_JSON)}
        settings = settings_from_connection(conn(extra=extra))
        assert settings.service_account_key_json is not None
        assert json.loads(settings.service_account_key_json.get_secret_value()) == SA_JSON

    def test_static_token(self) -> None:
        extra = {"backend": "vertex", "project": "p", "access_token": "ya29.SECRET"}
        settings = settings_from_connection(conn(extra=extra))
        assert settings.access_token is not None
        assert "ya29" not in repr(settings)

    def test_vertex_without_credentials_uses_adc(self) -> None:
        settings = settings_from_connection(conn(extra={"backend": "vertex", "project": "p"}))
        assert settings.use_application_default_credentials

    def test_overrides(self) -> None:
        assert settings_from_connection(conn(password=SECRET), max_retries=0).max_retries == 0

    def test_extras_can_be_passed_decoded(self) -> None:
        settings = settings_from_connection(conn(password=SECRET), {"backend": "vertex", "project": "p"})
        assert settings.backend == "vertex"


class TestGoogleCloudConnection:
    def test_key_path_and_project(self) -> None:
        extra = {"key_path": "/k.json", "project": "p", "scope": "ignored", "num_retries": 5}
        settings = settings_from_connection(conn("google_cloud_platform", extra=extra))
        assert settings.backend == "vertex"
        assert settings.service_account_key_path == "/k.json"
        assert settings.project == "p"

    def test_prefixed_keyfile_dict(self) -> None:
        extra = {
            "extra__google_cloud_platform__keyfile_dict": json.dumps(SA_JSON),
            "extra__google_cloud_platform__project": "p",
            "extra__google_cloud_platform__impersonation_chain": "x@p.iam.gserviceaccount.com",
            "location": "asia-northeast1",
        }
        settings = settings_from_connection(conn("google_cloud_platform", extra=extra))
        assert settings.service_account_key_json is not None
        assert settings.impersonation_chain == ("x@p.iam.gserviceaccount.com",)
        assert settings.location == "asia-northeast1"

    def test_keyfile_dict_as_object(self) -> None:
        extra = {"keyfile_dict": SA_JSON, "project": "p", "quota_project_id": "q"}
        settings = settings_from_connection(conn("google_cloud_platform", extra=extra))
        assert settings.service_account_key_json is not None
        assert settings.quota_project == "q"

    def test_adc(self) -> None:
        settings = settings_from_connection(conn("google_cloud_platform", extra={"project": "p"}))
        assert settings.use_application_default_credentials


class TestErrors:
    @pytest.mark.parametrize(
        ("extra", "named"),
        [
            ({"backend": "openai"}, "backend"),
            ({"projct": "p"}, "projct"),
            ({"timeout": "soon"}, "timeout"),
            ({"max_retries": True}, "max_retries"),
            ({"project": 5}, "project"),
            ({"impersonation_chain": "not-an-email"}, "impersonation_chain"),
            ({"impersonation_chain": 7}, "impersonation_chain"),
        ],
    )
    def test_bad_extra_is_named(self, extra: dict[str, Any], named: str) -> None:
        with pytest.raises(InvalidInputError) as info:
            settings_from_connection(conn(password=SECRET, extra=extra))
        assert named in info.value.field
        assert "'c'" in info.value.field
        assert info.value.fix

    def test_unknown_extra_lists_the_known_ones(self) -> None:
        with pytest.raises(InvalidInputError) as info:
            settings_from_connection(conn(password=SECRET, extra={"api_key": SECRET}))
        assert all(name in info.value.fix for name in EXTRA_FIELDS)
        assert SECRET not in str(info.value)

    def test_broken_service_account_json_is_not_echoed(self) -> None:
        broken = '{"private_key": "SECRETKEY", '
        with pytest.raises(InvalidInputError) as info:
            settings_from_connection(conn(extra={"backend": "vertex", "project": "p", "service_account_key": broken}))
        assert "SECRETKEY" not in str(info.value)
        assert "service_account_key" in info.value.field

    def test_json_that_is_not_a_key(self) -> None:
        with pytest.raises(InvalidInputError, match="not a service-account key"):
            settings_from_connection(
                conn(extra={"backend": "vertex", "project": "p", "service_account_key": '{"a": 1}'})
            )

    def test_secret_of_the_wrong_type_is_not_echoed(self) -> None:
        with pytest.raises(InvalidInputError) as info:
            settings_from_connection(conn(password=SECRET, extra={"access_token": 123456789}))
        assert "123456789" not in str(info.value)

    @pytest.mark.parametrize("extra", ["not json", "[1, 2]", '"a string"'])
    def test_malformed_extra_is_an_error_not_empty(self, extra: str) -> None:
        raw = Connection(conn_id="c", conn_type="genai_batch", password=SECRET, extra=extra)
        with pytest.raises(InvalidInputError) as info:
            settings_from_connection(raw)
        assert info.value.field == "connection 'c' extra"
        assert SECRET not in str(info.value)

    def test_token_and_key_together_are_rejected(self) -> None:
        extra = {"backend": "vertex", "project": "p", "access_token": "t", "service_account_key": "/k.json"}
        with pytest.raises(InvalidInputError, match="service_account_key"):
            settings_from_connection(conn(extra=extra))

    def test_fractional_retries_are_rejected(self) -> None:
        with pytest.raises(InvalidInputError, match="max_retries"):
            settings_from_connection(conn(password=SECRET, extra={"max_retries": 1.5}))
        assert settings_from_connection(conn(password=SECRET, extra={"max_retries": 2.0})).max_retries == 2

    def test_gcp_key_path_and_keyfile_dict_together_are_rejected(self) -> None:
        extra = {"key_path": "/k.json", "keyfile_dict": json.dumps(SA_JSON), "project": "p"}
        with pytest.raises(InvalidInputError) as info:
            settings_from_connection(conn("google_cloud_platform", extra=extra))
        assert "key_path" in info.value.field
        assert "SECRETKEY" not in str(info.value)

    def test_gemini_without_key(self) -> None:
        with pytest.raises(InvalidInputError) as info:
            settings_from_connection(conn())
        assert "api_key" in info.value.field
        assert "password" in info.value.fix

    def test_vertex_without_project(self) -> None:
        with pytest.raises(InvalidInputError, match="project"):
            settings_from_connection(conn(extra={"backend": "vertex"}))

    def test_bad_base_url_from_settings_names_the_connection(self) -> None:
        with pytest.raises(InvalidInputError) as info:
            settings_from_connection(conn(password=SECRET, extra={"storage_base_url": "ftp://x"}))
        assert info.value.field.startswith("connection 'c'")

    def test_bad_api_version(self) -> None:
        with pytest.raises(InvalidInputError, match="api_version"):
            settings_from_connection(conn(password=SECRET, extra={"api_version": "v1beta1"}))


def test_fingerprint_changes_with_the_connection() -> None:
    a = connection_fingerprint(conn(password=SECRET))
    assert a == connection_fingerprint(conn(password=SECRET))
    assert a != connection_fingerprint(conn(password=SECRET + "x"))
    assert a != connection_fingerprint(conn(password=SECRET, host="http://127.0.0.1:1"))
    assert SECRET not in a


def test_base_url_extra_is_accepted_like_the_host() -> None:
    """Users of google-genai know ``base_url``: the extra works like ``host``, and the two cannot disagree."""
    extra = json.dumps({"base_url": "http://127.0.0.1:9000"})
    conn = Connection(conn_id="c", conn_type="genai_batch", password="key-123456", extra=extra)
    assert settings_from_connection(conn).effective_base_url == "http://127.0.0.1:9000"
    same = Connection(conn_id="c", conn_type="genai_batch", host="http://127.0.0.1:9000", password="k", extra=extra)
    assert settings_from_connection(same).effective_base_url == "http://127.0.0.1:9000"
    other = Connection(conn_id="c", conn_type="genai_batch", host="http://127.0.0.1:1", password="k", extra=extra)
    with pytest.raises(InvalidInputError) as info:
        settings_from_connection(other)
    assert "base_url" in info.value.field
