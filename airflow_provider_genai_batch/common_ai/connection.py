"""From what common-ai hands an adapter (``api_key``, ``base_url``) to this provider's shared client.

common-ai 1.0.0 builds every adapter from the connection's ``password`` and ``host`` only, so what else a
backend needs comes from where pydantic-ai's own Google providers look for it:

- Gemini Developer API (``google:``): the API key is the password; without one, ``GOOGLE_API_KEY`` or
  ``GEMINI_API_KEY`` from the environment (pydantic-ai's ``GoogleProvider`` order).
- Vertex AI (``google-cloud:``): ``GOOGLE_CLOUD_PROJECT`` and ``GOOGLE_CLOUD_LOCATION`` (default
  ``us-central1``), Application Default Credentials unless the password holds a Vertex API key, and
  ``GENAI_BATCH_GCS_STAGING_PREFIX`` (``gs://bucket/prefix``) for staging inline prompts as JSONL.

The host, when set, is the base URL of the batch API (an emulator or a proxy). One client, and so one
connection pool, is shared by every adapter of the process built from the same values (the triggerer builds
one adapter per trigger): see :func:`shared_client`.

Example::

    settings = adapter_settings("gemini", api_key="AIza...", base_url=None)
    client = shared_client(settings)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.hooks import client_cache

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client import GenAIBatchClient

__all__ = [
    "GEMINI_KEY_ENV",
    "STAGING_ENV",
    "STORAGE_URL_ENV",
    "VERTEX_LOCATION_ENV",
    "VERTEX_PROJECT_ENV",
    "adapter_settings",
    "settings_fingerprint",
    "shared_client",
]

GEMINI_KEY_ENV = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
VERTEX_PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
VERTEX_LOCATION_ENV = "GOOGLE_CLOUD_LOCATION"
STAGING_ENV = "GENAI_BATCH_GCS_STAGING_PREFIX"
# Where GCS traffic goes when not to Google (an emulator serving GCS): never guessed from the connection's host.
STORAGE_URL_ENV = "GENAI_BATCH_STORAGE_BASE_URL"
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _base_url(host: str | None) -> str | None:
    """A connection host as a URL: kept when it has a scheme, else https (http for a loopback host)."""
    host = (host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    scheme = "http" if host.split(":")[0] in _LOOPBACK else "https"
    return f"{scheme}://{host}"


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def settings_fingerprint(backend: str, api_key: str | None, base_url: str | None, environ: Mapping[str, str]) -> str:
    """SHA-256 of everything the settings are built from (the key only inside the digest)."""
    document = [
        backend,
        api_key,
        base_url,
        *(
            environ.get(name)
            for name in (*GEMINI_KEY_ENV, VERTEX_PROJECT_ENV, VERTEX_LOCATION_ENV, STAGING_ENV, STORAGE_URL_ENV)
        ),
    ]
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()


def _build(backend: str, api_key: str | None, base_url: str | None, environ: Mapping[str, str]) -> ClientSettings:
    url = _base_url(base_url)
    if backend == "gemini":
        key = api_key or next((v for n in GEMINI_KEY_ENV if (v := _env(environ, n))), None)
        if not key:
            raise InvalidInputError(
                "connection password",
                "the Gemini Developer API needs an API key and the connection has none",
                f"put the key in the connection's password (or set {GEMINI_KEY_ENV[0]})",
            )
        return ClientSettings(backend="gemini", api_key=key, base_url=url)
    project = _env(environ, VERTEX_PROJECT_ENV)
    if project is None and not api_key:
        raise InvalidInputError(
            VERTEX_PROJECT_ENV,
            "Vertex AI batch needs a Google Cloud project and none is set",
            f"set the {VERTEX_PROJECT_ENV} environment variable on workers and triggerers",
        )
    return ClientSettings(
        backend="vertex",
        project=project,
        location=_env(environ, VERTEX_LOCATION_ENV) or "us-central1",
        api_key=api_key or None,
        use_application_default_credentials=not api_key,
        base_url=url,
        gcs_staging_prefix=_env(environ, STAGING_ENV),
        storage_base_url=_env(environ, STORAGE_URL_ENV),
    )


def adapter_settings(
    backend: str, *, api_key: str | None, base_url: str | None, environ: Mapping[str, str] | None = None
) -> tuple[str, ClientSettings]:
    """``(fingerprint, settings)`` for one adapter; the settings object is shared per fingerprint."""
    env = os.environ if environ is None else environ
    fingerprint = settings_fingerprint(backend, api_key, base_url, env)

    def build() -> ClientSettings:
        for secret in _url_secrets(base_url):  # before building: settings refuse such a URL without quoting it
            _mask(secret)
        settings = _build(backend, api_key, base_url, env)
        _mask(api_key or (settings.api_key.get_secret_value() if settings.api_key else None))
        return settings

    return fingerprint, client_cache.shared_settings(fingerprint, build)


def _url_secrets(url: str | None) -> list[str]:
    """The ``user:password`` and the password of a URL's userinfo (refused by the settings, masked here)."""
    parts = urlsplit(_base_url(url) or "")
    if "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rsplit("@", 1)[0]
    return [userinfo, *([parts.password] if parts.password else [])]


def _mask(secret: str | None) -> None:
    """Register the key with Airflow's log masker (once per settings object)."""
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow always has it
        return
    mask_secret(secret)


def shared_client(fingerprint: str, settings: ClientSettings) -> GenAIBatchClient:
    """The process's client for these settings: one pool shared by every adapter built from them."""
    from airflow_provider_genai_batch.client import GenAIBatchClient

    return client_cache.sync_client(f"common-ai/{fingerprint[:32]}", fingerprint, lambda: GenAIBatchClient(settings))
