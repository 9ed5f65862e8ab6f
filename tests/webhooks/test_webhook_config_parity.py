"""Differential test: the ``batch.webhookConfig`` our create sends is exactly the one google-genai 3.3.0 sends for the
same ``config.webhook_config``, given as a ``types.WebhookConfig`` object, inside a ``types.CreateBatchJobConfig`` or
as a dict (snake_case or camelCase keys), both read back from the loopback recorder the client parity tests use.

google-genai parses ``webhook_config`` into ``types.WebhookConfig`` (unknown keys refused, ``None`` fields dropped)
and sends it as ``batch.webhookConfig`` with snake_case keys (``batches._CreateBatchJobConfig_to_mldev``); on
Vertex AI it refuses it (``_CreateBatchJobConfig_to_vertex``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.genai import types

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.operators._inputs import check_config
from tests.client.recorder import Recorder

MODEL = "gemini-2.5-flash"
SRC = [{"contents": "hi"}]
URI = "https://airflow.example.com/genai-batch-webhooks/deliveries"


@pytest.fixture(scope="module")
def rec() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def sdk_batch(rec: Recorder, config: Any) -> dict[str, Any]:
    from google import genai

    client = genai.Client(api_key="k", http_options={"base_url": rec.base_url})
    rec.clear()
    client.batches.create(model=MODEL, src=SRC, config=config)
    batch: dict[str, Any] = rec.bodies(":batchGenerateContent")[-1]["batch"]
    return batch


def our_batch(rec: Recorder, config: Any) -> dict[str, Any]:
    """Our client's create with ``config`` as the create operator passes it on (``check_config``, then the hook)."""
    from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient

    settings = ClientSettings(backend="gemini", api_key="k", base_url=rec.base_url, max_retries=0)
    rec.clear()
    with GenAIBatchClient(settings=settings) as client:
        client.batches.create(model=MODEL, src=SRC, config=check_config(config))
    batch: dict[str, Any] = rec.bodies(":batchGenerateContent")[-1]["batch"]
    return batch


def without_input(batch: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in batch.items() if key != "inputConfig"}


CASES: dict[str, Any] = {
    "object-in-dict": {"webhook_config": types.WebhookConfig(uris=[URI], user_metadata={"team": "nlp", "n": 3})},
    "object-uris-only": {"webhook_config": types.WebhookConfig(uris=[URI])},
    "object-nested-metadata": {
        "webhook_config": types.WebhookConfig(uris=[URI], user_metadata={"a": {"b": [1, 2.5, None, True]}})
    },
    "sdk-config-object": types.CreateBatchJobConfig(
        display_name="nightly", webhook_config=types.WebhookConfig(uris=[URI, URI + "/2"], user_metadata={"k": "v"})
    ),
    "dict-snake": {"webhook_config": {"uris": [URI], "user_metadata": {"k": "v"}}},
    "dict-camel": {"webhookConfig": {"uris": [URI], "userMetadata": {"k": "v"}}},
    "dict-none-metadata": {"webhook_config": {"uris": [URI], "user_metadata": None}},
    "empty": {"webhook_config": {}},
}


@pytest.mark.parametrize("config", list(CASES.values()), ids=list(CASES))
def test_webhook_config_is_sent_as_the_sdk_sends_it(rec: Recorder, config: Any) -> None:
    theirs = without_input(sdk_batch(rec, config))
    ours = without_input(our_batch(rec, config))
    assert ours == theirs
    assert "webhookConfig" in ours


def test_an_unknown_webhook_config_field_is_refused_as_the_sdk_refuses_it(rec: Recorder) -> None:
    config = {"webhook_config": {"uris": [URI], "bogus": 1}}
    with pytest.raises(ValueError, match="bogus"):
        sdk_batch(rec, config)
    rec.clear()
    with pytest.raises(InvalidInputError) as caught:
        our_batch(rec, config)
    assert caught.value.field == "config.webhook_config.bogus"
    assert rec.bodies(":batchGenerateContent") == []  # refused before any request


@pytest.mark.parametrize("webhook_config", [{}, types.WebhookConfig(uris=[URI])], ids=["empty", "object"])
def test_vertex_refuses_any_webhook_config_as_the_sdk_does(webhook_config: Any) -> None:
    """google-genai raises for any ``webhook_config`` that is not None on Vertex AI, an empty one included."""
    from airflow_provider_genai_batch.client import ClientSettings
    from airflow_provider_genai_batch.client.creation import prepare_create

    vertex = ClientSettings(backend="vertex", project="p", access_token="t")
    with pytest.raises(InvalidInputError) as caught:
        prepare_create(vertex, model=MODEL, src="gs://bucket/in.jsonl", config={"webhook_config": webhook_config})
    assert caught.value.field == "config.webhook_config"
