"""Each multi-step operation as a generator "plan": it yields what to do and receives the answers.

A plan yields an ``ApiRequest`` (and receives the ``ApiResponse``, or has the client's exception thrown into it)
or a ``Sleep``; it returns its result. The sync and async clients drive the very same plans and differ only in
how they send and sleep, so request building, retries of resumable uploads and the reading of a list page live
in one place. The loop over pages (``Batches.list`` / ``AsyncBatches.list``, five lines each) is written twice:
one is a sync generator, the other an async one, and a plan cannot yield to its caller's caller.

Example::

    plan = get_job(settings, "batches/abc")
    job = run_sync(plan, transport)            # or: await run_async(plan, transport)
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from airflow_provider_genai_batch.client.errors import (
    APIConnectionError,
    APIStatusError,
    GenAIBatchError,
    InvalidResponseError,
    is_transient,
)
from airflow_provider_genai_batch.client.models import BatchJob, File
from airflow_provider_genai_batch.client.names import GcsUri
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.wire import gemini, storage, vertex
from airflow_provider_genai_batch.client.wire.common import ApiRequest, ApiResponse, parse_gcs_uri

T = TypeVar("T")


@dataclass(frozen=True)
class Sleep:
    """Ask the driver to wait (a blocking sleep in sync code, ``asyncio.sleep`` in async code)."""

    seconds: float


Step = ApiRequest | Sleep
Plan = Generator[Step, Any, T]
MAX_UPLOAD_RESUMES = 8


def run_sync(
    plan: Plan[T], send: Callable[[ApiRequest], ApiResponse], sleep: Callable[[float], None] | None = None
) -> T:
    """Drive a plan with a blocking sender."""
    answer: Any = None
    error: GenAIBatchError | None = None
    while True:
        step = _advance(plan, (answer, error))
        if isinstance(step, Done):
            return step.value  # type: ignore[no-any-return]
        answer, error = None, None
        if isinstance(step, Sleep):
            (sleep or time.sleep)(step.seconds)
            continue
        try:
            answer = send(step)
        except GenAIBatchError as exc:
            error = exc


async def run_async(
    plan: Plan[T],
    send: Callable[[ApiRequest], Awaitable[ApiResponse]],
    *,
    offload: bool = False,
) -> T:
    """Drive a plan with an async sender. ``offload=True`` runs the plan's own steps (which may read local
    files, e.g. upload chunks) in a worker thread so the event loop never blocks on disk."""
    answer: Any = None
    error: GenAIBatchError | None = None
    while True:
        step_input = (answer, error)
        step = await asyncio.to_thread(_advance, plan, step_input) if offload else _advance(plan, step_input)
        if isinstance(step, Done):
            return step.value  # type: ignore[no-any-return]
        answer, error = None, None
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            continue
        try:
            answer = await send(step)
        except GenAIBatchError as exc:
            error = exc


@dataclass(frozen=True)
class Done:
    """A plan's result (StopIteration cannot cross a thread boundary into a future, this can)."""

    value: Any


def _advance(plan: Plan[Any], step_input: tuple[Any, GenAIBatchError | None]) -> Step | Done:
    answer, error = step_input
    try:
        return plan.throw(error) if error is not None else plan.send(answer)
    except StopIteration as stop:
        return Done(stop.value)


def single(request: ApiRequest) -> Plan[ApiResponse]:
    """A plan of one request, returning the response."""
    response: ApiResponse = yield request
    return response


# --- jobs --------------------------------------------------------------------------------------


def get_job(settings: ClientSettings, name: str) -> Plan[BatchJob]:
    """Read one job."""
    if settings.backend == "gemini":
        response = yield gemini.build_get(settings, name)
        return gemini.parse_job(response.json())
    response = yield vertex.build_get(settings, name)
    return vertex.parse_job(response.json())


