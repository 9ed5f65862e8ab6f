"""``GenAIBatchWebhooksOperator`` through Airflow (``dag.test()``) against the emulator's WebhookService: register,
ping (a signed delivery the real receiver verifies with the stored secret), rotate, list, delete; the secret goes
into the receiver's Variable and never into XCom or the task's output."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.operators import GenAIBatchWebhooksOperator
from airflow_provider_genai_batch.webhooks.nudges import VARIABLE_KEY as DELIVERIES
from airflow_provider_genai_batch.webhooks.receiver import create_app
from airflow_provider_genai_batch.webhooks.secrets import VARIABLE_KEY as SECRETS
from tests.webhooks.keys import serve

ID = "{{ ti.xcom_pull(task_ids='register')['id'] }}"


def task(task_id: str, action: str, **kwargs: Any) -> dict[str, Any]:
    return {"class": "GenAIBatchWebhooksOperator", "task_id": task_id, "action": action, **kwargs}


def stored() -> dict[str, list[str]]:
    from airflow.models.variable import Variable

    value = Variable.get(SECRETS, default_var=None)
    return dict(json.loads(value)["webhooks"]) if value else {}


@pytest.fixture
def receiver(airflow_db: None, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real receiver (secrets from its Variable, record in the metadata DB) on a real port."""
    from airflow.models.variable import Variable

    for key in (SECRETS, DELIVERIES):
        Variable.delete(key)
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")  # Variable.get here reads the metadata DB
    with serve(create_app()) as base:
        yield f"{base}/deliveries"
    for key in (SECRETS, DELIVERIES):
        Variable.delete(key)


def sent(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    return list(httpx.get(f"{emulator.base_url}/_emulator/webhooks/deliveries").json()["deliveries"])


def test_register_ping_rotate_list_delete(run_dag: Any, emulator: EmulatorHandle, receiver: str) -> None:
    spec = {
        "dag_id": "webhooks_maintenance",
        "tasks": [
            task("register", "register", uri=receiver, name="nightly"),
            task("ping", "ping", webhook_id=ID),
            task("rotate", "rotate", webhook_id=ID),
            task("list", "list"),
            task("rotate_now", "rotate", webhook_id=ID, revocation_behavior="revoke_previous_secrets_immediately"),
        ],
    }
    result = run_dag(spec)
    assert result.state == "success", result.output[-3000:]
    registered = result.value("register")
    webhook_id = registered["id"]
    assert registered["uri"] == receiver and registered["name"] == "nightly"
    assert registered["subscribed_events"] == ["batch.succeeded", "batch.failed", "batch.expired"]
    assert registered["signing_secret_stored_in"] == f"variable:{SECRETS}"
    # the ping was signed with the secret the register stored: the receiver verified it
    assert [d["status"] for d in sent(emulator)] == [202]
    assert result.value("rotate") == {
        "id": webhook_id,
        "rotated": True,
        "revocation_behavior": "revoke_previous_secrets_after_h24",
        "signing_secret_stored_in": f"variable:{SECRETS}",
    }
    assert [w["id"] for w in result.value("list")] == [webhook_id]
    secrets = stored()[webhook_id]
    assert len(secrets) == 1 and secrets[0].startswith("whsec_")  # revoked at once: the newest only
    text = json.dumps(result.xcoms) + result.output
    assert re.findall(r"whsec_[A-Za-z0-9+/=]{12,}", text) == []  # no secret; the API's truncations are short
    for secret in secrets:
        assert secret not in text

    deleted = run_dag({"dag_id": "webhooks_delete", "tasks": [task("delete", "delete", webhook_id=webhook_id)]})
    assert deleted.state == "success", deleted.output[-3000:]
    assert deleted.value("delete") == {"id": webhook_id, "deleted": True}
    assert stored() == {}
    headers = {"x-goog-api-key": emulator.api_key}
    assert httpx.get(f"{emulator.base_url}/v1beta/webhooks", headers=headers).json() == {"webhooks": []}


def test_a_rotation_keeps_the_previous_secret_for_a_day(run_dag: Any, emulator: EmulatorHandle, receiver: str) -> None:
    result = run_dag(
        {
            "dag_id": "webhooks_rotate_keep",
            "tasks": [task("register", "register", uri=receiver), task("rotate", "rotate", webhook_id=ID)],
        }
    )
    assert result.state == "success", result.output[-3000:]
    secrets = stored()[result.value("register")["id"]]
    assert len(secrets) == 2 and secrets[0] != secrets[1]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"action": "subscribe"}, "action"),
        ({"action": "register"}, "uri"),
        ({"action": "rotate"}, "webhook_id"),
        ({"action": "rotate", "webhook_id": "a", "revocation_behavior": "never"}, "revocation_behavior"),
        ({"action": "update", "webhook_id": "a"}, "update"),
        ({"action": "update", "webhook_id": "a", "state": "paused"}, "state"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_built(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        GenAIBatchWebhooksOperator(task_id="t", **kwargs)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda w: w.create(uri="http://example.com/d"), "uri"),  # plain http only to a loopback host
        (lambda w: w.create(uri="https://a.example/d", subscribed_events="batch.succeeded"), "subscribed_events"),
        (lambda w: w.get(id="../batches/x"), "webhook_id"),
        (lambda w: w.update(id="abc"), "update"),
        (lambda w: w.update(id="abc", uri="http://example.com/d"), "uri"),
        (lambda w: w.update(id="../abc", name="n"), "webhook_id"),
    ],
)
def test_bad_input_is_refused_before_any_request(emulator: EmulatorHandle, call: Any, field: str) -> None:
    settings = ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url)
    with GenAIBatchClient(settings) as client, pytest.raises(InvalidInputError, match=field):
        call(client.webhooks)
    assert not any(k.startswith("gemini.webhooks") for k in emulator.stats()["requests"])


def test_vertex_has_no_webhooks(emulator: EmulatorHandle) -> None:
    settings = ClientSettings(
        backend="vertex", project="p", location="us-central1", access_token="t", base_url=emulator.base_url
    )
    with GenAIBatchClient(settings) as client, pytest.raises(InvalidInputError, match="Vertex AI has no"):
        list(client.webhooks.list())


def test_update_changes_only_the_fields_given(run_dag: Any, emulator: EmulatorHandle, receiver: str) -> None:
    """PATCH with an ``update_mask`` of the fields given (google-genai 3.3.0's ``webhooks.update``); the webhook as
    the API now describes it is returned, its URL and events untouched, its secret still only in the Variable."""
    result = run_dag(
        {
            "dag_id": "webhooks_update",
            "tasks": [
                task("register", "register", uri=receiver, name="nightly"),
                task("update", "update", webhook_id=ID, name="weekly", state="disabled"),
                task("get", "get", webhook_id=ID),
            ],
        }
    )
    assert result.state == "success", result.output[-3000:]
    registered, updated = result.value("register"), result.value("update")
    assert (updated["id"], updated["name"], updated["state"]) == (registered["id"], "weekly", "disabled")
    assert (updated["uri"], updated["subscribed_events"]) == (registered["uri"], registered["subscribed_events"])
    assert result.value("get") == updated
    assert emulator.stats()["requests"].get("gemini.webhooks.update") == 1
    assert len(stored()[registered["id"]]) == 1
