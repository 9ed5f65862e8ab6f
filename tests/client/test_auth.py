"""Auth providers against a real local OAuth token endpoint, with real google-auth credentials.

A service-account key is generated here; google-auth signs real JWT assertions with it and sends them to a token
server on 127.0.0.1 (below), which checks the grant, counts hits, can delay and can refuse.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import TransportError
from google.oauth2 import service_account

from airflow_provider_genai_batch.client.auth import (
    ApiKeyAuth,
    AuthProvider,
    GoogleCredentialsAuth,
    StaticTokenAuth,
    build_auth_provider,
)
from airflow_provider_genai_batch.client.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    InvalidInputError,
    ServiceUnavailableError,
)
from airflow_provider_genai_batch.client.google_auth_transport import HttpxRequest
from airflow_provider_genai_batch.client.settings import CLOUD_PLATFORM_SCOPE, ClientSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
SA_EMAIL = "batch-runner@test-project.iam.gserviceaccount.com"
TARGET_SA = "target@test-project.iam.gserviceaccount.com"
DELEGATE_SA = "delegate@test-project.iam.gserviceaccount.com"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
API_KEY = "AIza-test-api-key-0123456789"
STATIC_TOKEN = "ya29.static-token-from-caller"


# --------------------------------------------------------------------------------------------- token server
@dataclass
class TokenServer:
    """State of the local token endpoint (``POST /token``) and IAM ``generateAccessToken`` endpoint."""

    url: str = ""
    expires_in: int = 3600
    delay: float = 0.0
    error: tuple[int, dict[str, Any]] | None = None
    token_hits: int = 0
    iam_hits: int = 0
    in_flight: int = 0
    assertions: list[dict[str, Any]] = field(default_factory=list)
    raw_assertions: list[str] = field(default_factory=list)
    iam_requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        # A request a previous test abandoned (a client-side timeout against ``delay``) is still being answered:
        # wait for it, so that it cannot record its token or assertion into the next test's state.
        deadline = time.monotonic() + 10.0
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        with self.lock:
            self.expires_in, self.delay, self.error = 3600, 0.0, None
            self.token_hits = self.iam_hits = 0
            self.assertions.clear()
            self.raw_assertions.clear()
            self.iam_requests.clear()

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def iam_endpoint(self, target: str) -> str:
        return f"{self.url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"


def _jwt_payload(assertion: str) -> dict[str, Any]:
    payload = assertion.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def _handler_for(state: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            # The client may have given up first (a test of its timeout, or a loaded machine): nothing to tell it.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.in_flight += 1
            try:
                time.sleep(state.delay)
                if self.path == "/token":
                    self._token(body)
                elif self.path.endswith(":generateAccessToken"):
                    self._generate_access_token(body)
                else:
                    self._answer(404, {"error": {"code": 404, "message": "no such route", "status": "NOT_FOUND"}})
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _token(self, body: bytes) -> None:
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            with state.lock:
                state.token_hits += 1
                number = state.token_hits
            if form.get("grant_type") != JWT_BEARER:
                self._answer(400, {"error": "unsupported_grant_type"})
                return
            claims = _jwt_payload(form["assertion"])
            with state.lock:
                state.raw_assertions.append(form["assertion"])
                state.assertions.append(claims)
            if claims.get("iss") != SA_EMAIL or not (claims.get("scope") or claims.get("aud")):
                self._answer(400, {"error": "invalid_grant", "error_description": "bad iss or no scope"})
                return
            if state.error is not None:
                self._answer(*state.error)
                return
            self._answer(200, {"access_token": f"tok-{number}", "expires_in": state.expires_in, "token_type": "Bearer"})

        def _generate_access_token(self, body: bytes) -> None:
            with state.lock:
                state.iam_hits += 1
                state.iam_requests.append((self.headers.get("Authorization", ""), json.loads(body)))
            if not self.headers.get("Authorization", "").startswith("Bearer tok-"):
                self._answer(401, {"error": {"code": 401, "message": "no source token", "status": "UNAUTHENTICATED"}})
                return
            if state.error is not None:
                self._answer(*state.error)
                return
            expire = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._answer(200, {"accessToken": "imp-tok", "expireTime": expire})

    return Handler


@pytest.fixture(scope="module")
def token_server_module() -> Iterator[TokenServer]:
    state = TokenServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(token_server_module: TokenServer) -> TokenServer:
    token_server_module.reset()
    return token_server_module


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def key_info(server: TokenServer, private_key_pem: str) -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "0123456789abcdef",
        "private_key": private_key_pem,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": server.token_uri,
    }


@pytest.fixture
def key_json(key_info: dict[str, str]) -> str:
    return json.dumps(key_info)


@pytest.fixture
def key_path(tmp_path: Path, key_json: str) -> Path:
    path = tmp_path / "sa.json"
    path.write_text(key_json)
    return path


def vertex(**fields: Any) -> ClientSettings:
    return ClientSettings(backend="vertex", project="test-project", **fields)


def sa_credentials(info: dict[str, str]) -> Any:
    """A google-auth service-account credentials object, built by the caller (not by our code)."""
    return service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]


Build = Callable[..., AuthProvider]


@pytest.fixture
def build() -> Iterator[Build]:
    """``build_auth_provider``, closing every provider it built when the test ends."""
    built: list[AuthProvider] = []

    def _build(settings: ClientSettings, **kwargs: Any) -> AuthProvider:
        built.append(build_auth_provider(settings, **kwargs))
        return built[-1]

    yield _build
    for provider in built:
        provider.close()


def as_google(provider: AuthProvider) -> GoogleCredentialsAuth:
    assert isinstance(provider, GoogleCredentialsAuth)
    return provider


@pytest.fixture
def sa_auth(build: Build, key_json: str) -> GoogleCredentialsAuth:
    return as_google(build(vertex(service_account_key_json=key_json)))


# --------------------------------------------------------------------------------------------- service account
def test_key_json_gives_bearer_token_then_cached(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    assert sa_auth.headers() == {"Authorization": "Bearer tok-1"}
    assert sa_auth.headers() == {"Authorization": "Bearer tok-1"}
    assert server.token_hits == 1
    assert server.assertions[0]["scope"] == CLOUD_PLATFORM_SCOPE


def test_key_path_gives_bearer_token(server: TokenServer, build: Build, key_path: Path) -> None:
    assert build(vertex(service_account_key_path=str(key_path))).headers() == {"Authorization": "Bearer tok-1"}
    assert server.token_hits == 1


async def test_aheaders_caches_too(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    assert await sa_auth.aheaders() == {"Authorization": "Bearer tok-1"}
    assert await sa_auth.aheaders() == {"Authorization": "Bearer tok-1"}
    assert sa_auth.headers() == {"Authorization": "Bearer tok-1"}
    assert server.token_hits == 1


def test_token_expiring_within_five_minutes_is_refreshed(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    server.expires_in = 60  # less than the 5-minute margin: every call refreshes
    assert sa_auth.headers() == {"Authorization": "Bearer tok-1"}
    assert sa_auth.headers() == {"Authorization": "Bearer tok-2"}
    assert server.token_hits == 2


def test_refresh_follows_the_credentials_expiry(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    assert sa_auth.headers() == {"Authorization": "Bearer tok-1"}
    now = datetime.now(UTC).replace(tzinfo=None)
    sa_auth.credentials.expiry = now + timedelta(minutes=6)  # google-auth would still call this fresh
    assert sa_auth.headers() == {"Authorization": "Bearer tok-1"}
    sa_auth.credentials.expiry = now + timedelta(minutes=4)  # and this one too (its margin is smaller)
    assert sa_auth.headers() == {"Authorization": "Bearer tok-2"}
    assert server.token_hits == 2


def test_close_releases_the_client_and_the_provider_stays_usable(
    server: TokenServer, sa_auth: GoogleCredentialsAuth
) -> None:
    server.expires_in = 60
    assert sa_auth.headers() == {"Authorization": "Bearer tok-1"}
    sa_auth.close()
    sa_auth.close()
    assert sa_auth.headers() == {"Authorization": "Bearer tok-2"}


def test_explicit_credentials_object_gets_the_scopes(
    server: TokenServer, build: Build, key_info: dict[str, str]
) -> None:
    credentials = sa_credentials(key_info)  # no scopes yet
    auth = as_google(build(vertex(credentials=credentials, access_token="ignored: credentials come first")))
    assert auth.headers() == {"Authorization": "Bearer tok-1"}
    assert server.assertions[0]["scope"] == CLOUD_PLATFORM_SCOPE


# --------------------------------------------------------------------------------------------- concurrency
async def test_200_concurrent_aheaders_cause_one_refresh(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    server.delay = 0.2
    results = await asyncio.gather(*(sa_auth.aheaders() for _ in range(200)))
    assert {r["Authorization"] for r in results} == {"Bearer tok-1"}
    assert server.token_hits == 1


def test_20_threads_cause_one_refresh(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    server.delay = 0.2
    barrier = threading.Barrier(20)
    results: list[dict[str, str]] = []

    def call() -> None:
        barrier.wait()
        results.append(sa_auth.headers())

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [{"Authorization": "Bearer tok-1"}] * 20
    assert server.token_hits == 1


async def test_async_callers_wait_for_a_sync_refresh_in_flight(
    server: TokenServer, sa_auth: GoogleCredentialsAuth
) -> None:
    server.delay = 0.3
    sync_result: list[dict[str, str]] = []
    worker = threading.Thread(target=lambda: sync_result.append(sa_auth.headers()))
    worker.start()
    while server.in_flight == 0:
        await asyncio.sleep(0.005)
    results = await asyncio.gather(*(sa_auth.aheaders() for _ in range(50)))
    await asyncio.to_thread(worker.join)
    assert sync_result == [{"Authorization": "Bearer tok-1"}]
    assert {r["Authorization"] for r in results} == {"Bearer tok-1"}
    assert server.token_hits == 1


async def test_refresh_does_not_block_the_event_loop(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    server.delay = 0.3
    seen_in_flight: list[int] = []

    async def ticker() -> None:
        while True:
            seen_in_flight.append(server.in_flight)
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    try:
        assert await sa_auth.aheaders() == {"Authorization": "Bearer tok-1"}
    finally:
        task.cancel()
    # the loop kept ticking while the token endpoint held the request
    assert seen_in_flight.count(1) >= 5


async def test_waiting_coroutines_do_not_occupy_worker_threads(
    server: TokenServer, sa_auth: GoogleCredentialsAuth
) -> None:
    """A refresh takes one thread of the loop's default executor; the other stays free for other work."""
    server.delay = 0.3
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=2))
    callers = asyncio.gather(*(sa_auth.aheaders() for _ in range(50)))
    while server.in_flight == 0:
        await asyncio.sleep(0.005)
    assert await asyncio.to_thread(lambda: server.in_flight) == 1  # ran while the refresh was still in flight
    assert {r["Authorization"] for r in await callers} == {"Bearer tok-1"}