def list_page(
    settings: ClientSettings, page_size: int | None, page_token: str | None, filter_: str | None
) -> Plan[tuple[list[BatchJob], str | None]]:
    """Read one page of the job list."""
    if settings.backend == "gemini":
        response = yield gemini.build_list(settings, page_size, page_token)
        return gemini.parse_list(response.json())
    response = yield vertex.build_list(settings, page_size, page_token, filter_)
    return vertex.parse_list(response.json())


def gcs_object_metadata(settings: ClientSettings, uri: str | GcsUri) -> Plan[storage.ObjectMetadata]:
    """Read one GCS object's metadata (generation, checksums): one call, no bytes (a GcsUri is not parsed again)."""
    parsed = GcsUri.parse(uri, "uri")
    response = yield storage.build_object_get(settings, parsed.bucket, parsed.name)
    return storage.parse_object_metadata(response.json(), parsed.bucket, parsed.name)


def cancel_job(settings: ClientSettings, name: str) -> Plan[None]:
    """Ask for cancellation; the job ends CANCELLED later."""
    module = gemini if settings.backend == "gemini" else vertex
    yield module.build_cancel(settings, name)


def delete_job(settings: ClientSettings, name: str) -> Plan[None]:
    """Delete a job."""
    module = gemini if settings.backend == "gemini" else vertex
    yield module.build_delete(settings, name)


# --- resumable uploads ---------------------------------------------------------------------------


def _backoff(attempt: int) -> Sleep:
    return Sleep(min(0.5 * (2**attempt), 30.0))


def _check_resumable(exc: GenAIBatchError, resumes: int) -> None:
    """Re-raise unless the failure is transient and resumes are left."""
    if resumes >= MAX_UPLOAD_RESUMES or not is_transient(exc):
        raise exc


def upload_file(
    settings: ClientSettings,
    data: IO[bytes],
    size: int,
    mime_type: str,
    display_name: str | None,
    file_name: str | None = None,
) -> Plan[File]:
    """Files API resumable upload in chunks of ``settings.upload_chunk_bytes``; after a failed chunk it asks
    the server how much it stored (``X-Goog-Upload-Command: query``) and resumes from there. ``file_name``: the
    local file's name, sent as google-genai sends it (``gemini.upload_file_name``)."""
    start = yield gemini.build_upload_start(settings, size, mime_type, display_name, file_name)
    url = start.headers.get("x-goog-upload-url")
    if not url:
        raise InvalidResponseError("the Files API did not return an upload URL (X-Goog-Upload-URL)")
    offset, resumes = 0, 0
    while True:
        data.seek(offset)
        chunk = data.read(settings.upload_chunk_bytes)
        last = offset + len(chunk) >= size
        headers = {
            "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
            "X-Goog-Upload-Offset": str(offset),
            "Content-Type": "application/octet-stream",
        }
        try:
            answer = yield ApiRequest(
                "POST", url, content=chunk, headers=headers, idempotent=False, authenticated=False
            )
        except (APIConnectionError, APIStatusError) as exc:
            _check_resumable(exc, resumes)
            yield _backoff(resumes)
            resumes += 1
            query = yield ApiRequest("POST", url, headers={"X-Goog-Upload-Command": "query"}, authenticated=False)
            if query.headers.get("x-goog-upload-status") == "final":
                return gemini.parse_file(query.json())
            offset = int(query.headers.get("x-goog-upload-size-received", "0"))
            continue
        status = answer.headers.get("x-goog-upload-status")
        if last:
            if status != "final":
                raise InvalidResponseError(f"upload not finalized (X-Goog-Upload-Status: {status})")
            return gemini.parse_file(answer.json())
        offset += len(chunk)


