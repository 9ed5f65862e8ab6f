"""Transport-level retry, Retry-After, timeout and error behaviour, with respx (no server, exact control)."""

from __future__ import annotations

import httpx
import pytest
import respx

from airflow_provider_genai_batch.client import (
    APIConnectionError,
    AsyncGenAIBatchClient,
    BadRequestError,
    ClientSettings,
    GenAIBatchClient,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
)
from airflow_provider_genai_batch.client.errors import APITimeoutError, is_transient
from airflow_provider_genai_batch.client.transport import RetryPolicy, parse_retry_after
from airflow_provider_genai_batch.client.wire.common import ApiRequest

BASE = "http://gemini.test"
KEY = "AIzaSECRET-transport-key-0123456789"
JOB = {"name": "batches/abc", "metadata": {"state": "BATCH_STATE_RUNNING"}}
CREATE_URL = f"{BASE}/v1beta/models/gemini-2.5-flash:batchGenerateContent"
GET_URL = f"{BASE}/v1beta/batches/abc"


def error(code: int, status: str, message: str = "m", **headers: str) -> httpx.Response:
    return httpx.Response(code, json={"error": {"code": code, "status": status, "message": message}}, headers=headers)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The transport's sleeps in this test's thread (not skipped). Sleeps of other threads, such as an emulator
    server an earlier test left running in this xdist worker, run for real and are not recorded."""
    import asyncio
    import threading
    import time

    recorded: list[float] = []
    test_thread = threading.get_ident()
    real_sleep, real_async_sleep = time.sleep, asyncio.sleep

    def fake_sleep(seconds: float) -> None:
        if threading.get_ident() != test_thread:
            real_sleep(seconds)
            return
        recorded.append(seconds)

    async def fake_async_sleep(seconds: float, result: object = None) -> object:
        if threading.get_ident() != test_thread:
            return await real_async_sleep(seconds, result)
        recorded.append(seconds)
        return result

    monkeypatch.setattr("time.sleep", fake_sleep)
    monkeypatch.setattr("asyncio.sleep", fake_async_sleep)
    return recorded


@pytest.fixture
def client() -> GenAIBatchClient:
    return GenAIBatchClient(ClientSettings(backend="gemini", api_key=KEY, base_url=BASE, max_retries=3))


@respx.mock
def test_get_retries_transient_statuses_then_succeeds(client: GenAIBatchClient, sleeps: list[float]) -> None:
    route = respx.get(GET_URL).mock(
        side_effect=[error(503, "UNAVAILABLE"), error(500, "INTERNAL"), httpx.Response(200, json=JOB)]
    )
    job = client.batches.get(name="batches/abc")
    assert job.name == "batches/abc"
    assert route.call_count == 3
    assert len(sleeps) == 2 and all(0 < s <= 2.0 for s in sleeps)


@respx.mock
def test_retry_after_is_honoured(client: GenAIBatchClient, sleeps: list[float]) -> None:
    respx.get(GET_URL).mock(
        side_effect=[error(429, "RESOURCE_EXHAUSTED", **{"Retry-After": "7"}), httpx.Response(200, json=JOB)]
    )
    client.batches.get(name="abc")
    assert sleeps == [7.0]


@respx.mock
def test_gives_up_after_max_retries_keeping_status(client: GenAIBatchClient, sleeps: list[float]) -> None:
    route = respx.get(GET_URL).mock(return_value=error(503, "UNAVAILABLE", "try later"))
    with pytest.raises(ServiceUnavailableError) as info:
        client.batches.get(name="abc")
    assert route.call_count == 4  # first try + 3 retries
    exc = info.value
    assert (exc.status_code, exc.google_status, exc.message) == (503, "UNAVAILABLE", "try later")
    assert is_transient(exc)


@respx.mock
def test_permanent_errors_are_not_retried(client: GenAIBatchClient, sleeps: list[float]) -> None:
    route = respx.get(GET_URL).mock(return_value=error(404, "NOT_FOUND", "Requested entity was not found."))
    with pytest.raises(NotFoundError) as info:
        client.batches.get(name="abc")
    assert route.call_count == 1 and not sleeps
    assert "404 NOT_FOUND: Requested entity was not found. (GET /v1beta/batches/abc)" in str(info.value)
    assert not is_transient(info.value)


@respx.mock
def test_create_is_never_blindly_resent_after_a_5xx(client: GenAIBatchClient, sleeps: list[float]) -> None:
    route = respx.post(CREATE_URL).mock(return_value=error(503, "UNAVAILABLE"))
    with pytest.raises(ServiceUnavailableError):
        client.batches.create(model="gemini-2.5-flash", src=["x"])
    assert route.call_count == 1


@respx.mock
def test_create_is_not_resent_after_a_read_error(client: GenAIBatchClient, sleeps: list[float]) -> None:
    route = respx.post(CREATE_URL).mock(side_effect=httpx.ReadError("connection reset"))
    with pytest.raises(APIConnectionError) as info:
        client.batches.create(model="gemini-2.5-flash", src=["x"])
    assert route.call_count == 1
    assert info.value.request_sent is True


@respx.mock
def test_create_is_resent_when_it_never_left(client: GenAIBatchClient, sleeps: list[float]) -> None:
    route = respx.post(CREATE_URL).mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=JOB)])
    assert client.batches.create(model="gemini-2.5-flash", src=["x"]).name == "batches/abc"
    assert route.call_count == 2


@respx.mock
def test_create_is_resent_after_explicit_429(client: GenAIBatchClient, sleeps: list[float]) -> None:
    route = respx.post(CREATE_URL).mock(
        side_effect=[error(429, "RESOURCE_EXHAUSTED", **{"Retry-After": "2"}), httpx.Response(200, json=JOB)]
    )
    client.batches.create(model="gemini-2.5-flash", src=["x"])
    assert route.call_count == 2 and sleeps == [2.0]


@respx.mock
def test_create_400_keeps_google_status(client: GenAIBatchClient) -> None:
    respx.post(CREATE_URL).mock(return_value=error(400, "INVALID_ARGUMENT", "batch.inputConfig is bad"))
    with pytest.raises(BadRequestError) as info:
        client.batches.create(model="gemini-2.5-flash", src=["x"])
    assert info.value.google_status == "INVALID_ARGUMENT" and info.value.message == "batch.inputConfig is bad"


@respx.mock
def test_read_timeouts_on_get_are_retried_then_surface(client: GenAIBatchClient, sleeps: list[float]) -> None:
    route = respx.get(GET_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError):
        client.batches.get(name="abc")
    assert route.call_count == 4


@respx.mock
def test_non_json_error_body(client: GenAIBatchClient) -> None:
    respx.get(GET_URL).mock(return_value=httpx.Response(403, text="<html>denied</html>"))
    with pytest.raises(Exception) as info:
        client.batches.get(name="abc")
    assert "403" in str(info.value) and "denied" in str(info.value)


@respx.mock
def test_headers_carry_key_and_user_agent_but_errors_never_do(client: GenAIBatchClient) -> None:
    route = respx.get(GET_URL).mock(return_value=error(401, "UNAUTHENTICATED", "API key not valid"))
    with pytest.raises(Exception) as info:
        client.batches.get(name="abc")
    sent = route.calls.last.request
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.headers["user-agent"].startswith("airflow-provider-genai-batch/")
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert KEY not in repr(client) and KEY not in repr(client.settings)


@respx.mock
async def test_async_client_shares_the_policy(sleeps: list[float]) -> None:
    route = respx.get(GET_URL).mock(
        side_effect=[error(429, "RESOURCE_EXHAUSTED", **{"Retry-After": "1"}), httpx.Response(200, json=JOB)]
    )
    async with AsyncGenAIBatchClient(ClientSettings(backend="gemini", api_key=KEY, base_url=BASE)) as client:
        job = await client.batches.get(name="abc")
    assert job.name == "batches/abc" and route.call_count == 2 and sleeps == [1.0]


@respx.mock
async def test_async_create_not_resent_after_5xx(sleeps: list[float]) -> None:
    route = respx.post(CREATE_URL).mock(return_value=error(502, "UNAVAILABLE"))
    async with AsyncGenAIBatchClient(ClientSettings(backend="gemini", api_key=KEY, base_url=BASE)) as client:
        with pytest.raises(ServiceUnavailableError):
            await client.batches.create(model="gemini-2.5-flash", src=["x"])
    assert route.call_count == 1


@respx.mock
def test_list_follows_pages(client: GenAIBatchClient) -> None:
    respx.get(f"{BASE}/v1beta/batches", params={"pageSize": "2"}).mock(
        side_effect=[
            httpx.Response(200, json={"operations": [JOB, JOB], "nextPageToken": "t2"}),
            httpx.Response(200, json={"operations": [JOB]}),
        ]
    )
    assert len(list(client.batches.list(page_size=2))) == 3


@respx.mock
def test_rate_limit_beyond_bound_surfaces_with_retry_after(client: GenAIBatchClient, sleeps: list[float]) -> None:
    respx.get(GET_URL).mock(return_value=error(429, "RESOURCE_EXHAUSTED", **{"Retry-After": "3600"}))
    with pytest.raises(RateLimitError) as info:
        client.batches.get(name="abc")
    assert info.value.retry_after == 3600 and not sleeps


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, initial_delay=1.0, max_delay=8.0)
    highs = [policy.delay(a, None, rand=lambda: 1.0) for a in range(6)]
    lows = [policy.delay(a, None, rand=lambda: 0.0) for a in range(6)]
    assert highs == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert lows == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_retry_rules() -> None:
    policy = RetryPolicy(max_retries=2)
    get = ApiRequest("GET", "http://h/x")
    create = ApiRequest("POST", "http://h/x", idempotent=False)
    assert policy.retry_status(get, 503, 0) and not policy.retry_status(get, 503, 2)
    assert not policy.retry_status(get, 400, 0)
    assert policy.retry_status(create, 429, 0) and not policy.retry_status(create, 500, 0)
    assert policy.retry_exception(create, httpx.ConnectError("x"), 0)
    assert not policy.retry_exception(create, httpx.RemoteProtocolError("x"), 0)
    assert policy.retry_exception(get, httpx.RemoteProtocolError("x"), 0)


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@respx.mock
async def test_async_requests_beyond_the_pool_wait_outside_httpx() -> None:
    """At most ``max_connections`` requests are inside httpx at once; the rest wait in our FIFO gate (httpcore's
    own queue costs quadratic CPU with thousands of waiting triggers)."""
    import asyncio

    in_flight = 0
    most = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json=JOB)

    respx.get(GET_URL).mock(side_effect=slow)
    settings = ClientSettings(backend="gemini", api_key=KEY, base_url=BASE, max_connections=3)
    async with AsyncGenAIBatchClient(settings) as client:
        jobs = await asyncio.gather(*(client.batches.get(name="abc") for _ in range(30)))
    assert len(jobs) == 30
    assert most == 3
