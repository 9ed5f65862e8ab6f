"""Webhooks on a real deployment: two api-server workers serving the receiver, two triggerers, and emulators that
deliver signed webhooks to the api-server as Google does.

One deployment for the whole module (``deployment``: module scope; its own DAGs folder, so it parses two DAGs),
started after the package's scenarios; both runs are triggered together and the tests assert one after the other.
- ``e2e_webhooks_on`` polls every 300 s: its task can only finish within the test's time because the emulator's
  delivery reached the receiver, was verified and recorded, and woke the trigger on its triggerer. Proved by the
  emulator's count of job reads (never a clock).
- ``e2e_webhooks_lost`` runs against an emulator that loses every delivery; it polls every few seconds and still
  finishes.
- A forged delivery (bad HMAC, a JWT from a foreign key) gets 401 and leaves the deliveries record unchanged.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient
from airflow_provider_genai_batch.webhooks.jws import sign_jwt
from airflow_provider_genai_batch.webhooks.nudges import VARIABLE_KEY, parse_entries
from airflow_provider_genai_batch.webhooks.signing import sign
from scripts.local_airflow import EmulatorSpec, LocalAirflow, free_port
from tests.e2e.support import API_KEY, REPO_ROOT

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).parent / "dags_webhooks"
FINISH_TIMEOUT = 150.0
#: Jobs last about 10 s (see ``tests/e2e/conftest.py`` on Airflow's race with jobs that end sooner).
EMULATORS = {
    "wh_on": EmulatorSpec(api_key=API_KEY, job_seconds=10.0, pending_seconds=1.0),
    "wh_lost": EmulatorSpec(api_key=API_KEY, job_seconds=10.0, pending_seconds=1.0),
}


class Deployment:
    """The module's deployment, its emulators' control clients, the receiver's URL and the two runs."""

    def __init__(self, airflow: LocalAirflow, receiver: str) -> None:
        self.airflow = airflow
        self.receiver = receiver
        self.emulators = {name: EmulatorClient(url) for name, url in airflow.emulator_urls.items()}
        self.run_ids: dict[str, str] = {}

    def deliveries_record(self) -> list[Any]:
        response = self.airflow.api("GET", f"/api/v2/variables/{VARIABLE_KEY}")
        return [] if response.status_code == 404 else parse_entries(response.json()["value"])

    def job_reads(self, name: str) -> int:
        return int(self.emulators[name].stats()["requests"].get("gemini.batches.get", 0))


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    port = free_port()
    receiver = f"http://127.0.0.1:{port}/genai-batch-webhooks/deliveries"

    def connections(urls: dict[str, str]) -> dict[str, dict[str, Any]]:
        def gemini(url: str) -> dict[str, Any]:
            extra = {"backend": "gemini", "webhook_url": receiver}
            return {"conn_type": "genai_batch", "host": url, "password": API_KEY, "extra": extra}

        return {
            "genai_batch_wh_on": gemini(urls["wh_on"]),
            "genai_batch_wh_lost": gemini(urls["wh_lost"]),
            # the receiver's own connection: the JWK set the "wh_on" emulator signs with, and our URL as audience
            "genai_batch_webhooks": {
                "conn_type": "generic",
                "extra": {"jwks_url": f"{urls['wh_on']}/.well-known/jwks.json", "audience": receiver},
            },
        }

    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    airflow = LocalAirflow(
        dags_folder=DAGS,
        connections=connections,
        emulators=EMULATORS,
        extra_env={"PYTHONPATH": pythonpath},
        parse_interval=120,
        api_port=port,
        api_workers=2,
        triggerers=2,
    )
    with airflow:
        airflow.wait_for_dags(["e2e_webhooks_on", "e2e_webhooks_lost"], timeout=120)
        state = Deployment(airflow, receiver)
        lost = httpx.post(f"{airflow.emulator_urls['wh_lost']}/_emulator/webhooks/faults", json={"lost": 1000})
        lost.raise_for_status()
        for dag_id in ("e2e_webhooks_on", "e2e_webhooks_lost"):
            state.run_ids[dag_id] = airflow.trigger_dag(dag_id)
        try:
            yield state
        finally:
            for client in state.emulators.values():
                client.close()


def _sent(client: EmulatorClient) -> list[dict[str, Any]]:
    """What the emulator delivered (or lost), and how the receiver answered."""
    response = httpx.get(f"{client.base_url}/_emulator/webhooks/deliveries", timeout=30)
    return list(response.json()["deliveries"])


def test_a_delivery_ends_a_300_s_deferred_wait(deployment: Deployment) -> None:
    airflow, run_id = deployment.airflow, deployment.run_ids["e2e_webhooks_on"]
    airflow.wait_for_task_state("e2e_webhooks_on", run_id, "job", {"success"}, timeout=FINISH_TIMEOUT)
    manifest = airflow.read_xcom("e2e_webhooks_on", run_id, "job")
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    # one read before the job ended (when the trigger started), one after the delivery; a 300 s poll would be
    # the only other way, and the test's time does not allow it
    assert deployment.job_reads("wh_on") <= 3
    sent = _sent(deployment.emulators["wh_on"])
    assert [(d["uri"], d["status"]) for d in sent] == [(deployment.receiver, 202)]
    recorded = [(e.job, e.via, e.type) for e in deployment.deliveries_record()]
    assert (manifest["job_name"], "dynamic", "batch.succeeded") in recorded


def test_with_every_delivery_lost_the_wait_ends_by_polling(deployment: Deployment) -> None:
    airflow, run_id = deployment.airflow, deployment.run_ids["e2e_webhooks_lost"]
    airflow.wait_for_task_state("e2e_webhooks_lost", run_id, "job", {"success"}, timeout=FINISH_TIMEOUT)
    manifest = airflow.read_xcom("e2e_webhooks_lost", run_id, "job")
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert [d.get("fault") for d in _sent(deployment.emulators["wh_lost"])] == ["lost"]
    assert manifest["job_name"] not in [e.job for e in deployment.deliveries_record()]
    assert deployment.job_reads("wh_lost") > 3  # it was polling that noticed


def test_a_forged_delivery_gets_401_and_changes_nothing(deployment: Deployment) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    before = deployment.deliveries_record()
    now = int(time.time())
    body = json.dumps({"type": "batch.succeeded", "data": {"id": "batches/forged"}}).encode()
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = sign_jwt({"aud": deployment.receiver, "iat": now, "exp": now + 300}, foreign, kid="emulator-forged")
    attempts = {
        "bad-hmac": sign("msg_forged_1", now, body, "whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3JnZWQtc2VjcmV0IQ=="),
        "foreign-jwt": {"webhook-id": "msg_forged_2", "webhook-timestamp": str(now), "webhook-signature": token},
        "stale-hmac": sign("msg_forged_3", now - 3600, body, "whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3JnZWQtc2VjcmV0IQ=="),
    }
    for label, headers in attempts.items():
        response = httpx.post(
            deployment.receiver, headers={**headers, "content-type": "application/json"}, content=body, timeout=30
        )
        assert response.status_code == 401, (label, response.text)
    assert deployment.deliveries_record() == before
    assert "batches/forged" not in [e.job for e in before]
