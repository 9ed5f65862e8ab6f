"""The sync and async batch clients. They run the same plans (``plans.py``) and differ only in sending.

Example::

    with GenAIBatchClient(ClientSettings(backend="gemini", api_key=KEY)) as client:
        job = client.batches.create(model="gemini-2.5-flash", src=["What is 1+1?"])
        job = client.batches.get(name=job.name)
        for result in client.batches.iter_results(job):
            print(result.key, result.text)

    async with AsyncGenAIBatchClient(settings) as client:
        job = await client.batches.get(name="batches/abc")
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import IO, Any

import httpx

from airflow_provider_genai_batch.client.auth import AuthProvider, build_auth_provider
from airflow_provider_genai_batch.client.creation import (
    PreparedCreate,
    create_plan,
    prepare_create,
    prepare_create_embeddings,
    upload_source_plan,
)
from airflow_provider_genai_batch.client.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from airflow_provider_genai_batch.client.models import BatchJob, File
from airflow_provider_genai_batch.client.names import GcsUri
from airflow_provider_genai_batch.client.plans import (
    cancel_job,
    delete_job,
    gcs_input_downloads,
    gcs_object_metadata,
    get_job,
    list_page,
    result_downloads,
    run_async,
    run_sync,
    single,
    upload_gcs_object,
)
from airflow_provider_genai_batch.client.resource import AsyncResource, Resource, SyncResource
from airflow_provider_genai_batch.client.results import (
    BatchResult,
    RequestIndex,
    ResultStreamParser,
    check_readable,
    inline_results,
    input_uris,
    results_location,
)
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.transport import AsyncTransport, SyncTransport
from airflow_provider_genai_batch.client.webhooks import AsyncWebhooks, Webhooks
from airflow_provider_genai_batch.client.wire import gemini, storage
from airflow_provider_genai_batch.client.wire.common import parse_gcs_uri
from airflow_provider_genai_batch.client.wire.storage import ObjectMetadata

__all__ = ["AsyncGenAIBatchClient", "GenAIBatchClient"]

log = logging.getLogger(__name__)
_Results = list[BatchResult]  # (the batch classes' ``list`` method hides the builtin in their bodies)


def _log_unreadable_input(job: BatchJob, exc: Exception) -> None:
    log.warning(
        "The input of %s cannot be read again to match its rows to its requests (%s): they are attributed by key "
        "where rows echo one, else in the order they arrive",
        job.name,
        type(exc).__name__,
    )


def _settings(settings: ClientSettings | None, overrides: dict[str, Any]) -> ClientSettings:
    if settings is None:
        return ClientSettings(**overrides)
    return settings.model_copy(update=overrides) if overrides else settings


def _list_args(page_size: int | None, config: Any) -> tuple[int | None, str | None]:
    """page_size and filter from keyword arguments or an SDK-style ``config`` dict."""
    filter_: str | None = None
    if config is not None:
        data = config if isinstance(config, dict) else config.model_dump(exclude_none=True)
        page_size = page_size or data.get("page_size") or data.get("pageSize")
        filter_ = data.get("filter")
    if page_size is not None and (not isinstance(page_size, int) or page_size < 1 or page_size > 1000):
        raise InvalidInputError("page_size", f"{page_size!r} is not between 1 and 1000", "pass 1 to 1000")
    return page_size, filter_


def _check_filter(settings: ClientSettings, filter_: str | None) -> None:
    if filter_ and settings.backend == "gemini":
        raise InvalidInputError("filter", "the Gemini batch list has no filter", "filter the jobs yourself")


def _require_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInputError("name", "is missing", "pass the job name returned by create")
    return name


class Batches(SyncResource):
    """Batch verbs of the sync client, named as google-genai's ``client.batches``."""

    def create(self, *, model: str, src: Any, config: Any = None) -> BatchJob:
        """Create a generation batch job. Bad input raises InvalidInputError before any request."""
        return self.create_prepared(prepare_create(self.settings, model=model, src=src, config=config))

    def create_embeddings(self, *, model: str, src: Any, config: Any = None) -> BatchJob:
        """Create an embeddings batch job (Gemini)."""
        return self.create_prepared(prepare_create_embeddings(self.settings, model=model, src=src, config=config))

    def create_prepared(self, prepared: PreparedCreate) -> BatchJob:
        """Send a create validated earlier (``creation.prepare_create``): nothing is validated again, and a
        second call sends the same request (same names) again."""
        job: BatchJob = self._run(create_plan(self.settings, prepared))
        return job

    def get(self, *, name: str) -> BatchJob:
        """Read a job."""
        job: BatchJob = self._run(get_job(self.settings, _require_name(name)))
        return job

    def list(
        self, *, page_size: int | None = None, filter: str | None = None, config: Any = None
    ) -> Iterator[BatchJob]:
        """Every job, page after page (newest first where the API orders so)."""
        size, config_filter = _list_args(page_size, config)
        filter_ = filter or config_filter
        _check_filter(self.settings, filter_)
        token: str | None = None
        while True:
            jobs, token = self._run(list_page(self.settings, size, token, filter_))
            yield from jobs
            if not token:
                return

    def cancel(self, *, name: str) -> None:
        """Ask the service to cancel a job."""
        self._run(cancel_job(self.settings, _require_name(name)))

    def delete(self, *, name: str) -> None:
        """Delete a job."""
        self._run(delete_job(self.settings, _require_name(name)))

    def iter_results(self, job: BatchJob | str) -> Iterator[BatchResult]:
        """Stream every request's result of a succeeded job, in bounded memory. A job that does not say where
        its results are (a ``list()`` entry, a stale copy) is read again first."""
        if isinstance(job, str) or needs_refetch(job):
            job = self.get(name=job if isinstance(job, str) else job.name)
        location = check_readable(job)
        if location.kind == "inline":
            yield from inline_results(job)
            return
        parser = ResultStreamParser(job)
        for request in self._run(result_downloads(self.settings, location.kind, location.uri or "")):
            for chunk in self._transport.stream(request):
                yield from self._attributed(parser, parser.feed(chunk), job)
            yield from self._attributed(parser, parser.end_of_shard(), job)

    def _attributed(self, parser: ResultStreamParser, results: _Results, job: BatchJob) -> _Results:
        """``results``, or when the parser wants the job's input to match rows against, the held rows' results."""
        if not parser.wants_requests:
            return results
        parser.use_requests(self._input_requests(job))
        return parser.resume()

    def _input_requests(self, job: BatchJob) -> RequestIndex | None:
        """The requests of a Vertex job's input objects, read again (None when they cannot be read)."""
        index = RequestIndex()
        try:
            for request in self._run(gcs_input_downloads(self.settings, input_uris(job) or [])):
                for chunk in self._transport.stream(request):
                    index.feed(chunk)
                index.end_of_object()
        except (NotFoundError, PermissionDeniedError) as exc:
            _log_unreadable_input(job, exc)
            return None
        index.freeze()
        return index


