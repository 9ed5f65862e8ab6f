"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

Importing this module imports nothing else: Airflow reads it in every process.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_genai_batch import __version__

_PACKAGE = "airflow_provider_genai_batch"
_INTEGRATION = "Google Gen AI batch"


def _string_field(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


def _secret_field(label: str, description: str) -> dict[str, Any]:
    return _string_field(label, description, format="password")


CONN_FIELDS: dict[str, dict[str, Any]] = {
    "backend": _string_field(
        "Backend",
        "gemini: the Gemini Developer API (API key). vertex: Vertex AI batch prediction (Google Cloud).",
        enum=["gemini", "vertex"],
        default="gemini",
    ),
    "project": _string_field("Project", "Vertex AI: the Google Cloud project id."),
    "location": _string_field("Location", "Vertex AI: the region, e.g. us-central1.", default="us-central1"),
    "service_account_key": _secret_field(
        "Service-account key", "Vertex AI: a key file's path or its JSON. Empty: Application Default Credentials."
    ),
    "access_token": _secret_field("Access token", "A static OAuth2 access token (short-lived; for tests)."),
    "impersonation_chain": _string_field(
        "Impersonation chain", "Service accounts to impersonate, comma-separated, the last one acts."
    ),
    "quota_project": _string_field("Quota project", "Project billed for quota (x-goog-user-project)."),
    "api_version": _string_field("API version", "v1beta or v1 (Gemini); v1beta1 or v1 (Vertex AI)."),
    "storage_base_url": _string_field(
        "Storage base URL", "GCS JSON API endpoint; empty for Google's (the emulator sets its own)."
    ),
    "gcs_staging_prefix": _string_field(
        "GCS staging prefix", "Vertex AI: gs://bucket/prefix where inline and local requests are staged."
    ),
    "timeout": {
        "label": "HTTP timeout (s)",
        "description": "Seconds to wait for one HTTP response.",
        "schema": {"type": ["number", "null"], "default": 60},
    },
    "webhook_url": _string_field(
        "Webhook URL", "Gemini: this deployment's public webhook receiver URL (.../genai-batch-webhooks/deliveries)."
    ),
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of one read-only call on 429, 5xx and connection errors.",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0, "maximum": 20},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port"],
    "relabeling": {"password": "API key", "host": "Base URL"},
    "placeholders": {
        "password": "Gemini API key (or Vertex AI express-mode key)",
        "host": "empty for Google; http://127.0.0.1:8085 for the emulator",
    },
}


def get_provider_info() -> dict[str, Any]:
    """The provider's description for Airflow: hooks, operators, triggers, links, UI plugin, connection form."""
    return {
        "package-name": "airflow-provider-genai-batch",
        "name": "Google Gen AI batch",
        "description": "Gemini Developer API batches and Vertex AI batch prediction, with a local emulator.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://ai.google.dev/gemini-api/docs/batch-mode",
                "tags": ["gcp", "ai"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.hooks.genai_batch"]}],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    f"{_PACKAGE}.operators.create",
                    f"{_PACKAGE}.operators.jobs",
                    f"{_PACKAGE}.operators.reaper",
                    f"{_PACKAGE}.operators.results",
                    f"{_PACKAGE}.operators.sharding",
                    f"{_PACKAGE}.operators.webhooks",
                ],
            }
        ],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.sensors.genai_batch"]}],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.triggers.genai_batch"]}],
        "extra-links": [f"{_PACKAGE}.links.genai_batch.GenAIBatchJobLink"],
        "plugins": [
            {"name": "genai_batch_ui", "plugin-class": f"{_PACKAGE}.ui.plugin.GenAIBatchUIPlugin"},
            {"name": "genai_batch_webhooks", "plugin-class": f"{_PACKAGE}.webhooks.plugin.GenAIBatchWebhooksPlugin"},
        ],
        "connection-types": [
            {
                "connection-type": "genai_batch",
                "hook-class-name": f"{_PACKAGE}.hooks.genai_batch.GenAIBatchHook",
                "hook-name": "Google Gen AI batch",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
