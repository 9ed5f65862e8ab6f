"""Which jobs arm the receiver (``webhooks.config.receiver_armed``): the create operator then defers to a trigger
that polls only as the fallback. Real ``ClientSettings`` and configs parsed as the create parses them."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types

from airflow_provider_genai_batch.client import ClientSettings
from airflow_provider_genai_batch.client.creation import parse_config
from airflow_provider_genai_batch.webhooks.config import receiver_armed

URL = "https://airflow.example.com/genai-batch-webhooks/deliveries"
ARMED = ClientSettings(backend="gemini", api_key="k", webhook_url=URL)
PLAIN = ClientSettings(backend="gemini", api_key="k")
VERTEX = ClientSettings(backend="vertex", project="p", access_token="t")


@pytest.mark.parametrize(
    ("settings", "config", "armed"),
    [
        (ARMED, None, True),  # ours is added: it names the receiver
        (ARMED, {"webhook_config": {"uris": [URL], "user_metadata": {"team": "a"}}}, True),
        (ARMED, {"webhookConfig": {"uris": ["https://elsewhere.example.com/hook", URL]}}, True),
        (ARMED, {"webhook_config": types.WebhookConfig(uris=[URL])}, True),
        (ARMED, {"webhook_config": {"uris": ["https://elsewhere.example.com/hook"]}}, False),
        (ARMED, {"webhook_config": {}}, False),  # the project's static webhooks: maybe not ours
        (PLAIN, None, False),
        (VERTEX, None, False),
    ],
)
def test_receiver_armed(settings: ClientSettings, config: Any, armed: bool) -> None:
    assert receiver_armed(settings, parse_config(config).webhook_config) is armed