def needs_refetch(job: BatchJob) -> bool:
    """Whether a job object cannot be read as it is and must be fetched again before its results are: it is
    not (yet) succeeded, or it does not say where its results are. ``list()`` returns such jobs: Gemini's list
    entries carry no ``output`` and may carry stale state and counts.

    Example::

        needs_refetch(next(client.batches.list()))   # True for a succeeded Gemini job read from a list
    """
    if job.state.is_failure:
        return False  # FAILED, CANCELLED and EXPIRED never change: no read can make results appear
    if not job.state.is_success:
        return True
    location = results_location(job)
    if location.kind == "none":
        return True
    return location.kind == "gcs" and not (job.output_info and job.output_info.gcs_output_directory)


class AsyncBatches(AsyncResource):
    """Batch verbs of the async client."""

    async def create(self, *, model: str, src: Any, config: Any = None) -> BatchJob:
        """Create a generation batch job. Input files are read off the event loop."""
        return await self.create_prepared(prepare_create(self.settings, model=model, src=src, config=config))

    async def create_embeddings(self, *, model: str, src: Any, config: Any = None) -> BatchJob:
        """Create an embeddings batch job (Gemini)."""
        prepared = prepare_create_embeddings(self.settings, model=model, src=src, config=config)
        return await self.create_prepared(prepared)

    async def create_prepared(self, prepared: PreparedCreate) -> BatchJob:
        """Send a create validated earlier, as the sync client's ``create_prepared``."""
        job: BatchJob = await self._run(create_plan(self.settings, prepared), offload=True)
        return job

    async def get(self, *, name: str) -> BatchJob:
        """Read a job."""
        job: BatchJob = await self._run(get_job(self.settings, _require_name(name)))
        return job

    async def list(
        self,
        *,
        page_size: int | None = None,
        filter: str | None = None,
        config: Any = None,
    ) -> AsyncIterator[BatchJob]:
        """Every job, page after page."""
        size, config_filter = _list_args(page_size, config)
        filter_ = filter or config_filter
        _check_filter(self.settings, filter_)
        token: str | None = None
        while True:
            jobs, token = await self._run(list_page(self.settings, size, token, filter_))
            for job in jobs:
                yield job
            if not token:
                return

    async def cancel(self, *, name: str) -> None:
        """Ask the service to cancel a job."""
        await self._run(cancel_job(self.settings, _require_name(name)))

    async def delete(self, *, name: str) -> None:
        """Delete a job."""
        await self._run(delete_job(self.settings, _require_name(name)))

    async def iter_results(self, job: BatchJob | str) -> AsyncIterator[BatchResult]:
        """Stream every request's result of a succeeded job, in bounded memory (a job that does not say where
        its results are is read again first, as in the sync client)."""
        if isinstance(job, str) or needs_refetch(job):
            job = await self.get(name=job if isinstance(job, str) else job.name)
        location = check_readable(job)
        if location.kind == "inline":
            for result in inline_results(job):
                yield result
            return
        parser = ResultStreamParser(job)
        for request in await self._run(result_downloads(self.settings, location.kind, location.uri or "")):
            async for chunk in self._transport.stream(request):
                for result in await self._attributed(parser, parser.feed(chunk), job):
                    yield result
            for result in await self._attributed(parser, parser.end_of_shard(), job):
                yield result

    async def _attributed(self, parser: ResultStreamParser, results: _Results, job: BatchJob) -> _Results:
        """As the sync client's ``_attributed``."""
        if not parser.wants_requests:
            return results
        parser.use_requests(await self._input_requests(job))
        return parser.resume()

    async def _input_requests(self, job: BatchJob) -> RequestIndex | None:
        """As the sync client's ``_input_requests``."""
        index = RequestIndex()
        try:
            for request in await self._run(gcs_input_downloads(self.settings, input_uris(job) or [])):
                async for chunk in self._transport.stream(request):
                    index.feed(chunk)
                index.end_of_object()
        except (NotFoundError, PermissionDeniedError) as exc:
            _log_unreadable_input(job, exc)
            return None
        index.freeze()
        return index


