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
- ``e2e_webhooks_sensor`` (triggered by its test, after the others): the deferrable sensor's job is held pending by
  the emulator until the sensor has deferred; the test ends it, and the delivery wakes the sensor's 300 s wait.
- A replayed delivery (the same ``webhook-id``, sent again as is or re-signed with another body) gets 200 from
  either api-server worker and leaves the record unchanged. It is signed with a static secret that the receiver's
  connection holds (``STATIC_SECRET``), as the operator of a static webhook would configure it.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator, Mapping
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

pytestmark = [pytest.mark.e2e, pytest.mark.e2e_own_deployment]

DAGS = Path(__file__).parent / "dags_webhooks"
#: The display name of the sensor DAG's job (``dags_webhooks/e2e_webhooks.py``).
SENSOR_JOB_DISPLAY_NAME = "e2e-webhooks-sensor"
#: A static signing secret the receiver's connection holds (a fixed test value, not a real one).
STATIC_SECRET = "whsec_" + base64.b64encode(b"e2e-webhooks-static-secret-32byte").decode()
FINISH_TIMEOUT = 150.0
#: Jobs last about 10 s (see ``tests/e2e/conftest.py`` on Airflow's race with jobs that end sooner).
EMULATORS = {
    "wh_on": EmulatorSpec(api_key=API_KEY, job_seconds=10.0, pending_seconds=1.0),
    # Long enough that the trigger (1-3 s polls) must poll several times even when a loaded machine starts it late:
    # with 10 s, a trigger started after the job's end read it once, and "ended by polling" was not shown.
    "wh_lost": EmulatorSpec(api_key=API_KEY, job_seconds=30.0, pending_seconds=1.0),
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

    def connections(urls: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        def gemini(url: str) -> dict[str, Any]:
            extra = {"backend": "gemini", "webhook_url": receiver}
            return {"conn_type": "genai_batch", "host": url, "password": API_KEY, "extra": extra}

        return {
            "genai_batch_wh_on": gemini(urls["wh_on"]),
            "genai_batch_wh_lost": gemini(urls["wh_lost"]),
            # the receiver's own connection: the JWK set the "wh_on" emulator signs with, and our URL as audience
            "genai_batch_webhooks": {
                "conn_type": "generic",
                "password": STATIC_SECRET,
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
        stop_grace=3.0,  # thrown away after the module: no need for a graceful exit
    )
    with airflow:
        airflow.wait_for_dags(["e2e_webhooks_on", "e2e_webhooks_lost", "e2e_webhooks_sensor"], timeout=120)
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
    # FINISH_TIMEOUT (150 s) is shorter than the 300 s between polls, so no scheduled poll can have ended the wait.
    # Reads: one when the trigger started, one after the delivery, one in execute_complete; a loaded machine can
    # add one more when a triggerer re-creates the trigger (it reads at its start), never a scheduled poll.
    assert FINISH_TIMEOUT < 300
    assert deployment.job_reads("wh_on") <= 4
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


def test_a_delivery_wakes_the_deferred_sensor(deployment: Deployment) -> None:
    """The sensor's job stays pending until the sensor has deferred (its trigger then waits 300 s); the job's end
    reaches the trigger through the emulator's delivery, the receiver and the record, well within 300 s."""
    airflow, emulator = deployment.airflow, deployment.emulators["wh_on"]
    emulator.add_outcome("STUCK_PENDING", match_display_name=SENSOR_JOB_DISPLAY_NAME, count=1)
    run_id = airflow.trigger_dag("e2e_webhooks_sensor")
    airflow.wait_for_task_state("e2e_webhooks_sensor", run_id, "create", {"success"}, timeout=FINISH_TIMEOUT)
    job_name = airflow.read_xcom("e2e_webhooks_sensor", run_id, "create")
    airflow.wait_for_task_state("e2e_webhooks_sensor", run_id, "wait", {"deferred"}, timeout=FINISH_TIMEOUT)
    sent_before = len(_sent(emulator))
    emulator.finish_job(job_name, "SUCCEEDED")
    # the trigger polls every 300 s: only the delivery can end its wait within this timeout
    airflow.wait_for_task_state("e2e_webhooks_sensor", run_id, "wait", {"success"}, timeout=120)
    manifest = airflow.read_xcom("e2e_webhooks_sensor", run_id, "wait")
    assert (manifest["job_name"], manifest["state"]) == (job_name, "JOB_STATE_SUCCEEDED")
    assert [(d["uri"], d["status"]) for d in _sent(emulator)[sent_before:]] == [(deployment.receiver, 202)]
    assert (job_name, "dynamic", "batch.succeeded") in [(e.job, e.via, e.type) for e in deployment.deliveries_record()]


def test_a_replayed_delivery_changes_nothing(deployment: Deployment) -> None:
    """A verified delivery is recorded once; the same ``webhook-id`` again (as is, or validly re-signed over a body
    naming another job) gets 200 "duplicate" from whichever api-server worker answers, and the record stays as it
    was."""
    now = int(time.time())
    body = json.dumps({"type": "batch.succeeded", "data": {"name": "batches/e2e-replayed"}}).encode()
    headers = {**sign("msg_e2e_replay", now, body, STATIC_SECRET), "content-type": "application/json"}
    first = httpx.post(deployment.receiver, headers=headers, content=body, timeout=30)
    assert first.status_code == 202, first.text
    recorded = deployment.deliveries_record()
    assert [(e.id, e.job, e.via) for e in recorded if e.id == "msg_e2e_replay"] == [
        ("msg_e2e_replay", "batches/e2e-replayed", "static")
    ]
    other = json.dumps({"type": "batch.succeeded", "data": {"name": "batches/e2e-replay-other"}}).encode()
    resigned = {**sign("msg_e2e_replay", now, other, STATIC_SECRET), "content-type": "application/json"}
    for attempt_headers, attempt_body in [(headers, body)] * 3 + [(resigned, other)] * 3:  # both workers answer
        again = httpx.post(deployment.receiver, headers=attempt_headers, content=attempt_body, timeout=30)
        assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert deployment.deliveries_record() == recorded