def test_one_provider_serves_several_event_loops(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    server.delay = 0.2
    results: list[set[str]] = []

    async def burst() -> set[str]:
        return {r["Authorization"] for r in await asyncio.gather(*(sa_auth.aheaders() for _ in range(30)))}

    threads = [threading.Thread(target=lambda: results.append(asyncio.run(burst()))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [{"Bearer tok-1"}] * 3
    assert server.token_hits == 1
    server.expires_in = 60
    sa_auth.credentials.expiry = datetime.now(UTC).replace(tzinfo=None)  # a later loop, contended again
    assert asyncio.run(burst()) == {"Bearer tok-2"}


# --------------------------------------------------------------------------------------------- failures
async def test_refused_refresh_raises_our_error_without_secrets(
    server: TokenServer, sa_auth: GoogleCredentialsAuth, private_key_pem: str
) -> None:
    server.error = (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    server.delay = 0.1
    outcomes = await asyncio.gather(*(sa_auth.aheaders() for _ in range(30)), return_exceptions=True)
    assert server.token_hits == 1  # the waiters share the one failure
    assert all(isinstance(exc, AuthenticationError) for exc in outcomes)
    exc = outcomes[0]
    assert isinstance(exc, AuthenticationError)
    assert (exc.status_code, exc.google_status) == (401, "UNAUTHENTICATED")
    assert "invalid_grant: Invalid JWT Signature." in exc.message
    assertion = server.raw_assertions[0]
    for text in (str(exc), repr(exc), str(exc.__cause__), str(exc.__context__)):
        assert assertion not in text
        assert assertion.split(".")[2] not in text
        assert "PRIVATE KEY" not in text
    assert exc.__cause__ is None and exc.__context__ is None  # google-auth's error is not chained at all

    with pytest.raises(AuthenticationError):
        sa_auth.headers()  # a new call tries again
    assert server.token_hits == 2
    server.error = None
    assert sa_auth.headers() == {"Authorization": "Bearer tok-3"}  # and recovers


def test_threads_share_a_failed_refresh(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    server.error = (400, {"error": "invalid_grant", "error_description": "account disabled"})
    server.delay = 0.2
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            sa_auth.headers()
        except AuthenticationError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 10
    assert server.token_hits == 1


def test_unavailable_token_endpoint_is_transient(server: TokenServer, sa_auth: GoogleCredentialsAuth) -> None:
    server.error = (503, {"error": "temporarily_unavailable"})
    with pytest.raises(ServiceUnavailableError) as caught:
        sa_auth.headers()  # google-auth retries 5xx itself (3 attempts, ~3 s of backoff)
    assert caught.value.status_code == 503
    assert server.token_hits == 3


def test_unreachable_token_endpoint_is_a_connection_error(build: Build, key_info: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key_info["token_uri"] = f"http://127.0.0.1:{port}/token"
    auth = build(vertex(service_account_key_json=json.dumps(key_info)))
    with pytest.raises(APIConnectionError) as caught:
        auth.headers()
    assert caught.value.request_sent is False
    assert "ConnectError" in str(caught.value)


def test_token_request_honours_the_timeout(server: TokenServer, build: Build, key_json: str) -> None:
    server.delay = 1.0
    with pytest.raises(APITimeoutError):
        build(vertex(service_account_key_json=key_json, timeout=0.2)).headers()


def test_transport_maps_errors_and_rejects_requests_only_options(server: TokenServer) -> None:
    request = HttpxRequest(timeout=5.0)
    try:
        response = request(f"{server.url}/nowhere", method="POST", body=b"{}")
        assert response.status == 404
        assert response.headers["content-type"] == "application/json"
        assert json.loads(response.data)["error"]["status"] == "NOT_FOUND"
        server.delay = 0.5
        with pytest.raises(TransportError) as caught:
            request(f"{server.url}/nowhere?key=secret", method="POST", timeout=0.1)
        assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
        assert "secret" not in str(caught.value)
        with pytest.raises(TransportError, match="verify"):
            request(f"{server.url}/nowhere", verify="/etc/ssl/ca.pem")
    finally:
        request.close()


# ----------------------------------------------------------------------------- quota, impersonation, ADC
def test_quota_project_header(server: TokenServer, build: Build, key_info: dict[str, str]) -> None:
    # Tokens are numbered by the server; google-auth may retry a token request that failed in transit on a loaded
    # machine, so only their form is checked here (the numbering is tested by the refresh tests).
    from_settings = build(vertex(service_account_key_json=json.dumps(key_info), quota_project="bill")).headers()
    assert from_settings.pop("Authorization").startswith("Bearer tok-")
    assert from_settings == {"x-goog-user-project": "bill"}
    credentials = sa_credentials(key_info).with_quota_project("bill-creds")
    from_credentials = build(vertex(credentials=credentials)).headers()
    assert from_credentials.pop("Authorization").startswith("Bearer tok-")
    assert from_credentials == {"x-goog-user-project": "bill-creds"}
    overridden = build(vertex(credentials=credentials, quota_project="bill"))
    assert overridden.headers()["x-goog-user-project"] == "bill"
    static = build(vertex(access_token=STATIC_TOKEN, quota_project="bill"))
    assert static.headers() == {"Authorization": f"Bearer {STATIC_TOKEN}", "x-goog-user-project": "bill"}


def test_impersonation_chain(server: TokenServer, build: Build, key_json: str) -> None:
    settings = vertex(service_account_key_json=key_json, impersonation_chain=(DELEGATE_SA, TARGET_SA))
    auth = as_google(build(settings, iam_endpoint_override=server.iam_endpoint(TARGET_SA)))
    assert auth.headers() == {"Authorization": "Bearer imp-tok"}
    assert auth.headers() == {"Authorization": "Bearer imp-tok"}
    # One impersonation for both calls. google-auth itself retries a token request that failed in transit, which
    # a loaded machine can cause, so the source account's token endpoint may be hit twice within that refresh.
    assert server.iam_hits == 1
    assert server.token_hits in (1, 2)
    assert server.assertions[0]["scope"] == IAM_SCOPE  # the source account asks for the IAM scope
    authorization, body = server.iam_requests[0]
    assert authorization == "Bearer tok-1"
    assert body["delegates"] == [f"projects/-/serviceAccounts/{DELEGATE_SA}"]
    assert body["scope"] == [CLOUD_PLATFORM_SCOPE]
    assert (
        repr(auth)
        == f"GoogleCredentialsAuth(credentials=impersonated_credentials.Credentials, service_account={TARGET_SA})"
    )


def test_impersonation_refused_keeps_the_iam_message(server: TokenServer, build: Build, key_json: str) -> None:
    settings = vertex(service_account_key_json=key_json, impersonation_chain=(TARGET_SA,))
    auth = build(settings, iam_endpoint_override=server.iam_endpoint(TARGET_SA))
    server.error = (
        403,
        {"error": {"code": 403, "message": "Permission denied on target", "status": "PERMISSION_DENIED"}},
    )
    with pytest.raises(AuthenticationError, match="Permission denied on target") as caught:
        auth.headers()
    assert "tok-1" not in str(caught.value)


def test_application_default_credentials(
    server: TokenServer, build: Build, key_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_path))
    expected_repr = f"GoogleCredentialsAuth(credentials=service_account.Credentials, service_account={SA_EMAIL})"
    for settings in (vertex(use_application_default_credentials=True), vertex()):  # asked for, or the fallback
        auth = as_google(build(settings))
        assert repr(auth) == expected_repr
        assert auth.headers()["Authorization"].startswith("Bearer tok-")
    # One refresh per provider; google-auth retries a token request whose connection broke (seen on a loaded
    # machine as a BrokenPipe in the test server), which may add a hit.
    assert 2 <= server.token_hits <= 3
    assert server.assertions[0]["scope"] == CLOUD_PLATFORM_SCOPE


def test_missing_application_default_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(InvalidInputError) as asked:
        build_auth_provider(vertex(use_application_default_credentials=True))
    assert asked.value.field == "use_application_default_credentials"
    with pytest.raises(InvalidInputError) as fallback:
        build_auth_provider(vertex())
    assert fallback.value.field == "credentials"


# --------------------------------------------------------------------------------------------- keys and tokens
def test_api_key_and_static_token() -> None:
    gemini = build_auth_provider(ClientSettings(backend="gemini", api_key=API_KEY))
    assert isinstance(gemini, ApiKeyAuth)
    assert gemini.headers() == {"x-goog-api-key": API_KEY}
    express = build_auth_provider(ClientSettings(backend="vertex", api_key=API_KEY))
    assert isinstance(express, ApiKeyAuth)
    assert express.headers() == {"x-goog-api-key": API_KEY}
    token = build_auth_provider(ClientSettings(backend="gemini", access_token=STATIC_TOKEN))
    assert isinstance(token, StaticTokenAuth)
    assert token.headers() == {"Authorization": f"Bearer {STATIC_TOKEN}"}
    vertex_token = build_auth_provider(vertex(access_token=STATIC_TOKEN, service_account_key_path="/not/read"))
    assert isinstance(vertex_token, StaticTokenAuth)  # the access token comes before a key


async def test_api_key_and_static_token_async() -> None:
    assert await ApiKeyAuth(API_KEY).aheaders() == {"x-goog-api-key": API_KEY}
    assert await StaticTokenAuth(STATIC_TOKEN).aheaders() == {"Authorization": f"Bearer {STATIC_TOKEN}"}


def test_importing_auth_and_using_keys_does_not_import_google_auth() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_genai_batch.client.auth as auth\n"
        "print('google.auth' in sys.modules)\n"
        "from airflow_provider_genai_batch.client.settings import ClientSettings\n"
        "auth.build_auth_provider(ClientSettings(backend='gemini', api_key='k')).headers()\n"
        "auth.build_auth_provider(ClientSettings(backend='vertex', project='p', access_token='t')).headers()\n"
        "print('google.auth' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"backend": "gemini", "api_key": API_KEY, "impersonation_chain": (TARGET_SA,)}, "impersonation_chain"),
        (
            {"backend": "vertex", "project": "p", "access_token": STATIC_TOKEN, "impersonation_chain": (TARGET_SA,)},
            "impersonation_chain",
        ),
        ({"backend": "vertex", "api_key": API_KEY, "impersonation_chain": (TARGET_SA,)}, "impersonation_chain"),
        ({"backend": "vertex", "api_key": API_KEY, "service_account_key_path": "/k.json"}, "service_account_key_path"),
        (
            {"backend": "gemini", "api_key": API_KEY, "use_application_default_credentials": True},
            "use_application_default_credentials",
        ),
        ({"backend": "vertex", "project": "p", "api_key": API_KEY}, "api_key"),
        (
            {
                "backend": "vertex",
                "project": "p",
                "service_account_key_json": "{}",
                "service_account_key_path": "/k.json",
            },
            "service_account_key_path",
        ),
        (
            {"backend": "vertex", "project": "p", "service_account_key_path": "/no/such/key.json"},
            "service_account_key_path",
        ),
        ({"backend": "vertex", "project": "p", "credentials": "not credentials"}, "credentials"),
        ({"backend": "vertex", "project": "p", "access_token": STATIC_TOKEN, "impersonation_chain": ()}, None),
    ],
)
def test_invalid_combinations_name_the_field(fields: dict[str, Any], field_name: str | None) -> None:
    settings = ClientSettings(**fields)
    if field_name is None:
        assert isinstance(build_auth_provider(settings), StaticTokenAuth)
        return
    with pytest.raises(InvalidInputError) as caught:
        build_auth_provider(settings)
    assert caught.value.field == field_name
    assert API_KEY not in str(caught.value) and STATIC_TOKEN not in str(caught.value)


def test_iam_endpoint_override_needs_a_chain(key_json: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_auth_provider(vertex(service_account_key_json=key_json), iam_endpoint_override="http://127.0.0.1:1/x")
    assert caught.value.field == "iam_endpoint_override"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda info: json.dumps(info)[:-20],  # truncated JSON
        lambda info: json.dumps({k: v for k, v in info.items() if k != "client_email"}),
        lambda info: json.dumps({**info, "private_key": info["private_key"].replace("A", "B", 40)}),
        lambda info: json.dumps({**info, "type": "authorized_user"}),
        lambda info: json.dumps([info]),
    ],
    ids=["truncated", "no-client-email", "broken-private-key", "not-a-service-account", "not-an-object"],
)
def test_malformed_key_is_rejected_without_quoting_it(key_info: dict[str, str], mangle: Any, tmp_path: Path) -> None:
    text = mangle(key_info)
    path = tmp_path / "key.json"
    path.write_text(text)
    for settings, field_name in (
        (vertex(service_account_key_json=text), "service_account_key_json"),
        (vertex(service_account_key_path=str(path)), "service_account_key_path"),
    ):
        with pytest.raises(InvalidInputError) as caught:
            build_auth_provider(settings)
        assert caught.value.field == field_name
        message = str(caught.value)
        assert "PRIVATE KEY" not in message
        assert key_info["private_key"].splitlines()[1] not in message


def test_reprs_never_show_secrets(server: TokenServer, build: Build, key_json: str, private_key_pem: str) -> None:
    api_key = build_auth_provider(ClientSettings(backend="gemini", api_key=API_KEY))
    static = build(vertex(access_token=STATIC_TOKEN))
    google = build(vertex(service_account_key_json=key_json))
    google.headers()
    assert (repr(api_key), repr(static)) == ("ApiKeyAuth()", "StaticTokenAuth()")
    assert repr(google) == f"GoogleCredentialsAuth(credentials=service_account.Credentials, service_account={SA_EMAIL})"
    for provider in (api_key, static, google):
        for text in (repr(provider), str(provider)):
            for secret in (API_KEY, STATIC_TOKEN, "tok-1", private_key_pem.splitlines()[1]):
                assert secret not in text
