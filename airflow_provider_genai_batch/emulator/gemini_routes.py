"""Gemini Developer API batch routes, under ``/v1/`` and ``/v1beta/`` (``/v1alpha/`` too).

``POST models/{m}:batchGenerateContent``, ``POST models/{m}:asyncBatchEmbedContent``, ``GET batches/{id}``,
``GET batches``, ``POST batches/{id}:cancel``, ``DELETE batches/{id}``. Jobs are long-running Operations
whose ``metadata`` is a ``GenerateContentBatch`` (``EmbedContentBatch`` for embeddings).

The create body, every inline request included, is checked against Google's published schema first (see
``schema_check.py``; off with the ``strict=False`` setting). Then (400 INVALID_ARGUMENT naming the field):
``batch.inputConfig`` with exactly one of
``requests`` or ``fileName``, at least one inline request, each with a ``request`` object. An unknown input
file is a 404. A malformed line in the input file does not fail the create: the job FAILS when it would start,
with an error naming the line, as the real service reports an unreadable input. A line whose ``request``
violates the schema (other top-level fields are echoed, not checked) fails on its own: an error line for its
key. Deleting a job that has not
ended is a 400 FAILED_PRECONDITION (cancel it first), as is cancelling a job that has ended.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from airflow_provider_genai_batch.emulator.common import get_field, new_id, page, parse_page_size, rfc3339
from airflow_provider_genai_batch.emulator.errors import (
    RPC_CODES,
    failed_precondition,
    invalid_argument,
    not_found,
)
from airflow_provider_genai_batch.emulator.inputs import InputError, parse_request_lines
from airflow_provider_genai_batch.emulator.jobs import JobStatus, create_job, job_error, refresh
from airflow_provider_genai_batch.emulator.published_models import model_problem
from airflow_provider_genai_batch.emulator.responses import RequestKind
from airflow_provider_genai_batch.emulator.routing import RequestContext, Route, json_response
from airflow_provider_genai_batch.emulator.schema_gate import check_body, check_items
from airflow_provider_genai_batch.emulator.state import Job, RequestItem, Store
from airflow_provider_genai_batch.emulator.webhooks import register_dynamic

__all__ = ["gemini_routes", "gemini_state", "render_operation"]

_VERSION = r"/(?P<version>v1|v1beta|v1alpha)"
_TYPE_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1main."
_REQUESTS_FIELD = "batch.inputConfig.requests.requests"


def gemini_state(state: str) -> str:
    """The wire ``BATCH_STATE_*`` value of a generic state (Gemini has no PARTIALLY_SUCCEEDED)."""
    return "BATCH_STATE_" + ("SUCCEEDED" if state == "PARTIALLY_SUCCEEDED" else state)


def render_operation(job: Job, status: JobStatus, *, listed: bool = False) -> dict[str, Any]:
    """The Operation JSON of a Gemini batch job (reference section 3.3).

    ``listed``: the entry as ``batches.list`` gives it. Google's list entries are sparse (no ``output``, no
    ``response``) and a finished job's ``batchStats`` there can be stale: a SUCCEEDED job listed with every
    request pending (tests/client/real_responses/gemini/list_succeeded_embeddings_stale.json). Clients must read
    the job again (``batches.get``) before its results.
    """
    batch_type = "EmbedContentBatch" if job.kind == "embed" else "GenerateContentBatch"
    stats = {"requestCount": str(status.total)}
    stale = listed and status.terminal
    for key, value in (
        ("successfulRequestCount", 0 if stale else status.succeeded),
        ("failedRequestCount", 0 if stale else status.failed),
        ("pendingRequestCount", status.total if stale else status.pending),
    ):
        if value:
            stats[key] = str(value)
    metadata: dict[str, Any] = {"@type": _TYPE_PREFIX + batch_type, "model": job.model}
    if job.display_name is not None:
        metadata["displayName"] = job.display_name
    if job.input_config:
        metadata["inputConfig"] = job.input_config
    if job.output is not None and not listed:
        metadata["output"] = job.output
    metadata["createTime"] = rfc3339(job.create_time)
    metadata["updateTime"] = rfc3339(status.update_time)
    if status.end_time is not None:
        metadata["endTime"] = rfc3339(status.end_time)
    metadata.update(batchStats=stats, state=gemini_state(status.state), name=job.name)
    operation: dict[str, Any] = {"name": job.name, "metadata": metadata}
    if status.terminal:
        operation["done"] = True
        if job.output is not None and not listed:
            operation["response"] = {"@type": f"{_TYPE_PREFIX}{batch_type}Output", **job.output}
        error = job_error(job, status)
        if error is not None:
            operation["error"] = {"code": RPC_CODES[error[0]], "message": error[1]}
    return operation


def _string_metadata(value: dict[str, Any]) -> dict[str, str]:
    """Metadata with every value as a string (the SDK rejects other values in responses)."""
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _inline_items(requests: Any) -> list[RequestItem]:
    entries = requests.get("requests") if isinstance(requests, dict) else None
    if not isinstance(entries, list):
        raise invalid_argument(f"{_REQUESTS_FIELD}: required (a list of requests)")
    if not entries:
        raise invalid_argument(f"{_REQUESTS_FIELD}: must contain at least one request")
    items = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
            raise invalid_argument(f"{_REQUESTS_FIELD}[{index}].request: required (a request object)")
        metadata = entry.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise invalid_argument(f"{_REQUESTS_FIELD}[{index}].metadata: must be an object")
        items.append(RequestItem(entry["request"], _string_metadata(metadata) if metadata is not None else None))
    return items


class _Handlers:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _job(self, ctx: RequestContext) -> Job:
        with self.store.lock:
            job = self.store.gemini_jobs.get(ctx.params["id"])
        if job is None:
            raise not_found(f"Requested entity was not found: batches/{ctx.params['id']}.")
        return job

    async def _create(self, ctx: RequestContext, kind: RequestKind) -> Response:
        body = await ctx.json_body()
        strict = self.store.config.strict
        envelope = "AsyncBatchEmbedContentRequest" if kind == "embed" else "BatchGenerateContentRequest"
        check_body(strict, "gemini", ctx.version, envelope, body)
        batch = get_field(body, "batch")
        if not isinstance(batch, dict):
            raise invalid_argument("batch: required (an object)")
        input_config = get_field(batch, "inputConfig")
        if not isinstance(input_config, dict):
            raise invalid_argument("batch.inputConfig: required (an object)")
        requests = get_field(input_config, "requests")
        file_name = get_field(input_config, "fileName")
        if (requests is None) == (file_name is None):
            raise invalid_argument("batch.inputConfig: exactly one of requests or fileName is required")
        display_name = get_field(batch, "displayName")
        if display_name is not None and not isinstance(display_name, str):
            raise invalid_argument("batch.displayName: must be a string")
        input_error = None
        if requests is not None:
            items, echoed = _inline_items(requests), {}
        else:
            if not isinstance(file_name, str) or not file_name.startswith("files/"):
                raise invalid_argument(f"batch.inputConfig.fileName: expected 'files/ID', got {file_name!r}")
            with self.store.lock:
                record = self.store.files.get(file_name.removeprefix("files/"))
            if record is None:
                raise not_found(f"batch.inputConfig.fileName: {file_name} was not found.")
            items, echoed = [], {"fileName": file_name}
            try:
                items = parse_request_lines(record.data, file_name)
                root = "EmbedContentRequest" if kind == "embed" else "GenerateContentRequest"
                items = check_items(strict, "gemini", ctx.version, items, root)
                if not items:
                    raise InputError(f"{file_name} contains no requests.")
            except InputError as exc:
                input_error = str(exc)
        config = self.store.config
        problem = model_problem("gemini", ctx.params["model"], extra=config.extra_models, enabled=config.check_models)
        if problem is not None:
            raise problem
        job_id = new_id(36)
        job = create_job(
            self.store,
            backend="gemini",
            job_id=job_id,
            name=f"batches/{job_id}",
            kind=kind,
            source="inline" if requests is not None else "file",
            model=ctx.params["model"],
            display_name=display_name,
            items=items,
            input_error=input_error,
            input_config=echoed,
        )
        register_dynamic(self.store, job, get_field(batch, "webhookConfig"))  # webhooks: emulator/webhooks.py
        return json_response(render_operation(job, refresh(self.store, job)))

    async def create(self, ctx: RequestContext) -> Response:
        return await self._create(ctx, "generate")

    async def create_embeddings(self, ctx: RequestContext) -> Response:
        return await self._create(ctx, "embed")

    async def get(self, ctx: RequestContext) -> Response:
        job = self._job(ctx)
        return json_response(render_operation(job, refresh(self.store, job)))

    async def list(self, ctx: RequestContext) -> Response:
        with self.store.lock:
            order = self.store.config.gemini_list_order
            jobs = list(self.store.gemini_jobs.values())
            if order == "unfinished_first":  # stable sort: each group stays newest-first
                jobs = sorted(reversed(jobs), key=lambda j: refresh(self.store, j).terminal)
        if order == "oldest_first":
            selected, token = _oldest_first_page(jobs, ctx.query("pageSize"), ctx.query("pageToken"))
        elif order == "unfinished_first":
            selected, token = _offset_page(jobs, ctx.query("pageSize"), ctx.query("pageToken"))
        else:
            selected, token = page(
                list(reversed(jobs)),
                lambda j: j.seq,
                ctx.query("pageSize"),
                ctx.query("pageToken"),
                default=50,
                maximum=1000,
            )
        body: dict[str, Any] = {}
        if selected:
            body["operations"] = [render_operation(job, refresh(self.store, job), listed=True) for job in selected]
        if token:
            body["nextPageToken"] = token
        return json_response(body)

    async def cancel(self, ctx: RequestContext) -> Response:
        job = self._job(ctx)
        with self.store.lock:
            status = refresh(self.store, job)
            if status.terminal:
                raise failed_precondition(
                    f"{job.name} has already ended ({gemini_state(status.state)}) and cannot be cancelled."
                )
            job.cancel_time = self.store.now()
            self.store.counters["cancels.gemini"] += 1
        return json_response({})

    async def delete(self, ctx: RequestContext) -> Response:
        job = self._job(ctx)
        with self.store.lock:
            status = refresh(self.store, job)
            if not status.terminal:
                raise failed_precondition(
                    f"{job.name} is {gemini_state(status.state)}; cancel it and wait until it has ended "
                    "before deleting it."
                )
            self.store.gemini_jobs.pop(job.id, None)
            self.store.counters["deletes.gemini"] += 1
        return json_response({})


def _oldest_first_page(
    jobs: list[Job], page_size: str | None, page_token: str | None
) -> tuple[Sequence[Job], str | None]:
    """One page of the list in creation order (the ``gemini_list_order="oldest_first"`` setting).

    The token is the sequence number of the next page's first job, so paging stays stable while jobs are created.
    """
    size = parse_page_size(page_size, default=50, maximum=1000)
    start = 0
    if page_token:
        if not page_token.isdigit():
            raise invalid_argument(f"pageToken: {page_token!r} is not a valid page token")
        start = next((i for i, job in enumerate(jobs) if job.seq >= int(page_token)), len(jobs))
    end = start + size
    return jobs[start:end], (str(jobs[end].seq) if end < len(jobs) else None)


def _offset_page(jobs: list[Job], page_size: str | None, page_token: str | None) -> tuple[Sequence[Job], str | None]:
    """One page of an already ordered list (``unfinished_first``); the token is the next page's offset."""
    size = parse_page_size(page_size, default=50, maximum=1000)
    if page_token and not page_token.isdigit():
        raise invalid_argument(f"pageToken: {page_token!r} is not a valid page token")
    start = int(page_token) if page_token else 0
    end = start + size
    return jobs[start:end], (str(end) if end < len(jobs) else None)


def gemini_routes(store: Store) -> list[Route]:
    """The Gemini batch routes (labels ``gemini.batches.*``)."""
    h = _Handlers(store)
    model = r"(?P<model>(?:models|tunedModels)/[^/:]+)"
    batch = r"/batches/(?P<id>[^/:]+)"
    return [
        Route("POST", _VERSION + rf"/{model}:batchGenerateContent", "gemini.batches.create", h.create, "api_key"),
        Route(
            "POST",
            _VERSION + rf"/{model}:asyncBatchEmbedContent",
            "gemini.batches.create_embeddings",
            h.create_embeddings,
            "api_key",
        ),
        Route("GET", _VERSION + "/batches", "gemini.batches.list", h.list, "api_key"),
        Route("GET", _VERSION + batch, "gemini.batches.get", h.get, "api_key"),
        Route("POST", _VERSION + batch + ":cancel", "gemini.batches.cancel", h.cancel, "api_key"),
        Route("DELETE", _VERSION + batch, "gemini.batches.delete", h.delete, "api_key"),
    ]