class Files(SyncResource):
    """Files API (Gemini) of the sync client: upload, get, delete, streamed download."""

    def upload(self, file: Any, *, mime_type: str = "jsonl", display_name: str | None = None) -> File:
        """Upload bytes, a local path or a list/iterable of requests (as JSONL), resumably, in chunks."""
        uploaded: File = self._run(upload_source_plan(self.settings, file, mime_type, display_name))
        return uploaded

    def get(self, *, name: str) -> File:
        """Read a file's metadata."""
        response = self._run(single(gemini.build_file_get(self.settings, name)))
        return gemini.parse_file(response.json())

    def delete(self, *, name: str) -> None:
        """Delete a file."""
        self._run(single(gemini.build_file_delete(self.settings, name)))

    def download(self, *, name: str) -> Iterator[bytes]:
        """A file's bytes in chunks (resumes with Range after a dropped connection)."""
        return self._transport.stream(gemini.build_file_download(self.settings, name))


class AsyncFiles(AsyncResource):
    """Files API (Gemini) of the async client."""

    async def upload(self, file: Any, *, mime_type: str = "jsonl", display_name: str | None = None) -> File:
        """Upload bytes, a local path or requests; file reads happen off the event loop."""
        plan = upload_source_plan(self.settings, file, mime_type, display_name)
        uploaded: File = await self._run(plan, offload=True)
        return uploaded

    async def get(self, *, name: str) -> File:
        """Read a file's metadata."""
        response = await run_async(single(gemini.build_file_get(self.settings, name)), self._transport.send)
        return gemini.parse_file(response.json())

    async def delete(self, *, name: str) -> None:
        """Delete a file."""
        await run_async(single(gemini.build_file_delete(self.settings, name)), self._transport.send)

    def download(self, *, name: str) -> AsyncIterator[bytes]:
        """A file's bytes in chunks."""
        return self._transport.stream(gemini.build_file_download(self.settings, name))


