"""The plugin's app served in-process (httpx through Starlette's TestClient) with a real auth manager, a real
metadata DB filled by real ``dag.test()`` runs, and the emulator behind the connections.

Every response any UI test receives is recorded; ``test_secret_scan`` checks them all for secrets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from airflow_provider_genai_batch.emulator import EmulatorHandle

#: The static token of the ``genai_batch_vertex`` test connection (``tests/conftest.py``).
VERTEX_TOKEN = "emulator-token"
AUTH_MANAGER = "tests.ui.auth_manager.PerDagAuthManager"
#: Every (url, status, headers, body) the UI tests received, scanned for secrets at the end.
RESPONSES: list[tuple[str, int, str, str]] = []


def _forget_auth_manager(api_app: Any) -> None:
    """Drop the api-server's cached auth manager (Airflow 3.2+ keeps it in ``_AuthManagerState``, 3.1 in a global)."""
    state = getattr(api_app, "_AuthManagerState", None)
    if state is not None:
        state.instance = None
    else:
        api_app.auth_manager = None


@pytest.fixture(scope="session")
def auth_manager(airflow_db: None) -> Iterator[Any]:
    """``tests.ui.auth_manager.PerDagAuthManager`` as the process's auth manager (JWTs signed with a test key)."""
    from airflow.api_fastapi import app as api_app
    from airflow.configuration import conf

    saved = {key: conf.get(section, key, fallback=None) for section, key in (("core", "auth_manager"),)}
    conf.set("core", "auth_manager", AUTH_MANAGER)
    conf.set("api_auth", "jwt_secret", "ui-tests-jwt-signing-key-not-a-provider-secret-" + "0" * 32)
    _forget_auth_manager(api_app)
    manager = api_app.create_auth_manager()
    yield manager
    _forget_auth_manager(api_app)
    if saved["auth_manager"] is not None:
        conf.set("core", "auth_manager", saved["auth_manager"])


@pytest.fixture
def token(auth_manager: Any) -> Any:
    """``token(username, role)``: a signed JWT for that user, as the api-server issues them."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    def make(username: str, role: str | None) -> str:
        return str(auth_manager.generate_jwt(SimpleAuthManagerUser(username=username, role=role)))

    return make


def _record(response: httpx.Response) -> None:
    response.read()
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    RESPONSES.append((str(response.url), response.status_code, headers, response.text))


@pytest.fixture
def ui(auth_manager: Any, emulator: EmulatorHandle) -> Iterator[TestClient]:
    """The plugin's app (a fresh job cache), every response recorded for the secret scan."""
    from airflow_provider_genai_batch.ui.app import create_app
    from airflow_provider_genai_batch.ui.service import JobReader

    app = create_app(JobReader(ttl=30.0))
    with TestClient(app, base_url="http://airflow") as client:
        client.event_hooks["response"] = [_record]
        first = len(RESPONSES)
        yield client
    _scan(RESPONSES[first:], secrets=(emulator.api_key, VERTEX_TOKEN))


def _scan(responses: list[tuple[str, int, str, str]], secrets: tuple[str, ...]) -> None:
    """No secret in any status line, header or body the plugin sent (the connection's key, a token)."""
    assert responses, "the test made no request to scan"
    for url, status, headers, body in responses:
        for secret in secrets:
            assert secret not in headers and secret not in body, f"secret leaked in {url} ({status})"
