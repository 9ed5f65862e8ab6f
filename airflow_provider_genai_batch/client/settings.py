"""Client settings: which backend, which credentials, which endpoints.

Secrets are ``SecretStr`` and never appear in ``repr()``; a ready google-auth ``credentials`` object may be
passed instead of key material. A service-account key may be given as JSON or base64-encoded JSON (decoded
here); key material given as a path is refused. URLs carrying ``user:password@`` are refused (Google's APIs
never take credentials in the URL, and httpx would send them as HTTP Basic auth). Validation errors never quote a
secret, nor a value that might be one.

Example::

    ClientSettings(backend="gemini", api_key="...")
    ClientSettings(backend="vertex", project="my-proj", location="us-central1",
                   gcs_staging_prefix="gs://my-bucket/staging")
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.keys import key_form, not_shown
from airflow_provider_genai_batch.client.redaction import redact_url, scrub
from airflow_provider_genai_batch.client.validation import invalid_input_from

Backend = Literal["gemini", "vertex"]

GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
STORAGE_DEFAULT_BASE_URL = "https://storage.googleapis.com"
GEMINI_API_VERSIONS = ("v1beta", "v1")
VERTEX_API_VERSIONS = ("v1beta1", "v1")
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GEMINI_INLINE_LIMIT_BYTES = 20_000_000
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
VERTEX_GLOBAL_BASE_URL = "https://aiplatform.googleapis.com"


def vertex_base_url(location: str) -> str:
    """Vertex AI hosts are regional: ``us-central1`` -> ``https://us-central1-aiplatform.googleapis.com``."""
    if location == "global":
        return VERTEX_GLOBAL_BASE_URL
    if location in ("us", "eu"):
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class ClientSettings(BaseModel):
    """Everything a client needs to reach one backend.

    Example::

        settings = ClientSettings(backend="gemini", api_key="AIza...", base_url="http://127.0.0.1:8085")
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, hide_input_in_errors=True)

    def __init__(self, **data: Any) -> None:
        error: InvalidInputError | None = None
        try:
            super().__init__(**data)
        except ValidationError as exc:
            error = invalid_input_from(exc, "settings")
        if error is not None:  # raised outside the except block: nothing that saw the input is chained to it
            raise error

    backend: Backend = "gemini"
    # --- credentials (one of them; Gemini needs api_key, Vertex any of them) ---
    api_key: SecretStr | None = None
    access_token: SecretStr | None = None
    service_account_key_json: SecretStr | None = None
    service_account_key_path: str | None = Field(default=None, repr=False)
    impersonation_chain: tuple[str, ...] = ()
    use_application_default_credentials: bool = False
    credentials: Any = Field(default=None, exclude=True, repr=False)
    quota_project: str | None = None
    scopes: tuple[str, ...] = (CLOUD_PLATFORM_SCOPE,)
    # --- where ---
    project: str | None = None
    location: str = "us-central1"
    api_version: str | None = None
    base_url: str | None = None
    storage_base_url: str | None = None
    gcs_staging_prefix: str | None = None
    #: Gemini: the public URL of this deployment's webhook receiver; creates then ask for dynamic webhooks there
    #: and waits wake early on verified deliveries (docs/WEBHOOKS.md). Vertex AI has no batch webhooks.
    webhook_url: str | None = None
    # --- behaviour ---
    timeout: float = Field(default=60.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    retry_initial_delay: float = Field(default=1.0, ge=0)
    retry_max_delay: float = Field(default=60.0, ge=0)
    inline_limit_bytes: int = Field(default=GEMINI_INLINE_LIMIT_BYTES, gt=0)
    upload_chunk_bytes: int = Field(default=UPLOAD_CHUNK_BYTES, gt=0)
    max_connections: int = Field(default=100, gt=0)

    @field_validator("base_url", "storage_base_url", "webhook_url")
    @classmethod
    def _url_has_scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == "":
            return None
        field = info.field_name or "base_url"
        if not value.startswith(("http://", "https://")):
            raise InvalidInputError(
                field,
                f"is not an http(s) URL ({not_shown(value)})",
                "give a URL such as http://127.0.0.1:8085",
            )
        if "@" in (urlsplit(value).netloc or ""):
            raise InvalidInputError(
                field,
                "carries a user name or password before '@' (not shown); Google's APIs take no credentials in the "
                "URL, and they would be sent to that host as HTTP Basic auth",
                "remove 'user:password@' from the URL: the API key goes in the connection's password, a "
                "service-account key or an access token in its extras",
            )
        return value.rstrip("/")

    @field_validator("service_account_key_json")
    @classmethod
    def _key_json_or_base64(cls, value: SecretStr | None) -> SecretStr | None:
        """A key given base64-encoded is decoded here; a value that is no JSON key is refused without quoting it."""
        if value is None:
            return None
        form, text = key_form(value.get_secret_value(), "service_account_key_json")
        if form != "json":
            raise InvalidInputError(
                "service_account_key_json",
                f"is not a JSON key ({not_shown(text)})",
                "give the key file's JSON or the same JSON base64-encoded; a path goes in service_account_key_path",
            )
        return SecretStr(text)

    @field_validator("service_account_key_path")
    @classmethod
    def _path_is_no_key(cls, value: str | None) -> str | None:
        """Key material passed as a path is refused (it would be quoted as a file name in later errors)."""
        if value is None:
            return None
        if key_form(value, "service_account_key_path")[0] == "json":
            raise InvalidInputError(
                "service_account_key_path",
                f"holds a key, not a path ({not_shown(value)})",
                "pass the key as service_account_key_json (the connection extra service_account_key takes either)",
            )
        return value.strip()

    @field_validator("gcs_staging_prefix")
    @classmethod
    def _staging_is_gcs(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith("gs://") or len(value) <= len("gs://"):
            raise InvalidInputError(
                "gcs_staging_prefix",
                f"{scrub(value)!r} is not a gs:// URI",
                "give a prefix such as gs://bucket/staging",
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_backend_needs(self) -> ClientSettings:
        versions = GEMINI_API_VERSIONS if self.backend == "gemini" else VERTEX_API_VERSIONS
        if self.webhook_url is not None and self.backend != "gemini":
            raise InvalidInputError(
                "webhook_url", "Vertex AI has no batch webhooks", "remove webhook_url from a vertex connection"
            )
        if self.api_version is not None and self.api_version not in versions:
            raise InvalidInputError(
                "api_version",
                f"{self.api_version!r} is not a {self.backend} API version",
                f"use one of {', '.join(versions)}",
            )
        if self.backend == "gemini" and self.api_key is None and self.access_token is None:
            raise InvalidInputError(
                "api_key",
                "the Gemini Developer API needs an API key",
                "set api_key (the connection's password)",
            )
        if self.backend == "vertex":
            if not self.location:
                raise InvalidInputError("location", "is empty", "set a Vertex AI region such as us-central1")
            if self.project is None and self.api_key is None:
                raise InvalidInputError(
                    "project",
                    "Vertex AI needs a project (or an API key for express mode)",
                    "set project to your Google Cloud project id",
                )
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Fields as pydantic shows them, URLs without userinfo (``model_copy(update=...)`` skips validation)."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name in ("base_url", "storage_base_url") and value else value

    @property
    def express_mode(self) -> bool:
        """Vertex with an API key and no project: paths have no ``projects/.../locations/...`` prefix."""
        return self.backend == "vertex" and self.project is None and self.api_key is not None

    @property
    def effective_api_version(self) -> str:
        """The API version used in URLs: ``v1beta`` on the Gemini API, ``v1beta1`` on Vertex AI.

        google-genai 3.x defaults the Gemini API to ``v1``; we keep ``v1beta`` on purpose (docs/SDK_PARITY.md):
        Google's batch API reference publishes its endpoints under ``v1beta``, and the published ``v1`` messages
        (google-ai-generativelanguage) lack fields batch users need (``systemInstruction``, ``tools``,
        ``responseSchema``, ``thinkingConfig``...), which public reports show ``v1`` rejecting. ``v1beta`` accepts
        every body the SDK sends. ``api_version="v1"`` in the connection extra selects ``v1``.
        """
        if self.api_version:
            return self.api_version
        return "v1beta" if self.backend == "gemini" else "v1beta1"

    @property
    def effective_base_url(self) -> str:
        """The base URL of the batch API."""
        if self.base_url:
            return self.base_url
        if self.backend == "gemini":
            return GEMINI_DEFAULT_BASE_URL
        if self.express_mode:
            return VERTEX_GLOBAL_BASE_URL
        return vertex_base_url(self.location)

    def vertex_base_url_for(self, location: str) -> str:
        """The Vertex base URL serving ``location`` (a job named in another region lives on that region's host).

        An explicit ``base_url`` (an emulator, a private endpoint) always wins.
        """
        if self.base_url:
            return self.base_url
        if self.express_mode:
            return VERTEX_GLOBAL_BASE_URL
        return vertex_base_url(location)

    @property
    def effective_storage_base_url(self) -> str:
        """The base URL of the GCS JSON API: ``storage_base_url``, else Google's (never derived from ``base_url``).

        An emulator that serves GCS beside the batch API is named explicitly (``storage_base_url=emulator_url``).
        """
        return self.storage_base_url or STORAGE_DEFAULT_BASE_URL
