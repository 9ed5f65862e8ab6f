"""Writing the results of a finished job, in each backend's output format.

Order: Google does not promise that results come in request order (the Gemini API has returned inline
responses out of order, googleapis/python-genai#1909), so by default every output below lists its results in a
shuffled order, seeded by the job name (the same job always gives the same order). ``shuffle_results=False``
keeps request order. Each result carries what Google echoes to attribute it: the inline request's
``metadata``, or the input line's fields other than ``request``.

- Gemini, inline input: ``{"inlinedResponses": {"inlinedResponses": [...]}}``, one element per request,
  ``{"response": ..., "metadata": ...}`` or ``{"error": {"code": 400, "message", "status"}, "metadata": ...}``.
- Gemini, file input: a generated file ``files/batch-<job id>`` (``source: GENERATED``) of JSONL lines
  ``{"key": ..., "response": ...}`` or ``{"key": ..., "error": {...}}``: every top-level field of the input
  line but ``request`` (``key``, ``metadata``...) is echoed, as the Gemini API echoes ``key`` (documented) and
  a line's extra fields (googleapis/go-genai#513).
- Vertex, GCS destination: ``{outputUriPrefix}/prediction-model-<create time>/predictions.jsonl``, or
  ``predictions_00001.jsonl``, ``predictions_00002.jsonl``... when there are more rows than
  ``vertex_shard_rows``. Each line is the input line's extra fields plus ``status`` (``""`` or the error
  message), ``processed_time``, ``request`` and, on success, ``response``.
- Vertex, BigQuery destination: the same columns as rows of a table: the exact table when ``outputUri`` names
  one, else ``predictions_<YYYY_MM_DDThh_mm_ss_sssZ>`` in the named dataset (or in a new dataset
  ``prediction_<model>_<timestamp>`` when only a project is named).
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.emulator.common import get_field, rfc3339
from airflow_provider_genai_batch.emulator.errors import google_status_for
from airflow_provider_genai_batch.emulator.inputs import parse_gcs_uri, parse_table_uri
from airflow_provider_genai_batch.emulator.responses import (
    embed_content_response,
    generate_content_response,
    model_id,
    request_problem,
)
from airflow_provider_genai_batch.emulator.state import FileRecord, Job, RowFailure, Store

if TYPE_CHECKING:
    from airflow_provider_genai_batch.emulator.jobs import JobStatus

__all__ = ["materialize", "results_file_id"]


def results_file_id(job: Job) -> str:
    """The id of the Files API file holding a Gemini file-input job's results."""
    return f"batch-{job.id}"


def _order(store: Store, job: Job) -> list[int]:
    """The request indices in the order their results are written: shuffled (seeded by the job name) unless
    ``shuffle_results`` is off."""
    order = list(range(len(job.items)))
    if store.config.shuffle_results:
        random.Random(job.name).shuffle(order)
    return order


def _answers(job: Job) -> list[tuple[dict[str, Any] | None, RowFailure | None]]:
    """``(response, None)`` or ``(None, failure)`` for every request of the job, in order."""
    failed = set(job.failed)
    answers: list[tuple[dict[str, Any] | None, RowFailure | None]] = []
    for index, item in enumerate(job.items):
        problem = request_problem(job.kind, item.request)
        failure = RowFailure(400, problem) if problem is not None else None
        if failure is None and index in failed:
            failure = job.row_errors.get(index) or RowFailure(
                400, f"Request {index} failed on purpose (failed_requests of an emulator outcome)."
            )
        if failure is not None:
            answers.append((None, failure))
        elif job.kind == "embed":
            answers.append((embed_content_response(item.request), None))
        else:
            answers.append((generate_content_response(item.request, job.model), None))
    return answers


def _gemini_error(failure: RowFailure) -> dict[str, Any]:
    return {"code": failure.code, "message": failure.message, "status": google_status_for(failure.code)}


