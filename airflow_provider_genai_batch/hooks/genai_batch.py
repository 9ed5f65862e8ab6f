"""The Airflow hook: a ``genai_batch`` (or ``google_cloud_platform``) connection turned into a shared client.

The hook reads the connection once, registers its secrets with the log masker, and takes its client from a
per-process cache (per event loop for the async client), so every task and trigger of a process that uses the
same connection shares one connection pool. Async methods never block the event loop: the connection is read
with the task SDK's async getter (or in a thread on older Airflow) and the client is built in a thread.

Example::

    hook = GenAIBatchHook(genai_batch_conn_id="genai_batch_default")
    job = hook.create_job(model="gemini-2.5-flash", src=[{"contents": "hi"}])
    job = hook.get_job(job.name)
    for result in hook.iter_results(job):
        ...
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_genai_batch.client import (
    AsyncGenAIBatchClient,
    BatchJob,
    BatchResult,
    ClientSettings,
    GenAIBatchClient,
)
from airflow_provider_genai_batch.client.creation import PreparedCreate, prepare_create, prepare_create_embeddings
from airflow_provider_genai_batch.client.names import JobNaming
from airflow_provider_genai_batch.client.redaction import redact_url, scrub
from airflow_provider_genai_batch.client.sources import FileSource, GcsSource, RequestObserver
from airflow_provider_genai_batch.hooks import client_cache
from airflow_provider_genai_batch.hooks.connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    connection_fingerprint,
    connection_secrets,
    decode_extras,
    settings_from_connection,
)
from airflow_provider_genai_batch.hooks.lookup import DEFAULT_MAX_SCANNED, KeyedJobScan, scan_listed_jobs
from airflow_provider_genai_batch.links.urls import console_url

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["GenAIBatchHook"]


def _secrets_of(conn: Connection, extras: Mapping[str, Any] | None) -> list[str]:
    """Every secret value a connection holds, in every form the masker must know (see ``connection_secrets``)."""
    return connection_secrets(conn, extras)


def _scrub(message: str, secrets: list[str]) -> str:
    """``message`` without any form or piece of ``secrets`` nor anything secret-looking (``client.redaction``)."""
    return scrub(message, secrets)


class GenAIBatchHook(BaseHook):
    """Interact with Gemini Developer API batches and Vertex AI batch prediction through one shared client.

    :param genai_batch_conn_id: a ``genai_batch`` connection (or a ``google_cloud_platform`` one for Vertex AI).
    :param read_since: a ``time.monotonic()`` instant (the trigger's creation): the async methods may then reuse
        a read of the connection by another hook of the same event loop that started at or after it, instead
        of reading it again (``client_cache.shared_read``). ``None`` (the default): this hook reads it itself.

    Example::

        hook = GenAIBatchHook()
        ok, message = hook.test_connection()
        jobs = list(hook.list_jobs(page_size=10))
    """

    conn_name_attr = "genai_batch_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Google Gen AI batch"

    def __init__(
        self, genai_batch_conn_id: str = DEFAULT_CONN_ID, *, read_since: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.genai_batch_conn_id = genai_batch_conn_id
        self.read_since = read_since
        self._settings: ClientSettings | None = None
        self._fingerprint: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(genai_batch_conn_id={self.genai_batch_conn_id!r})"

    # --- connection and settings ----------------------------------------------------------------

    def _load(self, conn: Connection, extras: Mapping[str, Any]) -> ClientSettings:
        self._fingerprint = connection_fingerprint(conn, extras)
        self._settings = client_cache.shared_settings(self._fingerprint, lambda: settings_from_connection(conn, extras))
        return self._settings

    def get_settings(self) -> ClientSettings:
        """The client settings of the connection (read once per hook)."""
        if self._settings is None:
            conn = self.get_connection(self.genai_batch_conn_id)
            _mask(_secrets_of(conn, None))  # before decoding: an error below may quote nothing unmasked
            extras = decode_extras(conn)
            self._load(conn, extras)
        assert self._settings is not None
        return self._settings

    async def aget_settings(self) -> ClientSettings:
        """The client settings, read without blocking the event loop (shared per ``read_since``, see above)."""
        if self._settings is None:
            if self.read_since is None:
                self._fingerprint, self._settings = await self._aread_settings()
            else:
                self._fingerprint, self._settings = await client_cache.shared_read(
                    self.genai_batch_conn_id, self.read_since, self._aread_settings
                )
        assert self._settings is not None
        return self._settings

    async def _aread_settings(self) -> tuple[str, ClientSettings]:
        """Read the connection, mask its secrets, and return its fingerprint and (shared) settings."""
        conn = await self._aget_connection()
        await _amask(_secrets_of(conn, None))
        extras = decode_extras(conn)
        fingerprint = connection_fingerprint(conn, extras)
        return fingerprint, client_cache.shared_settings(fingerprint, lambda: settings_from_connection(conn, extras))

    async def _aget_connection(self) -> Connection:
        getter = getattr(BaseHook, "aget_connection", None)
        if getter is not None:
            conn: Connection = await getter(self.genai_batch_conn_id)
            return conn
        return await asyncio.to_thread(self.get_connection, self.genai_batch_conn_id)

    def get_cached_settings(self) -> ClientSettings | None:
        """The settings if already read (never reads the connection: safe inside an event loop)."""
        return self._settings

    @property
    def backend(self) -> str:
        """``gemini`` or ``vertex``."""
        return self.get_settings().backend

    def console_url(self, job_name: str) -> str:
        """The page where a person can look at ``job_name``."""
        settings = self.get_settings()
        return console_url(settings.backend, job_name, project=settings.project, location=settings.location)

    # --- clients --------------------------------------------------------------------------------

    def get_conn(self) -> GenAIBatchClient:
        """The process's sync client for this connection."""
        settings = self.get_settings()
        assert self._fingerprint is not None
        return client_cache.sync_client(self.genai_batch_conn_id, self._fingerprint, lambda: GenAIBatchClient(settings))

    async def aget_conn(self) -> AsyncGenAIBatchClient:
        """The running event loop's async client for this connection."""
        settings = await self.aget_settings()
        assert self._fingerprint is not None
        return await client_cache.async_client(
            self.genai_batch_conn_id, self._fingerprint, lambda: AsyncGenAIBatchClient(settings)
        )

    # --- validation (no network) ----------------------------------------------------------------

    def prepare_create(
        self,
        *,
        model: str,
        src: Any,
        config: Any = None,
        embeddings: bool = False,
        naming: JobNaming | None = None,
        each: RequestObserver | None = None,
    ) -> PreparedCreate:
        """A create checked as the client will check it, without any network call (raises InvalidInputError).

        Send it with :meth:`create_prepared`; nothing is validated twice and a local JSONL file is read once here
        (validated and hashed) and once more when it is uploaded. ``naming`` and ``each``: see
        ``client.creation.prepare_create``.
        """
        prepare = prepare_create_embeddings if embeddings else prepare_create
        return prepare(self.get_settings(), model=model, src=src, config=config, naming=naming, each=each)

    def validate_create(self, *, model: str, src: Any, config: Any = None, embeddings: bool = False) -> None:
        """Check a create's input as the client will, without any network call (raises InvalidInputError)."""
        self.prepare_create(model=model, src=src, config=config, embeddings=embeddings).cleanup.close()

    def input_identity(self, prepared: PreparedCreate) -> dict[str, Any] | None:
        """Which version of its content a prepared create names, so the idempotency key can follow it.

        - a local JSONL file: the SHA-256 of its bytes, computed while ``prepare_create`` validated it;
        - ``gs://`` objects (Vertex AI): each object's ``generation`` and ``md5Hash``/``crc32c``, one metadata
          GET per object (no bytes); a wildcard URI cannot be read this way and is keyed by its text only;
        - ``files/...`` (Gemini Files API): the file's ``sha256Hash`` and ``createTime``, one files.get;
        - ``bq://`` tables: None. This provider has no BigQuery client, so a rewritten table keeps its key: a
          re-run reattaches to the job that read the old rows (use ``force_rerun`` or a new table name);
        - requests given inline: None (their content is already part of the key).

        Example::

            identity = hook.input_identity(hook.prepare_create(model="gemini-2.5-flash", src="gs://b/in.jsonl"))
            # {"gcs": [["gs://b/in.jsonl", "1733050000000000", "md5:...", "crc32c:..."]]}
        """
        source = prepared.source
        if prepared.content_sha256 is not None:
            return {"sha256": prepared.content_sha256}
        if isinstance(source, GcsSource):
            client = self.get_conn()
            versions = []
            for uri in source.uris:
                if uri.has_wildcard:
                    continue
                meta = client.gcs_object(uri)
                versions.append([str(uri), meta.generation, meta.md5_hash, meta.crc32c])
            return {"gcs": versions}
        if isinstance(source, FileSource):
            file = self.get_conn().files.get(name=source.file_name)
            created = file.create_time.isoformat() if file.create_time else None
            return {"file": [source.file_name, file.sha256_hash, created, file.size_bytes]}
        return None

    # --- verbs (sync) ---------------------------------------------------------------------------

    def create_job(self, *, model: str, src: Any, config: Any = None) -> BatchJob:
        """Create a generation batch job (sends the create once; see the operator for look-up by key)."""
        return self.get_conn().batches.create(model=model, src=src, config=config)

    def create_embeddings_job(self, *, model: str, src: Any, config: Any = None) -> BatchJob:
        """Create an embeddings batch job (Gemini)."""
        return self.get_conn().batches.create_embeddings(model=model, src=src, config=config)

    def create_prepared(self, prepared: PreparedCreate) -> BatchJob:
        """Send a create from :meth:`prepare_create` (again, after an ambiguous failure: the same request).

        With a connection's ``webhook_url`` (Gemini), the job asks for a dynamic webhook there, carrying its
        idempotency key in ``user_metadata`` (a ``webhook_config`` the user gave is kept as given).
        """
        from airflow_provider_genai_batch.webhooks.config import with_dynamic_webhook

        client = self.get_conn()
        return client.batches.create_prepared(with_dynamic_webhook(prepared, self.get_settings()))

    def get_job(self, name: str) -> BatchJob:
        """Read a job."""
        return self.get_conn().batches.get(name=name)

    def list_jobs(self, *, page_size: int | None = None, filter: str | None = None) -> Iterator[BatchJob]:
        """Every job, page after page (``filter``: Vertex AI only, AIP-160 syntax)."""
        return self.get_conn().batches.list(page_size=page_size, filter=filter)

    def cancel_job(self, name: str) -> None:
        """Ask the service to cancel a job."""
        self.get_conn().batches.cancel(name=name)

    def delete_job(self, name: str) -> None:
        """Delete a job."""
        self.get_conn().batches.delete(name=name)

    def iter_results(self, job: BatchJob | str) -> Iterator[BatchResult]:
        """Stream a finished job's per-request results in bounded memory."""
        return self.get_conn().batches.iter_results(job)

    def upload_file(self, file: Any, *, display_name: str | None = None) -> str:
        """Upload a JSONL file (a path, bytes or requests) to the Gemini Files API; return ``files/...``."""
        uploaded = self.get_conn().files.upload(file, mime_type="jsonl", display_name=display_name)
        return uploaded.name or ""

    def find_job_by_key(
        self,
        key: str | Sequence[str],
        *,
        not_before: dt.datetime | None = None,
        max_scanned: int = DEFAULT_MAX_SCANNED,
        accept_ended: bool = False,
    ) -> BatchJob | None:
        """The reattachable job carrying ``key`` (or one of several keys), or None when the list holds none.

        The earliest created of several (the survivor of duplicates). Raises ``KeyLookupIncompleteError`` when
        ``max_scanned`` jobs were read without an answer; list errors propagate. See ``hooks.lookup`` for the
        rules and what the look-up costs on each backend.
        """
        return self.scan_jobs_by_key(
            key, not_before=not_before, max_scanned=max_scanned, accept_ended=accept_ended
        ).best

    def scan_jobs_by_key(
        self,
        key: str | Sequence[str],
        *,
        not_before: dt.datetime | None = None,
        max_scanned: int = DEFAULT_MAX_SCANNED,
        accept_ended: bool = False,
    ) -> KeyedJobScan:
        """The complete scan of the jobs carrying ``key`` (every candidate, ``best`` and ``duplicates``): the
        provider's one look-up, ``hooks.lookup.scan_listed_jobs`` (Vertex AI: filtered by label; Gemini: the whole
        list, up to ``max_scanned`` jobs; finished keyed entries read again)."""
        wanted = KeyedJobScan(key, not_before=not_before, max_scanned=max_scanned, accept_ended=accept_ended)
        scan = scan_listed_jobs(self.get_conn().batches, self.backend, wanted)
        self.log.info(
            "Look-up of key %s: %d job(s) carry it, after reading %d job(s)",
            scan.key,
            len(scan.candidates),
            scan.scanned,
        )
        return scan

    # --- verbs (async) --------------------------------------------------------------------------

    async def aget_job(self, name: str) -> BatchJob:
        """Read a job without blocking the loop."""
        return await (await self.aget_conn()).batches.get(name=name)

    async def acancel_job(self, name: str) -> None:
        """Ask for cancellation without blocking the loop."""
        await (await self.aget_conn()).batches.cancel(name=name)

    async def alist_jobs(self, *, page_size: int | None = None, filter: str | None = None) -> AsyncIterator[BatchJob]:
        """Every job, page after page."""
        client = await self.aget_conn()
        async for job in client.batches.list(page_size=page_size, filter=filter):
            yield job

    async def aiter_results(self, job: BatchJob | str) -> AsyncIterator[BatchResult]:
        """Stream a finished job's results without blocking the loop."""
        client = await self.aget_conn()
        async for result in client.batches.iter_results(job):
            yield result

    # --- connection test ------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """One cheap real call (list one job); the message never contains a secret."""
        secrets: list[str] = []
        try:
            conn = self.get_connection(self.genai_batch_conn_id)
            secrets = _secrets_of(conn, None)  # the password and host, known even if the extras do not parse
            _mask(secrets)
            extras = decode_extras(conn)
            settings = self._load(conn, extras)
            with GenAIBatchClient(settings) as client:
                next(iter(client.batches.list(page_size=1)), None)
        except Exception as exc:  # any failure is reported, never raised, and scrubbed of secrets
            return False, _scrub(f"{type(exc).__name__}: {exc}", secrets)
        where = redact_url(settings.effective_base_url)
        return True, f"Connected to the {settings.backend} batch API at {where}."


def _mask(secrets: list[str]) -> None:
    """Register ``secrets`` with Airflow's log masker (in the task process and its supervisor)."""
    from airflow.sdk.log import mask_secret

    for secret in _maskable(secrets):
        mask_secret(secret)


def _maskable(secrets: list[str]) -> list[str]:
    """The secrets Airflow's masker takes (it skips, with a warning, those under 5 characters)."""
    return [secret for secret in secrets if len(secret) >= 5]


async def _amask(secrets: list[str]) -> None:
    from airflow.sdk import log as sdk_log

    amask = getattr(sdk_log, "amask_secret", None)
    for secret in _maskable(secrets):
        if amask is not None:
            await amask(secret)
        else:
            sdk_log.mask_secret(secret)
