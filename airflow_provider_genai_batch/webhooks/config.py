"""The dynamic webhook a create asks for when its connection names a receiver (``webhook_url``). Pure.

google-genai 3.3.0 sends ``config.webhook_config`` as ``batch.webhookConfig`` with ``uris`` and
``user_metadata`` on the Gemini API and refuses it on Vertex AI (``batches._CreateBatchJobConfig_to_mldev`` /
``_to_vertex``); ``client/wire/gemini.build_create`` places it the same way.

Example::

    prepared = with_dynamic_webhook(prepared, settings)   # webhook_config set from settings.webhook_url
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.policy.idempotency import key_from_display_name

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.creation import PreparedCreate
    from airflow_provider_genai_batch.client.settings import ClientSettings

__all__ = ["METADATA_KEY", "dynamic_webhook_config", "receiver_armed", "with_dynamic_webhook"]

#: The ``user_metadata`` entry that carries the job's idempotency key back in each delivery.
METADATA_KEY = "genai_batch_key"


def dynamic_webhook_config(webhook_url: str, display_name: str | None) -> dict[str, Any]:
    """``{"uris": [url], "user_metadata": {"genai_batch_key": key}}`` (no metadata for a job without a key)."""
    config: dict[str, Any] = {"uris": [webhook_url]}
    key = key_from_display_name(display_name)
    if key is not None:
        config["user_metadata"] = {METADATA_KEY: key}
    return config


def with_dynamic_webhook(prepared: PreparedCreate, settings: ClientSettings) -> PreparedCreate:
    """``prepared`` with a dynamic webhook when ``settings.webhook_url`` is set and the user gave none."""
    if settings.webhook_url is None or settings.backend != "gemini" or prepared.config.webhook_config is not None:
        return prepared
    webhook = dynamic_webhook_config(settings.webhook_url, prepared.display_name)
    prepared.config = prepared.config.model_copy(update={"webhook_config": webhook})
    return prepared


def receiver_armed(settings: ClientSettings, webhook_config: Mapping[str, Any] | None) -> bool:
    """Whether a job created on ``settings`` with the user's parsed ``config.webhook_config`` (None when not given)
    is delivered to this deployment's receiver: a Gemini connection with ``webhook_url``, and either no webhook
    config of the user's (ours is added) or one whose ``uris`` name that URL. A wait on such a job polls only as the
    fallback (``policy.wait_settings.WaitSettings.webhook_fallback_interval``)."""
    if settings.webhook_url is None or settings.backend != "gemini":
        return False
    return webhook_config is None or settings.webhook_url in (webhook_config.get("uris") or [])
