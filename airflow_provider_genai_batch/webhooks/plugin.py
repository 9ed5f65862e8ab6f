"""The Airflow plugin that mounts the webhook receiver on the api-server at ``/genai-batch-webhooks``.

A plugin of its own (entry point ``airflow.plugins`` and the provider info's ``plugins``) rather than a route
of the UI app: the UI app requires a signed-in user on every route, the receiver must not; and keeping them apart
keeps the public surface of the api-server to this one route.

Example::

    GenAIBatchWebhooksPlugin.fastapi_apps[0]["url_prefix"]   # '/genai-batch-webhooks'
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_genai_batch.webhooks.receiver import URL_PREFIX, create_app


class GenAIBatchWebhooksPlugin(AirflowPlugin):
    """The Gemini webhook receiver on the api-server."""

    name = "genai_batch_webhooks"
    fastapi_apps: list[Any] = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Gen AI batch webhooks"}]