def upload_gcs_object(
    settings: ClientSettings, uri: str | GcsUri, data: IO[bytes], size: int, content_type: str
) -> Plan[str]:
    """GCS resumable upload (``uploadType=resumable``) in chunks; after a failure it asks the session how much
    it stored (``Content-Range: bytes */size``) and resumes. Returns the ``gs://`` URI."""
    parsed = GcsUri.parse(uri, "gcs_staging_prefix")
    bucket, name = parsed.bucket, parsed.name
    start = yield storage.build_upload_start(settings, bucket, name, size, content_type)
    session = start.headers.get("location")
    if not session:
        raise InvalidResponseError("GCS did not return a resumable session URL (Location)")
    chunk_size = max(256 * 1024, settings.upload_chunk_bytes // (256 * 1024) * 256 * 1024)
    offset, resumes = 0, 0
    ok = (200, 201, 308)
    while True:
        data.seek(offset)
        chunk = data.read(chunk_size)
        end = offset + len(chunk) - 1
        content_range = f"bytes {offset}-{end}/{size}" if chunk else f"bytes */{size}"
        try:
            answer = yield ApiRequest(
                "PUT",
                session,
                content=chunk,
                headers={"Content-Range": content_range},
                idempotent=False,
                authenticated=False,
                ok_statuses=ok,
            )
        except (APIConnectionError, APIStatusError) as exc:
            _check_resumable(exc, resumes)
            yield _backoff(resumes)
            resumes += 1
            answer = yield ApiRequest(
                "PUT",
                session,
                headers={"Content-Range": f"bytes */{size}"},
                authenticated=False,
                ok_statuses=ok,
            )
        if answer.status_code in (200, 201):
            return str(uri)
        offset = _gcs_received(answer.headers.get("range"))


def _gcs_received(range_header: str | None) -> int:
    """``Range: bytes=0-N`` -> N+1 bytes stored; no header means nothing stored yet."""
    if not range_header:
        return 0
    return int(range_header.rsplit("-", 1)[1]) + 1


# --- results ---------------------------------------------------------------------------------------


def gcs_result_shards(settings: ClientSettings, directory: str) -> Plan[list[ApiRequest]]:
    """Download requests for every ``predictions*.jsonl`` shard under a Vertex output directory, in order."""
    bucket, prefix = parse_gcs_uri(directory, "output_info.gcs_output_directory")
    prefix = prefix.rstrip("/") + "/"
    names: list[str] = []
    token: str | None = None
    while True:
        response = yield storage.build_list(settings, bucket, prefix, token)
        items, token = storage.parse_list(response.json())
        names.extend(
            name for name, _ in items if name.rsplit("/", 1)[-1].startswith("prediction") and name.endswith(".jsonl")
        )
        if not token:
            break
    return [storage.build_download(settings, bucket, name) for name in sorted(names)]


def _wildcard(pattern: str) -> re.Pattern[str]:
    """A GCS wildcard as Vertex reads it: ``*`` within one path segment, ``**`` across, ``?`` one character."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    table = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(table.get(part, re.escape(part)) for part in parts) + r"\Z")


def gcs_input_downloads(settings: ClientSettings, uris: list[str]) -> Plan[list[ApiRequest]]:
    """Download requests for a Vertex job's input objects, in the order their lines are numbered: the URIs in
    order, the objects a wildcard matches sorted by name."""
    downloads: list[ApiRequest] = []
    for uri in uris:
        bucket, name = parse_gcs_uri(uri, "src")
        if not any(char in name for char in "*?"):
            downloads.append(storage.build_download(settings, bucket, name))
            continue
        pattern, prefix = _wildcard(name), re.split(r"[*?]", name, maxsplit=1)[0]
        names: list[str] = []
        token: str | None = None
        while True:
            response = yield storage.build_list(settings, bucket, prefix, token)
            items, token = storage.parse_list(response.json())
            names.extend(item for item, _ in items if pattern.match(item))
            if not token:
                break
        downloads.extend(storage.build_download(settings, bucket, item) for item in sorted(names))
    return downloads


def result_downloads(settings: ClientSettings, kind: str, uri: str) -> Plan[list[ApiRequest]]:
    """The download requests that stream a job's results: one file (Gemini) or every shard (Vertex GCS)."""
    if kind == "file":
        return [gemini.build_file_download(settings, uri)]
    return (yield from gcs_result_shards(settings, uri))
