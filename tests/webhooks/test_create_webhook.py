"""The create operator asks Gemini for a dynamic webhook when its connection names a receiver (``webhook_url``),
carrying the idempotency key in ``user_metadata``: ``dag.test()`` against the emulator, which records each job's
``webhookConfig`` as the create sent it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.conftest import GEMINI_CONN_ID, gemini_connection, set_connection
from tests.timings import FAST_ARMED

#: Nothing listens there: the emulator's delivery fails fast, which these tests do not look at.
RECEIVER = "http://127.0.0.1:9/genai-batch-webhooks/deliveries"


@pytest.fixture
def webhook_emulator(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> EmulatorHandle:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    connection = gemini_connection(emulator)
    connection["extra"] = {"webhook_url": RECEIVER}
    set_connection(monkeypatch, GEMINI_CONN_ID, connection)
    return emulator


def requested(emulator: EmulatorHandle) -> dict[str, Any]:
    return dict(httpx.get(f"{emulator.base_url}/_emulator/webhooks/requested").json()["requested"])


def create_spec(dag_id: str, **kwargs: Any) -> dict[str, Any]:
    task = {"class": "GenAIBatchCreateJobOperator", "task_id": "create", "model": "gemini-2.5-flash", **FAST_ARMED}
    return {"dag_id": dag_id, "tasks": [{**task, **kwargs}]}


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_create_asks_for_a_dynamic_webhook_with_its_idempotency_key(
    run_dag: Any, webhook_emulator: EmulatorHandle, deferrable: bool
) -> None:
    result = run_dag(create_spec(f"webhook_create_{deferrable}", src=["a", "b"], deferrable=deferrable))
    assert result.state == "success", result.output[-3000:]
    manifest = result.value("create")
    assert manifest["idempotency_key"]
    assert requested(webhook_emulator) == {
        manifest["job_name"]: {"uris": [RECEIVER], "user_metadata": {"genai_batch_key": manifest["idempotency_key"]}}
    }


def test_a_webhook_config_the_user_gave_is_sent_as_given(run_dag: Any, webhook_emulator: EmulatorHandle) -> None:
    mine = {"uris": ["http://127.0.0.1:9/mine"], "user_metadata": {"team": "nlp"}}
    result = run_dag(create_spec("webhook_create_own", src=["a"], config={"webhook_config": mine}))
    assert result.state == "success", result.output[-3000:]
    assert requested(webhook_emulator) == {result.value("create")["job_name"]: mine}


def test_without_webhook_url_no_webhook_is_asked_for(run_dag: Any, emulator: EmulatorHandle) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    result = run_dag(create_spec("webhook_create_none", src=["a"]))
    assert result.state == "success", result.output[-3000:]
    assert requested(emulator) == {}
