"""Vertex AI batch prediction routes, under ``/v1beta1/`` and ``/v1/``.

``POST|GET projects/{p}/locations/{l}/batchPredictionJobs``, ``GET|DELETE .../batchPredictionJobs/{id}``,
``POST .../batchPredictionJobs/{id}:cancel``, and the same without ``projects/{p}/locations/{l}/`` (express
mode, API key or bearer token). Jobs are ``BatchPredictionJob`` resources with 19-digit ids, named after the
project and location of the URL (express-mode jobs live in ``projects/express-mode/locations/global``).

The create body is checked against Google's published ``BatchPredictionJob`` schema first (see
``schema_check.py``; off with the ``strict=False`` setting). Then (400 INVALID_ARGUMENT naming the field):
``displayName``, ``model``, exactly one of
``inputConfig.gcsSource`` / ``bigquerySource``, exactly one of ``outputConfig.gcsDestination`` /
``bigqueryDestination``, formats (``instancesFormat`` defaults to ``jsonl`` for GCS and ``bigquery`` for
BigQuery), ``labels``. A missing GCS object or BigQuery table, or a malformed line or row, does not fail the
create: the job FAILS when it would start, with an error naming the source, as Vertex reports unreadable input.
A line or row whose ``request`` violates the published ``GenerateContentRequest`` schema fails on its own (its
output row's ``status`` holds Google's error); other top-level fields are echoed, not checked.

``filter`` on list supports ``state=JOB_STATE_X``, ``display_name="x"`` (or ``displayName``) and
``labels.KEY="v"`` (quotes optional), joined by ``AND``; anything else is a 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.responses import Response

from airflow_provider_genai_batch.emulator.common import get_field, new_numeric_id, page, rfc3339
from airflow_provider_genai_batch.emulator.errors import (
    RPC_CODES,
    failed_precondition,
    invalid_argument,
    not_found,
)
from airflow_provider_genai_batch.emulator.inputs import (
    InputError,
    parse_gcs_uri,
    parse_table_uri,
    read_gcs_sources,
    read_table_rows,
)
from airflow_provider_genai_batch.emulator.jobs import JobStatus, create_job, job_error, refresh
from airflow_provider_genai_batch.emulator.published_models import model_problem
from airflow_provider_genai_batch.emulator.routing import Auth, RequestContext, Route, json_response
from airflow_provider_genai_batch.emulator.schema_gate import check_body, check_items
from airflow_provider_genai_batch.emulator.state import Job, RequestItem, SourceKind, Store

__all__ = ["EXPRESS_LOCATION", "EXPRESS_PROJECT", "parse_filter", "render_batch_prediction_job", "vertex_routes"]

EXPRESS_PROJECT = "express-mode"
EXPRESS_LOCATION = "global"

_VERSION = r"/(?P<version>v1|v1beta1)"
_PARENT = r"/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_TERM = re.compile(r'(?P<field>[A-Za-z_]+(?:\.[A-Za-z0-9_-]+)?)\s*=\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s"]+)')
_FILTER_HELP = 'supported: state=JOB_STATE_X, display_name="x", labels.KEY="v", joined by AND'

Predicate = Callable[[Job, JobStatus], bool]


def _term_predicate(field: str, value: str) -> Predicate | None:
    if field == "state":
        return lambda job, status: "JOB_STATE_" + status.state == value
    if field in ("display_name", "displayName"):
        return lambda job, status: job.display_name == value
    if field.startswith("labels."):
        key = field.removeprefix("labels.")
        return lambda job, status: job.labels.get(key) == value
    return None


def parse_filter(text: str) -> list[Predicate]:
    """The predicates of an AIP-160 filter (the subset in the module docstring); all must hold."""
    predicates: list[Predicate] = []
    for term in re.split(r"\s+AND\s+", text.strip()):
        found = _TERM.fullmatch(term.strip())
        if found is None:
            raise invalid_argument(f"filter: unsupported expression {term!r} ({_FILTER_HELP})")
        value = found["value"]
        if value.startswith('"'):
            value = json.loads(value)
        predicate = _term_predicate(found["field"], value)
        if predicate is None:
            raise invalid_argument(f"filter: unsupported field {found['field']!r} ({_FILTER_HELP})")
        predicates.append(predicate)
    return predicates


def render_batch_prediction_job(job: Job, status: JobStatus) -> dict[str, Any]:
    """The BatchPredictionJob JSON (reference section 4.2)."""
    body: dict[str, Any] = {
        "name": job.name,
        "displayName": job.display_name,
        "model": job.model,
        "inputConfig": job.input_config,
        "outputConfig": job.output_config,
        "state": "JOB_STATE_" + status.state,
        "createTime": rfc3339(job.create_time),
        "updateTime": rfc3339(status.update_time),
    }
    if job.labels:
        body["labels"] = job.labels
    if status.start_time is not None:
        body["startTime"] = rfc3339(status.start_time)
    if status.end_time is not None:
        body["endTime"] = rfc3339(status.end_time)
    body["completionStats"] = {
        "successfulCount": str(status.succeeded),
        "failedCount": str(status.failed),
        # Vertex reports -1 when it does not know ("Set to -1 if the number is unknown", CompletionStats).
        "incompleteCount": str(status.pending) if status.terminal else "-1",
    }
    if job.output is not None:
        body["outputInfo"] = job.output
    error = job_error(job, status)
    if error is not None:
        body["error"] = {"code": RPC_CODES[error[0]], "message": error[1]}
    return body


def _object(body: dict[str, Any], name: str, path: str) -> dict[str, Any] | None:
    value = get_field(body, name)
    if value is not None and not isinstance(value, dict):
        raise invalid_argument(f"{path}{name}: must be an object")
    return value


def _one_of(config: dict[str, Any], path: str, first: str, second: str) -> tuple[str, dict[str, Any]]:
    present = [(name, _object(config, name, path)) for name in (first, second)]
    chosen = [(name, value) for name, value in present if value is not None]
    if len(chosen) != 1:
        raise invalid_argument(
            f"{path.rstrip('.')}: exactly one of {first} or {second} is required (the emulator supports no other)"
        )
    return chosen[0]


def _format(config: dict[str, Any], field: str, path: str, expected: str, source: str) -> str:
    value = get_field(config, field)
    if value is None:
        return expected
    if value != expected:
        raise invalid_argument(f"{path}{field}: {value!r} is not supported with {source}; use {expected!r}")
    return expected


def _source(
    store: Store, body: dict[str, Any], version: str
) -> tuple[SourceKind, dict[str, Any], list[RequestItem], str | None]:
    """``(source kind, echoed inputConfig, requests, input error)`` of a create body; requests that violate the
    published schema are ``RejectedRequest`` (they fail on their own)."""
    config = _object(body, "inputConfig", "")
    if config is None:
        raise invalid_argument("inputConfig: required")
    kind, source = _one_of(config, "inputConfig.", "gcsSource", "bigquerySource")
    read: Callable[[], list[RequestItem]]
    if kind == "gcsSource":
        uris = get_field(source, "uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
            raise invalid_argument("inputConfig.gcsSource.uris: required (a list of gs:// URIs)")
        for uri in uris:
            try:
                parse_gcs_uri(uri)
            except ValueError as exc:
                raise invalid_argument(f"inputConfig.gcsSource.uris: {exc}") from None
        fmt = _format(config, "instancesFormat", "inputConfig.", "jsonl", "gcsSource")
        source_kind: SourceKind = "gcs"
        echoed = {"instancesFormat": fmt, "gcsSource": {"uris": uris}}
        read = partial(read_gcs_sources, store, uris)
    else:
        input_uri = get_field(source, "inputUri")
        try:
            parse_table_uri(input_uri if isinstance(input_uri, str) else "")
        except ValueError as exc:
            raise invalid_argument(f"inputConfig.bigquerySource.inputUri: {exc}") from None
        fmt = _format(config, "instancesFormat", "inputConfig.", "bigquery", "bigquerySource")
        source_kind = "bigquery"
        echoed = {"instancesFormat": fmt, "bigquerySource": {"inputUri": input_uri}}
        read = partial(read_table_rows, store, input_uri)
    try:
        return source_kind, echoed, check_items(store.config.strict, "vertex", version, read()), None
    except InputError as exc:
        return source_kind, echoed, [], str(exc)


def _destination(body: dict[str, Any]) -> dict[str, Any]:
    config = _object(body, "outputConfig", "")
    if config is None:
        raise invalid_argument("outputConfig: required")
    kind, destination = _one_of(config, "outputConfig.", "gcsDestination", "bigqueryDestination")
    if kind == "gcsDestination":
        prefix = get_field(destination, "outputUriPrefix")
        try:
            parse_gcs_uri(prefix if isinstance(prefix, str) else "")
        except ValueError as exc:
            raise invalid_argument(f"outputConfig.gcsDestination.outputUriPrefix: {exc}") from None
        fmt = _format(config, "predictionsFormat", "outputConfig.", "jsonl", "gcsDestination")
        return {"predictionsFormat": fmt, "gcsDestination": {"outputUriPrefix": prefix}}
    uri = get_field(destination, "outputUri")
    try:
        parse_table_uri(uri if isinstance(uri, str) else "", min_parts=1)
    except ValueError as exc:
        raise invalid_argument(f"outputConfig.bigqueryDestination.outputUri: {exc}") from None
    fmt = _format(config, "predictionsFormat", "outputConfig.", "bigquery", "bigqueryDestination")
    return {"predictionsFormat": fmt, "bigqueryDestination": {"outputUri": uri}}


def _labels(body: dict[str, Any]) -> dict[str, str]:
    labels = get_field(body, "labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise invalid_argument("labels: must be an object of string keys and string values")
    return labels


class _Handlers:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _parent(ctx: RequestContext) -> tuple[str, str] | None:
        """``(project, location)`` of the URL, or ``None`` in express mode."""
        if "project" in ctx.params:
            return ctx.params["project"], ctx.params["location"]
        return None

    def _job(self, ctx: RequestContext) -> Job:
        with self.store.lock:
            job = self.store.vertex_jobs.get(ctx.params["id"])
        parent = self._parent(ctx)
        if job is None or (parent is not None and parent != (job.project, job.location)):
            raise not_found(f"Requested entity was not found: batchPredictionJobs/{ctx.params['id']}.")
        return job

    async def create(self, ctx: RequestContext) -> Response:
        body = await ctx.json_body()
        check_body(self.store.config.strict, "vertex", ctx.version, "BatchPredictionJob", body)
        display_name = get_field(body, "displayName")
        if not isinstance(display_name, str) or not display_name:
            raise invalid_argument("displayName: required (a non-empty string)")
        model = get_field(body, "model")
        if not isinstance(model, str) or not model:
            raise invalid_argument("model: required (e.g. publishers/google/models/gemini-2.5-flash)")
        config = self.store.config
        problem = model_problem("vertex", model, extra=config.extra_models, enabled=config.check_models)
        if problem is not None:
            raise problem
        labels = _labels(body)
        output_config = _destination(body)
        source, input_config, items, input_error = _source(self.store, body, ctx.version)
        if input_error is None and not items:
            input_error = "The batch input contains no requests."
        project, location = self._parent(ctx) or (EXPRESS_PROJECT, EXPRESS_LOCATION)
        parent = f"projects/{project}/locations/{location}"
        job_id = new_numeric_id()
        job = create_job(
            self.store,
            backend="vertex",
            job_id=job_id,
            name=f"{parent}/batchPredictionJobs/{job_id}",
            kind="generate",
            source=source,
            model=f"{parent}/{model}" if model.startswith("publishers/") else model,
            display_name=display_name,
            items=items,
            input_error=input_error,
            input_config=input_config,
            output_config=output_config,
            labels=labels,
            project=project,
            location=location,
        )
        return json_response(render_batch_prediction_job(job, refresh(self.store, job)))

    async def get(self, ctx: RequestContext) -> Response:
        job = self._job(ctx)
        return json_response(render_batch_prediction_job(job, refresh(self.store, job)))

    async def list(self, ctx: RequestContext) -> Response:
        predicates = parse_filter(ctx.query("filter") or "") if ctx.query("filter") else []
        parent = self._parent(ctx)
        with self.store.lock:
            jobs = [
                job
                for job in reversed(self.store.vertex_jobs.values())
                if parent is None or parent == (job.project, job.location)
            ]
            if predicates:
                jobs = [j for j in jobs if all(p(j, refresh(self.store, j)) for p in predicates)]
        selected, token = page(
            jobs, lambda j: j.seq, ctx.query("pageSize"), ctx.query("pageToken"), default=100, maximum=1000
        )
        body: dict[str, Any] = {}
        if selected:
            body["batchPredictionJobs"] = [
                render_batch_prediction_job(job, refresh(self.store, job)) for job in selected
            ]
        if token:
            body["nextPageToken"] = token
        return json_response(body)

    async def cancel(self, ctx: RequestContext) -> Response:
        job = self._job(ctx)
        with self.store.lock:
            status = refresh(self.store, job)
            if status.terminal:
                raise failed_precondition(
                    f"{job.name} has already ended (JOB_STATE_{status.state}) and cannot be cancelled."
                )
            if job.cancel_time is None:
                job.cancel_time = self.store.now()
                self.store.counters["cancels.vertex"] += 1
        return json_response({})

    async def delete(self, ctx: RequestContext) -> Response:
        job = self._job(ctx)
        with self.store.lock:
            status = refresh(self.store, job)
            if not status.terminal:
                raise failed_precondition(
                    f"{job.name} is JOB_STATE_{status.state}; cancel it and wait until it has ended before deleting it."
                )
            self.store.vertex_jobs.pop(job.id, None)
            self.store.counters["deletes.vertex"] += 1
            now = rfc3339(self.store.now())
        return json_response(
            {
                "name": f"projects/{job.project}/locations/{job.location}/operations/{new_numeric_id()}",
                "metadata": {
                    "@type": f"type.googleapis.com/google.cloud.aiplatform.{ctx.version}.DeleteOperationMetadata",
                    "genericMetadata": {"createTime": now, "updateTime": now},
                },
                "done": True,
                "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
            }
        )


def vertex_routes(store: Store) -> list[Route]:
    """The Vertex batch prediction routes (labels ``vertex.jobs.*``), with and without a project path."""
    h = _Handlers(store)
    variants: tuple[tuple[str, Auth], ...] = ((_PARENT, "bearer"), ("", "api_key_or_bearer"))
    routes = []
    for parent, auth in variants:
        jobs = _VERSION + parent + "/batchPredictionJobs"
        job = jobs + "/(?P<id>[0-9]+)"
        routes += [
            Route("POST", jobs, "vertex.jobs.create", h.create, auth),
            Route("GET", jobs, "vertex.jobs.list", h.list, auth),
            Route("GET", job, "vertex.jobs.get", h.get, auth),
            Route("POST", job + ":cancel", "vertex.jobs.cancel", h.cancel, auth),
            Route("DELETE", job, "vertex.jobs.delete", h.delete, auth),
        ]
    return routes
