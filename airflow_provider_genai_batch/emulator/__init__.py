"""Local emulator of Google Gen AI batch jobs: a real HTTP server speaking the wire format of the Gemini Developer
API batches (``/v1/``, ``/v1beta/``) and Files API, Vertex AI batch prediction (``/v1beta1/``, ``/v1/``), and a
GCS JSON API subset, all on one port, with in-memory state. The official ``google-genai`` SDK, this provider's
client and plain HTTP work against it unchanged. It needs only starlette and uvicorn (installed with Airflow,
or ``pip install airflow-provider-genai-batch[emulator]``).

Running it
==========

- Command line: ``genai-batch-emulator [--host 127.0.0.1] [--port 8085|0] [--api-key KEY] [--job-seconds S]
  [--pending-seconds S] [--cancel-seconds S] [--vertex-shard-rows N] [--accept-token T ...] [--keep-order]`` (or
  ``python -m airflow_provider_genai_batch.emulator``). The first line of stdout is the base URL.
- In Python::

      from airflow_provider_genai_batch.emulator import run_emulator

      with run_emulator(api_key="test-key", job_seconds=1.0, pending_seconds=0.2) as emu:
          gemini = genai.Client(api_key=emu.api_key, http_options={"base_url": emu.base_url})
          vertex = genai.Client(vertexai=True, project="p", location="us-central1",
                                credentials=google.oauth2.credentials.Credentials(token="fake"),
                                http_options={"base_url": emu.base_url})

  (For Vertex, pass ``project`` and ``location`` explicitly: with a custom base URL and no project the SDK
  sends every request to the bare base URL.)
- With pytest: the ``genai_batch_emulator`` fixture (this package's pytest plugin, loaded automatically) gives
  an ``EmulatorHandle`` reset before each test; one server is shared by the session.
- Mounted in your own ASGI server: ``EmulatorApp(EmulatorConfig(...))`` or ``create_app(**settings)``.

Credentials: Gemini routes need ``x-goog-api-key`` (or ``?key=``) equal to the configured key (missing: 401
UNAUTHENTICATED; wrong: 400 INVALID_ARGUMENT "API key not valid. Please pass a valid API key."). Vertex and GCS
routes need ``Authorization: Bearer <token>`` (any non-empty token unless ``accepted_tokens`` is set); Vertex
express-mode paths (without ``projects/.../locations/...``) take the API key. Upload chunks need nothing.

Job timing and outcomes
=======================

Jobs are PENDING for ``pending_seconds``, RUNNING for ``job_seconds`` (request counts grow linearly, as strings:
Gemini ``metadata.batchStats``, Vertex ``completionStats``), then end; states are computed from timestamps
whenever a job is read. By default a job SUCCEEDS. Requests whose prompt contains ``EMULATOR_FAIL`` fail
individually: the Gemini job still SUCCEEDS (``failedRequestCount``), a Vertex job ends PARTIALLY_SUCCEEDED
(FAILED if every row failed). See ``jobs.py`` for the full life cycle and ``outputs.py`` for where results go
(Gemini inline responses or ``files/batch-<id>``; Vertex ``{prefix}/prediction-model-<time>/predictions.jsonl``
in the GCS store or a ``predictions_<time>`` BigQuery table; note that ``outputInfo.bigqueryOutputTable`` is
the table *name* and ``bigqueryOutputDataset`` the ``bq://project.dataset``, as Vertex reports them).

Result order: by default results come back shuffled (a seeded order per job name), as Google does not promise
request order; ``run_emulator(shuffle_results=False)``, ``configure(shuffle_results=False)`` or
``--keep-order`` keep request order. Echoed beside each result: Gemini inline ``metadata``; every top-level
field of a Gemini input line except ``request`` (``key``, ``metadata``...) in the responses file; every
field of a Vertex input line or BigQuery row except ``request`` in the prediction rows.

Create-time validation (400 INVALID_ARGUMENT naming the field, 404 for an unknown input file) covers the shape
of the request; input that cannot be read (missing GCS object or BigQuery table, malformed JSONL line) makes
the job FAIL when it would start, with an error naming the source and line.

Deterministic outputs (``responses.py``)
========================================

- Generation: the answer is ``"echo: " + prompt``, where ``prompt`` is the ``text`` parts of the request's
  ``contents`` joined by ``"\\n"``; ``finishReason`` ``STOP``; ``usageMetadata``: ``promptTokenCount`` = words
  (whitespace-separated) of the prompt, ``candidatesTokenCount`` = words of the answer, ``totalTokenCount`` =
  their sum; ``modelVersion`` = the model id (``gemini-2.5-flash``).
- Embeddings: ``outputDimensionality`` (default 8) floats from SHA-256 of the text:
  ``values[i] = round(int.from_bytes(B[4i:4i+4], "big") / 2**31 - 1, 6)`` with
  ``B = sha256(b"0:" + text) + sha256(b"1:" + text) + ...``; use ``embedding_values(text, n)``.
- Per-request errors: ``{"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}`` on Gemini; the ``status``
  field holds the message on Vertex rows.

Control API
===========

Methods of ``EmulatorHandle`` (in process) and ``EmulatorClient(base_url)`` (over HTTP, for an emulator in
another process), with the HTTP paths under ``/_emulator/`` listed in ``admin_routes.py``:

- ``reset()``; ``configure(job_seconds=, pending_seconds=, cancel_seconds=, vertex_shard_rows=, api_key=,
  accepted_tokens=, shuffle_results=)`` (returns all settings).
- ``add_outcome(final_state="SUCCEEDED"|"PARTIALLY_SUCCEEDED"|"FAILED"|"EXPIRED"|"CANCELLED"|"STUCK_PENDING",
  failed_requests=[indices], error_message=, job_seconds=, pending_seconds=, match_display_name=substring,
  backend="gemini"|"vertex", count=1|None)``: how the next matching jobs end.
- ``add_fault(kind="status"|"delay"|"drop"|"apply_then_drop", method=, path=regex, status=429,
  google_status=, message=, retry_after=seconds, delay_seconds=, count=1|None, skip=0, probability=1.0,
  seed=)``;
  ``clear_faults()``. ``drop`` closes the connection with no response; ``apply_then_drop`` processes the
  request (creates the job) and then drops the response.
- ``finish_job(name, state="SUCCEEDED", error_message=)``: end a job now. ``advance_clock(seconds)``.
- ``stats()``: ``requests`` per route label, ``jobs_created`` (an int: count duplicates with it),
  ``jobs_created_by_backend``, ``cancels``, ``deletes``, ``faults_fired``, and ``jobs`` (name, backend,
  display_name, labels, state, model, request_count). Route labels:
  ``gemini.batches.{create,create_embeddings,get,list,cancel,delete}``,
  ``files.{upload.start,upload.chunk,get,list,download,delete}``,
  ``vertex.jobs.{create,get,list,cancel,delete}``,
  ``gcs.objects.{insert,upload.start,upload.chunk,get,download,list,delete}``, and ``unknown``.
- GCS: ``put_object(bucket, name, data, content_type=)``, ``get_object(bucket, name) -> bytes``,
  ``list_objects(bucket, prefix="") -> list[str]``. BigQuery: ``put_table("bq://p.d.t", rows)``,
  ``get_table("bq://p.d.t") -> rows``, ``list_tables()``.

Errors from the control API are ``EmulatorError`` (``code``, ``status``, ``message``).

Importing this package is cheap: starlette, uvicorn and httpx are imported on first use of a name below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_genai_batch.emulator.app import EmulatorApp, create_app
    from airflow_provider_genai_batch.emulator.client import EmulatorClient
    from airflow_provider_genai_batch.emulator.control import EmulatorControls, EmulatorStats, JobSummary
    from airflow_provider_genai_batch.emulator.errors import EmulatorError
    from airflow_provider_genai_batch.emulator.responses import (
        FAIL_MARKER,
        embed_content_response,
        embedding_values,
        generate_content_response,
        prompt_text,
    )
    from airflow_provider_genai_batch.emulator.server import EmulatorHandle, run_emulator
    from airflow_provider_genai_batch.emulator.state import EmulatorConfig

__all__ = [
    "FAIL_MARKER",
    "EmulatorApp",
    "EmulatorClient",
    "EmulatorConfig",
    "EmulatorControls",
    "EmulatorError",
    "EmulatorHandle",
    "EmulatorStats",
    "JobSummary",
    "create_app",
    "embed_content_response",
    "embedding_values",
    "generate_content_response",
    "prompt_text",
    "run_emulator",
]

_MODULES = {
    "EmulatorApp": "app",
    "create_app": "app",
    "EmulatorClient": "client",
    "EmulatorControls": "control",
    "EmulatorStats": "control",
    "JobSummary": "control",
    "EmulatorError": "errors",
    "FAIL_MARKER": "responses",
    "embed_content_response": "responses",
    "embedding_values": "responses",
    "generate_content_response": "responses",
    "prompt_text": "responses",
    "EmulatorHandle": "server",
    "run_emulator": "server",
    "EmulatorConfig": "state",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