class GenAIBatchClient(Resource):
    """Blocking client for both backends: ``client.batches``, ``client.files`` and (Gemini) ``client.webhooks``.

    Example::

        client = GenAIBatchClient(backend="vertex", project="p", location="us-central1",
                                  gcs_staging_prefix="gs://bucket/staging")
        job = client.batches.create(model="gemini-2.5-flash", src="gs://bucket/in.jsonl")
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        auth: AuthProvider | None = None,
        http_client: httpx.Client | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(_settings(settings, overrides))
        self.auth = auth or build_auth_provider(self.settings)
        self._transport = SyncTransport(self.settings, self.auth, http_client=http_client)
        self.batches = Batches(self.settings, self._transport)
        self.files = Files(self.settings, self._transport)
        self.webhooks = Webhooks(self.settings, self._transport)

    def gcs_object(self, uri: str | GcsUri) -> ObjectMetadata:
        """A GCS object's metadata (generation, md5/crc32c): ``gs://bucket/path``, one GET, no bytes."""
        metadata: ObjectMetadata = run_sync(gcs_object_metadata(self.settings, uri), self._transport.send)
        return metadata

    def gcs_download(self, uri: str) -> Iterator[bytes]:
        """A GCS object's bytes in chunks (streamed; a dropped connection resumes with ``Range``)."""
        bucket, name = parse_gcs_uri(uri, "uri")
        return self._transport.stream(storage.build_download(self.settings, bucket, name))

    def gcs_upload(self, uri: str, data: IO[bytes], size: int, content_type: str = "application/jsonl") -> str:
        """Write ``size`` bytes of ``data`` (a seekable binary file) to ``uri`` with a resumable upload."""
        written: str = run_sync(upload_gcs_object(self.settings, uri, data, size, content_type), self._transport.send)
        return written

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()
        self.auth.close()

    def __enter__(self) -> GenAIBatchClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncGenAIBatchClient(Resource):
    """Async client for both backends; one connection pool, safe to share between coroutines of one loop.

    Example::

        async with AsyncGenAIBatchClient(settings) as client:
            job = await client.batches.get(name="batches/abc")
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        auth: AuthProvider | None = None,
        http_client: httpx.AsyncClient | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(_settings(settings, overrides))
        self.auth = auth or build_auth_provider(self.settings)
        self._transport = AsyncTransport(self.settings, self.auth, http_client=http_client)
        self.batches = AsyncBatches(self.settings, self._transport)
        self.files = AsyncFiles(self.settings, self._transport)
        self.webhooks = AsyncWebhooks(self.settings, self._transport)

    async def gcs_object(self, uri: str | GcsUri) -> ObjectMetadata:
        """A GCS object's metadata (generation, md5/crc32c), one GET."""
        metadata: ObjectMetadata = await run_async(gcs_object_metadata(self.settings, uri), self._transport.send)
        return metadata

    def gcs_download(self, uri: str) -> AsyncIterator[bytes]:
        """A GCS object's bytes in chunks (streamed; a dropped connection resumes with ``Range``)."""
        bucket, name = parse_gcs_uri(uri, "uri")
        return self._transport.stream(storage.build_download(self.settings, bucket, name))

    async def gcs_upload(self, uri: str, data: IO[bytes], size: int, content_type: str = "application/jsonl") -> str:
        """Write ``size`` bytes of ``data`` (a seekable binary file, read in a worker thread) to ``uri``."""
        plan = upload_gcs_object(self.settings, uri, data, size, content_type)
        written: str = await run_async(plan, self._transport.send, offload=True)
        return written

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.aclose()
        self.auth.close()

    async def __aenter__(self) -> AsyncGenAIBatchClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
