"""Client settings: which backend, which credentials, which endpoints.

Secrets are ``SecretStr`` and never appear in ``repr()``; a ready google-auth ``credentials`` object may be
passed instead of key material.

Example::

    ClientSettings(backend="gemini", api_key="...")
    ClientSettings(backend="vertex", project="my-proj", location="us-central1",
                   gcs_staging_prefix="gs://my-bucket/staging")
"""

from __future__ import annotations

from typing import Any, Literal

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
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_input_from(exc, "settings") from None

    backend: Backend = "gemini"
    # --- credentials (one of them; Gemini needs api_key, Vertex any of them) ---
    api_key: SecretStr | None = None
    access_token: SecretStr | None = None
    service_account_key_json: SecretStr | None = None
    service_account_key_path: str | None = None
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
        if not value.startswith(("http://", "https://")):
            raise InvalidInputError(
                info.field_name or "base_url",
                f"{value!r} is not an http(s) URL",
                "give a URL such as http://127.0.0.1:8085",
            )
        return value.rstrip("/")

    @field_validator("gcs_staging_prefix")
    @classmethod
    def _staging_is_gcs(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith("gs://") or len(value) <= len("gs://"):
            raise InvalidInputError(
                "gcs_staging_prefix",
                f"{value!r} is not a gs:// URI",
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
