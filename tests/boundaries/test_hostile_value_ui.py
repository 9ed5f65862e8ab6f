"""Boundary: hostile values reaching the UI plugin.

A display name, a console URL, a job name or an error text can hold anything: a DAG author chooses display
names, an editor of a DAG writes its XComs through Airflow's REST API, a server relays text of its own. The
pages show each as text (run in Node with a DOM that keeps raw HTML raw, ``tests/ui/render.js``), link only to
the consoles the provider builds, read no job whose recorded name is not a job name, and show error text only
to users who may read that connection, after the one scrubber (``ui.errors.ui_error_text``). One unreachable
connection does not hold the page.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests/ui are parameters of the same name)

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

import airflow_provider_genai_batch.ui as ui_package
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.links.genai_batch import JOB_NAME_XCOM_KEY, JOB_URL_XCOM_KEY
from airflow_provider_genai_batch.links.urls import safe_console_url
from airflow_provider_genai_batch.ui.app import create_app
from airflow_provider_genai_batch.ui.service import JobReader
from tests.conftest import set_connection
from tests.ui.conftest import auth_manager, token, ui  # noqa: F401  (the UI tests' fixtures, used by name)
from tests.ui.support import headers_of, rest, run_create, write_xcom  # noqa: F401

STATIC = Path(ui_package.__file__).parent / "static"
RENDER = Path(__file__).parents[1] / "ui" / "render.js"
HOSTILE_NAME = "<img src=x onerror=alert(1)>\"'&"
HOSTILE_URL = "javascript:alert(document.cookie)"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
SERVER_TEXT = f"denied for /home/airflow/keys/sa.json {PEM} ya29.a0AfH6SMBsecret https://svc:hunter2pass@proxy/"


def render(page: str, answers: dict[str, Any], search: str = "") -> str:
    """The page's elements as HTML after its script ran on these API answers (Node, ``tests/ui/render.js``)."""
    out = subprocess.run(
        ["node", str(RENDER), page, str(STATIC)],
        input=json.dumps({"search": search, "answers": answers}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return "".join(json.loads(out.stdout).values())


def ti_path(dag_id: str, run_id: str) -> str:
    return "/api/ti?" + urlencode({"dag_id": dag_id, "run_id": run_id, "task_id": "create", "map_index": -1})


@pytest.mark.slow
def test_a_hostile_display_name_is_text_on_every_page(
    ui: TestClient, token: Any, run_dag: Any, emulator: EmulatorHandle
) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    run = run_create(run_dag, "ui_hostile_name", display_name=HOSTILE_NAME)
    for actor in ("admin", "viewer"):
        headers = headers_of(token, actor)
        ti = ui.get(ti_path("ui_hostile_name", run.run_id), headers=headers)
        jobs = ui.get("/api/jobs", params={"dag_id": "ui_hostile_name"}, headers=headers)
        assert ti.headers["content-type"] == "application/json" and jobs.headers["content-type"] == "application/json"
        assert ti.json()["display_name"].startswith(HOSTILE_NAME) and ti.json()["verified"] is True
        html = render("jobs", {"/api/jobs": jobs.json()}) + render(
            "ti", {"/api/ti": ti.json()}, search="?" + ti_path("ui_hostile_name", run.run_id).split("?")[1]
        )
        assert "<img" not in html and "onerror=alert(1)&gt;" in html
        assert "&lt;img src=x onerror=alert(1)&gt;&quot;'&amp;" in html


def test_a_hostile_console_url_in_xcom_never_becomes_a_link(
    ui: TestClient, rest: TestClient, token: Any, run_dag: Any, emulator: EmulatorHandle
) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    run = run_create(run_dag, "ui_team_a")
    editor = headers_of(token, "editor_a")
    write_xcom(rest, editor, "ui_team_a", run.run_id, JOB_URL_XCOM_KEY, HOSTILE_URL)
    write_xcom(
        rest, editor, "ui_team_a", run.run_id, "return_value", {**run.value("create"), "console_url": HOSTILE_URL}
    )
    for actor in ("admin", "viewer", "editor_a"):
        headers = headers_of(token, actor)
        ti = ui.get(ti_path("ui_team_a", run.run_id), headers=headers)
        jobs = ui.get("/api/jobs", headers=headers)
        assert "javascript" not in ti.text and "javascript" not in jobs.text
        assert ti.json()["console_url"] == "https://aistudio.google.com/batches"  # rebuilt from the job
    # the pages link only to the consoles, whatever the API answers
    row = {**ti.json(), "console_url": HOSTILE_URL}
    listed = {"jobs": [row], "facets": {"states": [], "dag_ids": [], "conn_ids": []}, "errors": []}
    html = render("jobs", {"/api/jobs": listed}) + render("ti", {"/api/ti": row})
    assert 'href="javascript' not in html and "javascript:alert(document.cookie)" in html  # shown as text


@pytest.mark.parametrize(
    "url",
    [
        HOSTILE_URL,
        "JavaScript:alert(1)",
        "http://console.cloud.google.com/vertex-ai",
        "https://console.cloud.google.com.evil.example/x",
        "https://user:pw@console.cloud.google.com/x",
        "https://console.cloud.google.com:8443/x",
        'https://aistudio.google.com/batches"onmouseover="alert(1)',
        "data:text/html,<script>alert(1)</script>",
        "//aistudio.google.com/batches",
        None,
        42,
    ],
)
def test_only_https_console_urls_are_links(url: Any) -> None:
    assert safe_console_url(url) is None


def test_a_recorded_job_name_that_is_not_a_job_name_is_never_read(
    ui: TestClient, rest: TestClient, token: Any, run_dag: Any, emulator: EmulatorHandle
) -> None:
    emulator.configure(job_seconds=0.3, pending_seconds=0.1)
    run = run_create(run_dag, "ui_team_a")
    write_xcom(rest, headers_of(token, "editor_a"), "ui_team_a", run.run_id, JOB_NAME_XCOM_KEY, "../../v1beta/files")
    reader = ui.app.state.service.reader  # type: ignore[attr-defined]
    row = ui.get(ti_path("ui_team_a", run.run_id), headers=headers_of(token, "admin")).json()
    assert row["verified"] is False and row["verify_reason"] == "the recorded job name is not a batch job name"
    assert reader.calls == 0


class _Refusing(BaseHTTPRequestHandler):
    """A Google-shaped 403 whose message relays text that must not reach the UI as it is."""

    def do_GET(self) -> None:
        body = json.dumps({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": SERVER_TEXT}}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_list_errors_reach_only_users_who_may_read_the_connection_and_are_scrubbed(
    ui: TestClient, token: Any, emulator: EmulatorHandle, refusing_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch,
        "genai_batch_refusing",
        {"conn_type": "genai_batch", "host": refusing_server, "password": "refusing-key-123456"},
    )
    admin = ui.get("/api/jobs", headers=headers_of(token, "admin")).json()
    [error] = [e for e in admin["errors"] if e.startswith("genai_batch_refusing: ")]
    assert "403" in error and "PERMISSION_DENIED" in error  # the status stays readable
    for secret in ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "ya29.a0AfH6SMBsecret", "hunter2pass", "refusing-key-123456"):
        assert secret not in error
    for actor in ("viewer", "editor_a", "no_role"):
        response = ui.get("/api/jobs", headers=headers_of(token, actor))
        assert response.status_code == 200
        assert "genai_batch_refusing" not in response.text and response.json()["errors"] == [], actor


class _Silent:
    """A TCP server that accepts connections and never answers (counts them)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_an_unreachable_connection_does_not_hold_the_page_and_is_not_read_again_at_once(
    auth_manager: Any, token: Any, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = _Silent()
    set_connection(
        monkeypatch, "genai_batch_silent", {"conn_type": "genai_batch", "host": silent.url, "password": "k" * 20}
    )
    app = create_app(JobReader(ttl=30.0, wait=0.2, load_timeout=1.0, error_ttl=600.0))
    admin = headers_of(token, "admin")
    try:
        with TestClient(app, base_url="http://airflow") as client:
            first = client.get("/api/jobs", headers=admin).json()
            assert [e for e in first["errors"] if e.startswith("genai_batch_silent: ReadPendingError")]
            for _ in range(200):  # until the background read has given up (load_timeout), then its error is kept
                errors = client.get("/api/jobs", headers=admin).json()["errors"]
                if any(e.startswith("genai_batch_silent: ReadTimeoutError") for e in errors):
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the background read never ended")
            opened = len(silent.accepted)
            for _ in range(3):
                again = client.get("/api/jobs", headers=admin).json()
                assert any(e.startswith("genai_batch_silent: ReadTimeoutError") for e in again["errors"])
            assert len(silent.accepted) == opened  # answered from the kept error, no new read
            assert "genai_batch_silent" not in client.get("/api/jobs", headers=headers_of(token, "viewer")).text
    finally:
        silent.close()
