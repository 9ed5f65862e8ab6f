"""A loopback HTTP recorder for the SDK parity tests: answers canned JSON and records every request.

It speaks just enough of each API for one create to finish: Gemini ``batchGenerateContent`` /
``asyncBatchEmbedContent``, Vertex ``generateContent`` and ``batchPredictionJobs``, and a GCS resumable upload
(start, then one ``PUT`` whose bytes are kept). Runs in a thread on 127.0.0.1, port chosen by the OS.

Example::

    with Recorder() as rec:
        client = genai.Client(api_key="k", http_options={"base_url": rec.base_url})
        ...
        body = rec.requests[-1].json()
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_BATCH = {"name": "batches/rec1", "metadata": {"name": "batches/rec1", "state": "BATCH_STATE_PENDING"}}
_VERTEX_JOB = {
    "name": "projects/p/locations/us-central1/batchPredictionJobs/1",
    "state": "JOB_STATE_PENDING",
    "model": "publishers/google/models/gemini-2.5-flash",
}
_GENERATE = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}}]}


@dataclass
class Recorded:
    """One request as received."""

    method: str
    path: str
    query: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Recorder:
    """The server; use as a context manager. ``requests`` holds what arrived, in order."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with recorder._lock:
                    recorder.requests.append(Recorded(self.command, parts.path, parts.query, body))
                status, headers, answer = recorder.answer(self.command, parts.path)
                data = json.dumps(answer).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, method: str, path: str) -> tuple[int, dict[str, str], Any]:
        """The canned answer for a request."""
        if path.startswith("/upload/storage/"):
            return 200, {"location": f"{self.base_url}/session/1"}, {}
        if path.startswith("/session/"):
            return 200, {}, {"name": "staged", "bucket": "b", "size": "1"}
        if path.endswith(":generateContent"):
            return 200, {}, _GENERATE
        if "batchPredictionJobs" in path:
            return 200, {}, _VERTEX_JOB
        return 200, {}, _BATCH

    def bodies(self, path_part: str) -> list[Any]:
        """JSON bodies of the requests whose path contains ``path_part``."""
        return [r.json() for r in self.requests if path_part in r.path and r.body]

    def uploads(self) -> list[bytes]:
        """Bytes received by GCS upload sessions."""
        return [r.body for r in self.requests if r.path.startswith("/session/") and r.body]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# --- drivers: the same request through the SDK and through our client, bodies read back from the recorder ---

INDEX_KEY = "genai_batch_index"  # another change stamps each request's position here (docs/SDK_PARITY.md)
PROJECT, LOCATION = "p", "us-central1"


def vertex_request_as_sent(ours: dict[str, Any], sdk_body: dict[str, Any]) -> dict[str, Any]:
    """Our staged ``request`` (stamp already stripped) without the ``labels`` object the stamp brought, when the
    user gave no labels (the SDK's body has none). The client no longer stamps ``request.labels`` (Google advises
    against a unique label value per call; docs/SDK_PARITY.md row 1), so for what it sends now this changes
    nothing: staged requests equal the SDK's as they are."""
    if ours.get("labels") == {} and "labels" not in sdk_body:
        return {k: v for k, v in ours.items() if k != "labels"}
    return ours


def strip_allowed(requests: list[Any]) -> list[Any]:
    """Remove exactly the allowed differences of docs/SDK_PARITY.md: the index stamp in ``metadata`` (and a
    ``metadata`` left empty by removing it), and on staged Vertex lines its copy in ``request.labels``."""
    out = []
    for item in requests:
        item = dict(item)
        request = item.get("request")
        labels = request.get("labels") if isinstance(request, dict) else None
        if isinstance(labels, dict) and INDEX_KEY in labels:
            request = {k: v for k, v in request.items() if k != "labels"}
            # Kept even when empty: whether the user gave ``labels`` is only known beside the SDK's body
            # (``vertex_request_as_sent``).
            request["labels"] = {k: v for k, v in labels.items() if k != INDEX_KEY}
            item["request"] = request
        metadata = item.get("metadata")
        if isinstance(metadata, dict) and INDEX_KEY in metadata:
            metadata = {k: v for k, v in metadata.items() if k != INDEX_KEY}
            if metadata:
                item["metadata"] = metadata
            else:
                del item["metadata"]
        out.append(item)
    return out


def sdk_gemini_requests(rec: Recorder, src: Any, *, embeddings: bool = False) -> Any:
    """The inlined requests google-genai sends for ``batches.create`` (or ``create_embeddings``)."""
    from google import genai

    client = genai.Client(api_key="k", http_options={"base_url": rec.base_url})
    src = copy.deepcopy(src)  # the SDK edits a response_schema dict in place (process_schema)
    rec.clear()
    if embeddings:
        client.batches.create_embeddings(model="gemini-embedding-001", src={"inlined_requests": src})
        body = rec.bodies(":asyncBatchEmbedContent")[-1]
    else:
        client.batches.create(model="gemini-2.5-flash", src=src)
        body = rec.bodies(":batchGenerateContent")[-1]
    return body["batch"]["inputConfig"]["requests"]["requests"]


def our_gemini_requests(rec: Recorder, src: Any, *, embeddings: bool = False) -> Any:
    """The inlined requests our client sends for the same call."""
    from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient

    settings = ClientSettings(backend="gemini", api_key="k", base_url=rec.base_url, max_retries=0)
    rec.clear()
    with GenAIBatchClient(settings=settings) as client:
        if embeddings:
            client.batches.create_embeddings(model="gemini-embedding-001", src={"inlined_requests": src})
            body = rec.bodies(":asyncBatchEmbedContent")[-1]
        else:
            client.batches.create(model="gemini-2.5-flash", src=src)
            body = rec.bodies(":batchGenerateContent")[-1]
    return strip_allowed(body["batch"]["inputConfig"]["requests"]["requests"])


def sdk_vertex_body(rec: Recorder, request: dict[str, Any]) -> Any:
    """The body google-genai sends for ``models.generate_content`` on Vertex AI for one inlined request."""
    from google import genai
    from google.oauth2.credentials import Credentials

    client = genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=Credentials("token"),
        http_options={"base_url": rec.base_url},
    )
    request = copy.deepcopy(request)
    rec.clear()
    client.models.generate_content(
        model=request.get("model", "gemini-2.5-flash"), contents=request["contents"], config=request.get("config")
    )
    return rec.bodies(":generateContent")[-1]


def our_vertex_lines(rec: Recorder, src: list[Any]) -> list[Any]:
    """The JSONL lines our client stages to GCS for inlined requests on Vertex AI (read from the upload)."""
    from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient

    settings = ClientSettings(
        backend="vertex",
        project=PROJECT,
        location=LOCATION,
        access_token="token",
        base_url=rec.base_url,
        storage_base_url=rec.base_url,
        gcs_staging_prefix="gs://staging-bucket/stage",
        max_retries=0,
    )
    rec.clear()
    with GenAIBatchClient(settings=settings) as client:
        client.batches.create(model="gemini-2.5-flash", src=src)
    data = b"".join(rec.uploads())
    return strip_allowed([json.loads(line) for line in data.splitlines() if line.strip()])
