"""The Files API upload start carries ``X-Goog-Upload-File-Name`` as google-genai 3.3.0 sends it: the base name of
the local file (``_extra_utils.prepare_resumable_upload``), and nothing for bytes or a stream.

Differential: the real SDK and our client upload the same file to one loopback server that records each request's
headers; the upload headers of their start requests must be equal.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
from airflow_provider_genai_batch.client.creation import create_plan, prepare_create
from airflow_provider_genai_batch.client.wire import gemini
from airflow_provider_genai_batch.client.wire.common import ApiRequest

LINE = b'{"key": "k1", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n'


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class UploadServer:
    """Answers a Files API resumable upload (start, then one final chunk) and records every request."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                server.requests.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}))
                headers: dict[str, str] = {}
                body: dict[str, Any] = {}
                if self.path.startswith("/upload/"):
                    headers = {"X-Goog-Upload-URL": f"{server.base_url}/session/1", "X-Goog-Upload-Status": "active"}
                else:
                    headers = {"X-Goog-Upload-Status": "final"}
                    body = {"file": {"name": "files/up1", "mimeType": "jsonl", "sizeBytes": str(length)}}
                data = json.dumps(body).encode()
                self.send_response(200)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_headers(self) -> dict[str, str]:
        """The ``x-goog-upload-*`` headers of the (one) upload start request."""
        (start,) = [r for r in self.requests if r.path.startswith("/upload/")]
        return {k: v for k, v in start.headers.items() if k.startswith("x-goog-upload-")}

    def __enter__(self) -> UploadServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def server() -> Iterator[UploadServer]:
    with UploadServer() as running:
        yield running


def sdk_start_headers(server: UploadServer, file: Any) -> dict[str, str]:
    from google import genai

    client = genai.Client(api_key="k", http_options={"base_url": server.base_url, "api_version": "v1beta"})
    server.requests.clear()
    client.files.upload(file=file, config={"mime_type": "jsonl"})
    return server.start_headers()


def our_start_headers(server: UploadServer, file: Any) -> dict[str, str]:
    settings = ClientSettings(backend="gemini", api_key="k", base_url=server.base_url, max_retries=0)
    server.requests.clear()
    with GenAIBatchClient(settings=settings) as client:
        client.files.upload(file, mime_type="jsonl")
    return server.start_headers()


@pytest.mark.parametrize("name", ["requests.jsonl", "my batch (v2).jsonl", "lines.json"])
def test_upload_from_a_path_sends_the_file_name_header_as_the_sdk_does(
    server: UploadServer, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(LINE)
    theirs = sdk_start_headers(server, str(path))
    assert theirs["x-goog-upload-file-name"] == name
    assert our_start_headers(server, str(path)) == theirs
    assert our_start_headers(server, path) == theirs  # a Path as well as a str


def test_upload_from_bytes_or_a_stream_sends_no_file_name_like_the_sdk(server: UploadServer) -> None:
    theirs = sdk_start_headers(server, io.BytesIO(LINE))
    assert "x-goog-upload-file-name" not in theirs
    assert our_start_headers(server, LINE) == theirs


def test_create_from_a_local_jsonl_names_the_users_file(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(LINE)
    settings = ClientSettings(backend="gemini", api_key="k", base_url="http://h")
    step = next(create_plan(settings, prepare_create(settings, model="gemini-2.5-flash", src=str(path), config=None)))
    assert isinstance(step, ApiRequest)
    assert step.headers["X-Goog-Upload-Command"] == "start"
    assert step.headers["X-Goog-Upload-File-Name"] == "prompts.jsonl"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/data/in.jsonl", "in.jsonl"),
        (Path("rel/dir/x.jsonl"), "x.jsonl"),
        (None, None),
        ("/data/", None),  # no base name
        ("/data/caf\u00e9.jsonl", None),  # not ASCII: an HTTP/1.1 header value cannot carry it as the SDK sends it
        ("/data/a\nX-Injected: 1", None),  # a newline would split the header
        ("/data/tab\there.jsonl", None),
    ],
)
def test_upload_file_name_is_the_base_name_when_a_header_can_carry_it(path: Any, expected: str | None) -> None:
    assert gemini.upload_file_name(path) == expected
    settings = ClientSettings(backend="gemini", api_key="k", base_url="http://h")
    request = gemini.build_upload_start(settings, 3, "jsonl", None, gemini.upload_file_name(path))
    assert request.headers.get("X-Goog-Upload-File-Name") == expected