def _gemini_output(store: Store, job: Job) -> dict[str, Any]:
    answers = _answers(job)
    order = _order(store, job)
    if job.source == "inline":
        elements: list[dict[str, Any]] = []
        for index in order:
            item, (response, error) = job.items[index], answers[index]
            element: dict[str, Any] = {"response": response} if error is None else {"error": _gemini_error(error)}
            if item.metadata is not None:
                element["metadata"] = item.metadata
            elements.append(element)
        return {"inlinedResponses": {"inlinedResponses": elements}}
    lines = []
    for index in order:
        item, (response, error) = job.items[index], answers[index]
        line: dict[str, Any] = dict(item.extra)
        if error is None:
            line["response"] = response
        else:
            line["error"] = _gemini_error(error)
        lines.append(json.dumps(line, separators=(",", ":")) + "\n")
    record = FileRecord(
        id=results_file_id(job),
        seq=store.next_seq(),
        data="".join(lines).encode(),
        mime_type="application/jsonl",
        display_name=None,
        create_time=store.now(),
        source="GENERATED",
    )
    store.files[record.id] = record
    return {"responsesFile": f"files/{record.id}"}


def _vertex_status(error: RowFailure | None) -> str:
    """A row's ``status`` as Vertex writes it: ``""``, or the HTTP reason phrase and the error body as text
    (``Bad Request: {"error": {"code": 400, ...}}``, Google's documented failed row; ``Too Many Requests: ...``,
    ``Internal Server Error: ...`` for other codes)."""
    if error is None:
        return ""
    try:
        phrase = HTTPStatus(error.code).phrase
    except ValueError:
        phrase = "Error"
    return f"{phrase}: " + json.dumps({"error": _gemini_error(error)})


def _vertex_rows(store: Store, job: Job, status: JobStatus) -> list[dict[str, Any]]:
    processed = datetime.fromtimestamp(status.end_time or 0.0, UTC).isoformat(timespec="milliseconds")
    answers = _answers(job)
    rows = []
    for index in _order(store, job):
        item, (response, error) = job.items[index], answers[index]
        row = dict(item.extra)
        row.update({"status": _vertex_status(error), "processed_time": processed, "request": item.request})
        row["response"] = response if response is not None else {}
        rows.append(row)
    return rows


def _bq_timestamp(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y_%m_%dT%H_%M_%S_") + f"{moment.microsecond // 1000:03d}Z"


def _vertex_output(store: Store, job: Job, status: JobStatus) -> dict[str, Any]:
    rows = _vertex_rows(store, job, status)
    config = job.output_config or {}
    gcs = get_field(config, "gcsDestination")
    if isinstance(gcs, dict):
        prefix = str(get_field(gcs, "outputUriPrefix")).rstrip("/")
        directory = f"{prefix}/prediction-model-{rfc3339(job.create_time)}"
        bucket, path = parse_gcs_uri(directory)
        shard_rows = store.config.vertex_shard_rows
        shards = [rows[i : i + shard_rows] for i in range(0, len(rows), shard_rows)] or [[]]
        for number, shard in enumerate(shards, start=1):
            filename = "predictions.jsonl" if len(shards) == 1 else f"predictions_{number:05d}.jsonl"
            data = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in shard).encode()
            store.put_object(bucket, f"{path}/{filename}", data, "application/jsonl")
        return {"gcsOutputDirectory": directory}
    bigquery = get_field(config, "bigqueryDestination") or {}
    parts = parse_table_uri(str(get_field(bigquery, "outputUri")), min_parts=1)
    timestamp = _bq_timestamp(job.create_time)
    if len(parts) == 1:
        dataset = "prediction_" + re.sub(r"[^A-Za-z0-9_]", "_", model_id(job.model)) + "_" + timestamp
        parts = [parts[0], dataset, "predictions"]
    elif len(parts) == 2:
        parts = [*parts, f"predictions_{timestamp}"]
    store.tables[".".join(parts)] = rows
    return {"bigqueryOutputDataset": f"bq://{parts[0]}.{parts[1]}", "bigqueryOutputTable": parts[2]}


def materialize(store: Store, job: Job, status: JobStatus) -> dict[str, Any]:
    """Write the results of a job that processed its requests; returns Gemini ``output`` or Vertex
    ``outputInfo``. Called once, under the store lock."""
    if job.backend == "gemini":
        return _gemini_output(store, job)
    return _vertex_output(store, job, status)
