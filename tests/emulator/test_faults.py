"""Injected faults seen by real HTTP clients: statuses with Retry-After, delays, dropped connections, and a
create that is applied but whose answer is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from google import genai
from google.genai import errors

from airflow_provider_genai_batch.emulator import EmulatorError, EmulatorHandle

CREATE = "/v1/models/gemini-2.5-flash:batchGenerateContent"
BODY = {"batch": {"inputConfig": {"requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "x"}]}]}}]}}}}


@pytest.fixture
def http(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": emu.api_key}, timeout=10) as client:
        yield client


def test_status_fault_with_retry_after_then_normal_service(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.add_fault("status", method="GET", path=r"/batches$", status=429, retry_after=2)
    limited = http.get("/v1/batches")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    error = limited.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["message"] == "Resource has been exhausted (e.g. check quota)."
    # Google's quota errors carry QuotaFailure and RetryInfo (tests/client/real_responses/errors/429_*.json).
    types_ = [detail["@type"].rsplit(".", 1)[-1] for detail in error["details"]]
    assert types_ == ["QuotaFailure", "RetryInfo"] and error["details"][1]["retryDelay"] == "1s"
    assert http.get("/v1/batches").status_code == 200  # count=1: fired once
    stats = emu.stats()
    assert stats["faults_fired"] == {"total": 1, "status": 1}
    assert stats["requests"]["gemini.batches.list"] == 2


def test_status_fault_reaches_the_sdk_and_creates_nothing(emu: EmulatorHandle) -> None:
    emu.add_fault("status", method="POST", status=503)
    emu.add_fault("status", method="POST", status=500, google_status="ABORTED", message="try later")
    client = genai.Client(api_key=emu.api_key, http_options={"base_url": emu.base_url})
    with pytest.raises(errors.ServerError) as unavailable:
        client.batches.create(model="gemini-2.5-flash", src=[{"contents": "x"}])
    assert unavailable.value.code == 503 and unavailable.value.status == "UNAVAILABLE"
    with pytest.raises(errors.ServerError) as aborted:
        client.batches.create(model="gemini-2.5-flash", src=[{"contents": "x"}])
    assert (aborted.value.status, aborted.value.message) == ("ABORTED", "try later")
    assert emu.stats()["jobs_created"] == 0


def test_delay_fault_delays_then_serves(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.add_fault("delay", path="/batches", delay_seconds=0.3)
    started = time.monotonic()
    assert http.get("/v1/batches").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        emu.add_fault("delay", delay_seconds=1.0)
        http.get("/v1/batches", timeout=0.2)


def test_drop_closes_the_connection_without_a_response(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.add_fault("drop", method="POST", path=r":batchGenerateContent$")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.post(CREATE, json=BODY)
    assert emu.stats()["jobs_created"] == 0
    assert http.post(CREATE, json=BODY).status_code == 200  # the next attempt goes through


def test_apply_then_drop_creates_the_job_but_loses_the_answer(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.add_fault("apply_then_drop", method="POST", path=r":batchGenerateContent$")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.post(CREATE, json=BODY)
    stats = emu.stats()
    assert stats["jobs_created"] == 1 and stats["faults_fired"]["apply_then_drop"] == 1
    listed = http.get("/v1/batches").json()["operations"]
    assert [op["name"] for op in listed] == [stats["jobs"][0]["name"]]


def test_skip_count_and_method_selection(http: httpx.Client, emu: EmulatorHandle) -> None:
    emu.add_fault("status", method="GET", path="/batches", status=503, skip=2, count=2)
    codes = [http.get("/v1/batches").status_code for _ in range(5)]
    assert codes == [200, 200, 503, 503, 200]
    assert http.post(CREATE, json=BODY).status_code == 200


def test_probability_is_reproducible_with_a_seed(http: httpx.Client, emu: EmulatorHandle) -> None:
    def pattern() -> list[int]:
        emu.clear_faults()
        emu.add_fault("status", status=503, probability=0.5, seed=42, count=None)
        return [http.get("/v1/batches").status_code for _ in range(20)]

    first, second = pattern(), pattern()
    assert first == second and 200 in first and 503 in first


def test_admin_routes_are_never_faulted(emu: EmulatorHandle) -> None:
    emu.add_fault("drop", count=None)
    from airflow_provider_genai_batch.emulator import EmulatorClient

    with EmulatorClient(emu.base_url) as admin:
        assert admin.stats()["faults_fired"] == {"total": 0}
        admin.clear_faults()
    with httpx.Client(base_url=emu.base_url) as raw:
        assert raw.get("/v1/batches", params={"key": emu.api_key}).status_code == 200


@pytest.mark.parametrize(
    "kwargs",
    [{"kind": "explode"}, {"status": 200}, {"path": "("}, {"probability": 2}, {"count": 0}, {"skip": -1}],
)
def test_bad_fault_rules_are_rejected(emu: EmulatorHandle, kwargs: dict[str, object]) -> None:
    with pytest.raises(EmulatorError) as info:
        emu.add_fault(**kwargs)
    assert info.value.code == 400
