"""common-ai ``BatchAdapter`` implementations for the Gemini Developer API and Vertex AI, on this client.

Registered under the ``airflow.providers.common.ai.batch_adapters`` entry point group: ``google`` and
``google-gla`` (Gemini Developer API), ``google-cloud`` and ``google-vertex`` (Vertex AI). common-ai's
triggerer builds one adapter per trigger and calls ``get_batch`` in a worker thread on every poll; every
adapter built from the same connection values shares one process-wide client (one connection pool), the
client is safe across threads, and :meth:`close` leaves that shared pool open.

Example::

    adapter = GeminiBatchAdapter(api_key="AIza...")
    state = adapter.get_batch("batches/abc")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.ai.batch.base import (
    BatchAdapter,
    BatchRequest,
    BatchState,
    ExtractedOutput,
    RawResultItem,
    SubmitResult,
)

from airflow_provider_genai_batch.client.creation import prepare_create
from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.jsonl import request_line
from airflow_provider_genai_batch.client.models import BatchJob, JobState
from airflow_provider_genai_batch.client.results import BatchResult, results_location
from airflow_provider_genai_batch.client.sources import InlineSource
from airflow_provider_genai_batch.common_ai import outcomes
from airflow_provider_genai_batch.common_ai.connection import STAGING_ENV, adapter_settings, shared_client
from airflow_provider_genai_batch.common_ai.errors import BatchLimitError, BatchModelError, as_batch_input_error
from airflow_provider_genai_batch.common_ai.items import batch_key, build_items, job_config
from airflow_provider_genai_batch.deployment import accept_legacy_keys, deployment_digest_from_config
from airflow_provider_genai_batch.hooks.lookup import KeyedJobScan, scan_listed_jobs
from airflow_provider_genai_batch.policy.defaults import DEFAULT_MAX_SCANNED
from airflow_provider_genai_batch.policy.idempotency import DISPLAY_NAME_MARKER

if TYPE_CHECKING:
    from airflow.providers.common.ai.batch.output_schema import OutputSpec

    from airflow_provider_genai_batch.client import GenAIBatchClient

__all__ = [
    "GeminiBatchAdapter",
    "GeminiLegacyBatchAdapter",
    "GoogleBatchAdapter",
    "VertexBatchAdapter",
    "VertexLegacyBatchAdapter",
]

#: A job created up to this long before the intent record (clock skew) still counts as the orphan.
ORPHAN_CLOCK_SKEW = dt.timedelta(minutes=2)


class GoogleBatchAdapter(BatchAdapter):
    """Shared implementation; use :class:`GeminiBatchAdapter` or :class:`VertexBatchAdapter`.

    Example::

        adapter = VertexBatchAdapter()            # GOOGLE_CLOUD_PROJECT and ADC from the environment
        result = adapter.submit(requests, model="gemini-2.5-flash", idempotency_key=key16,
                                input_fingerprint=fp, output_spec=spec)
    """

    backend: ClassVar[str]
    #: Every ``model_id`` prefix that reaches this backend (per-request overrides may use any of them).
    prefixes: ClassVar[frozenset[str]]
    #: One model per job on both APIs (the create call names it).
    allows_per_request_model = False
    #: The most Gemini jobs one orphan look-up reads before it raises (the operators' ``lookup_max_jobs``).
    lookup_max_jobs: int = DEFAULT_MAX_SCANNED

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, client: Any | None = None) -> None:
        self._fingerprint, self.settings = adapter_settings(self.backend, api_key=api_key, base_url=base_url)
        self._client = client  # injected, or the shared client on first use

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self.backend!r}, base_url={self.settings.effective_base_url!r})"

    @property
    def client(self) -> GenAIBatchClient:
        """The process's client for this adapter's connection values (built on first use)."""
        if self._client is None:
            self._client = shared_client(self._fingerprint, self.settings)
        client: GenAIBatchClient = self._client
        return client

    def close(self) -> None:
        """Forget the client; the shared pool stays open for the other adapters of the process."""
        self._client = None

    # --- requests ---------------------------------------------------------------------------------

    def resolve_request_model(self, request_model: str | None, *, default_bare_model: str, request_index: int) -> str:
        """``None`` or ``<prefix>:<model>`` with any of this backend's prefixes; it must be the batch's model."""
        if request_model is None:
            return default_bare_model
        prefix, sep, bare = str(request_model).partition(":")
        if not sep or prefix not in self.prefixes or not bare:
            raise BatchModelError(
                f"requests[{request_index}].model",
                f"{request_model!r} is not a {self.name!r} model",
                f"write it as '{self.name}:<model>', the batch's own prefix",
            )
        if bare != default_bare_model:
            raise BatchModelError(
                f"requests[{request_index}].model",
                f"{bare!r} differs from the batch's model {default_bare_model!r}, and a batch job runs one model",
                "drop the per-request model, or split the requests into one task per model",
            )
        return bare

    def build_output_directive(self, spec: OutputSpec) -> dict[str, Any]:
        """``response_mime_type`` + ``response_json_schema`` (JSON Schema as-is) for structured output."""
        if not spec.is_structured:
            return {}
        return {"response_mime_type": "application/json", "response_json_schema": spec.json_schema}

    def _items(
        self,
        requests: list[BatchRequest],
        model: str,
        key16: str,
        output_spec: OutputSpec,
        system_prompt: str,
        max_tokens: int,
        request_params: dict[str, Any] | None,
    ) -> list[dict[str, Any]]:
        return list(
            build_items(
                list(requests),
                key16=key16,
                system_prompt=system_prompt,
                max_tokens=max_tokens,
                request_params=request_params,
                directive=self.build_output_directive(output_spec),
                check_model=lambda value, index: self.resolve_request_model(
                    value, default_bare_model=model, request_index=index
                ),
            )
        )

    def _check_staging(self) -> None:
        if self.backend == "vertex" and not self.settings.gcs_staging_prefix:
            raise as_batch_input_error(
                InvalidInputError(
                    STAGING_ENV,
                    "Vertex AI reads batch input only from GCS, and no staging prefix is set",
                    f"set {STAGING_ENV}=gs://bucket/prefix on workers (prompts are staged there as JSONL)",
                )
            )

    def validate_requests(
        self,
        requests: list[BatchRequest],
        *,
        model: str,
        output_spec: OutputSpec,
        idempotency_key: str,
        system_prompt: str = "",
        max_tokens: int = 1024,
        request_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Count, bytes (as sent, one JSONL line per request) and every field, before any network call."""
        self.check_custom_id_length(idempotency_key, len(requests), max_length=128)
        if len(requests) > self.max_requests:
            raise BatchLimitError(
                "requests",
                f"holds {len(requests):,} requests; a {self.name!r} batch takes at most {self.max_requests:,}",
                f"split the input across mapped task instances with .expand() so each submits at most "
                f"{self.max_requests:,}",
            )
        self._check_staging()
        items = self._items(requests, model, idempotency_key, output_spec, system_prompt, max_tokens, request_params)
        try:
            prepared = prepare_create(self.settings, model=model, src=items, config=None)
        except InvalidInputError as exc:
            raise as_batch_input_error(exc) from None
        prepared.cleanup.close()
        wire = prepared.source.requests if isinstance(prepared.source, InlineSource) else []
        total = 0
        for index, request in enumerate(wire):
            total += len(request_line(request, index))
            if total > self.max_payload_bytes:
                raise BatchLimitError(
                    "requests",
                    f"reach {total:,} bytes as JSONL at request {index + 1} of {len(requests):,}; a {self.name!r} "
                    f"batch takes at most {self.max_payload_bytes:,} bytes",
                    "split the input with .expand() (a large output_type schema is repeated in every request)",
                )

    def submit(
        self,
        requests: list[BatchRequest],
        *,
        model: str,
        idempotency_key: str,
        input_fingerprint: str,
        output_spec: OutputSpec,
        system_prompt: str = "",
        max_tokens: int = 1024,
        request_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SubmitResult:
        """Create the job (Gemini: inline up to 20 MB, an uploaded file above; Vertex: JSONL staged to GCS)."""
        self._check_staging()
        items = self._items(requests, model, idempotency_key, output_spec, system_prompt, max_tokens, request_params)
        config = job_config(
            backend=self.backend,
            key16=idempotency_key,
            input_fingerprint=input_fingerprint,
            deployment=deployment_digest_from_config(),
        )
        try:
            job = self.client.batches.create(model=model, src=items, config=config)
        except InvalidInputError as exc:
            raise as_batch_input_error(exc) from None
        return SubmitResult(batch_id=job.name, provider_input_ref=None)

    # --- status -----------------------------------------------------------------------------------

    def get_batch(self, batch_id: str) -> BatchState:
        """The job's state in common-ai's five, with request counts."""
        return outcomes.batch_state(self.client.batches.get(name=batch_id))

    def cancel_batch(self, batch_id: str) -> None:
        """Ask the service to cancel the job."""
        self.client.batches.cancel(name=batch_id)

    # --- results ----------------------------------------------------------------------------------

    def iter_results(self, batch_id: str) -> Iterator[RawResultItem]:
        """Stream every result re-keyed to its request index (reads the job now, so a bad id raises here)."""
        job = self.client.batches.get(name=batch_id)
        return self._iter_results(job)

    def _iter_results(self, job: BatchJob) -> Iterator[RawResultItem]:
        unfinished = outcomes.unfinished_status(job)
        results: Iterator[BatchResult]
        if job.state in (JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED):
            results = self.client.batches.iter_results(job)
        elif unfinished is not None and _has_results(job):
            # An expired or cancelled job may still hold the results of the requests that ran.
            results = self.client.batches.iter_results(job.model_copy(update={"state": JobState.PARTIALLY_SUCCEEDED}))
        else:
            results = iter(())
        yield from outcomes.raw_items(
            results, total=job.request_counts.total, prefix=_key16_of(job), unfinished=unfinished
        )

    def extract_output(self, raw: RawResultItem, spec: OutputSpec) -> ExtractedOutput:
        """The first candidate's text (thoughts left out); with an ``output_type``, that text is the JSON."""
        return outcomes.extract_output(raw, spec.is_structured)

    # --- orphan recovery --------------------------------------------------------------------------

    def find_orphaned_batch(self, idempotency_key: str, input_fingerprint: str, not_before: str) -> str | None:
        """The newest running or finished job whose name (and Vertex label) carries this key and input and that
        was created at or after ``not_before`` (less two minutes of clock skew); ``None`` when there is none.

        The key includes this deployment (``airflow_provider_genai_batch.deployment``; the legacy key too while
        ``[genai_batch] accept_legacy_keys``: the orphan's intent record is this task instance's own).
        The provider's one look-up by key (``hooks.lookup.scan_listed_jobs``, the create operators' too; only
        the choice among several candidates differs, newest here as common-ai asks): Vertex filters the list by
        label server-side (one short page); Gemini reads its whole list, which has no filter and no documented
        order, up to ``lookup_max_jobs`` jobs. A look-up that fails or spends that budget without reaching the
        end of the list raises (common-ai then treats the orphan as unknown and does not resubmit).
        """
        since = _parse_time(not_before) - ORPHAN_CLOCK_SKEW
        deployment = deployment_digest_from_config()
        keys = [batch_key(idempotency_key, input_fingerprint, deployment)]
        if deployment and accept_legacy_keys():  # a job submitted before the upgrade (see the deployment module)
            keys.append(batch_key(idempotency_key, input_fingerprint))
        wanted = KeyedJobScan(keys, not_before=since, max_scanned=self.lookup_max_jobs, prefer="newest")
        scan = scan_listed_jobs(self.client.batches, self.backend, wanted)
        best = scan.best
        return best.name if best is not None else None


def _has_results(job: BatchJob) -> bool:
    location = results_location(job)
    if location.kind == "gcs":
        return bool(job.output_info and job.output_info.gcs_output_directory)
    return location.kind in ("inline", "file")


def _key16_of(job: BatchJob) -> str | None:
    """The common-ai key prefix this provider's display name carries (``llm_batch-<key16>--gbk-...``)."""
    name = job.display_name or ""
    head, sep, _ = name.rpartition(DISPLAY_NAME_MARKER)
    if not sep or not head.startswith("llm_batch-"):
        return None
    return head.removeprefix("llm_batch-") or None


def _parse_time(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class GeminiBatchAdapter(GoogleBatchAdapter):
    """Gemini Developer API batches for ``model_id="google:<model>"`` (half the price of ``@task.llm``).

    Connection: ``pydanticai`` (or ``genai_batch``); password = Gemini API key, host = base URL (optional).
    Inline prompts above 20 MB are uploaded as a JSONL file instead of failing.

    Example::

        GeminiBatchAdapter(api_key="AIza...", base_url="http://127.0.0.1:8085")
    """

    name = "google"
    backend = "gemini"
    prefixes = frozenset({"google", "google-gla"})
    conn_types = frozenset({"pydanticai", "genai_batch"})
    #: No per-batch request count is documented; this cap keeps the worker's merge bounded.
    max_requests = 1_000_000
    #: The documented input-file limit (inline requests above 20 MB go through an uploaded file).
    max_payload_bytes = 2_000_000_000


class GeminiLegacyBatchAdapter(GeminiBatchAdapter):
    """``google-gla:``, pydantic-ai's pre-v2 name for the Gemini Developer API.

    Example::

        GeminiLegacyBatchAdapter(api_key="AIza...")
    """

    name = "google-gla"


class VertexBatchAdapter(GoogleBatchAdapter):
    """Vertex AI batch prediction for ``model_id="google-cloud:<model>"``; prompts staged to GCS as JSONL.

    Project, location and staging prefix come from ``GOOGLE_CLOUD_PROJECT``, ``GOOGLE_CLOUD_LOCATION`` and
    ``GENAI_BATCH_GCS_STAGING_PREFIX``; credentials from Application Default Credentials (or a Vertex API key
    in the connection's password).

    Example::

        VertexBatchAdapter()
    """

    name = "google-cloud"
    backend = "vertex"
    prefixes = frozenset({"google-cloud", "google-vertex"})
    conn_types = frozenset({"pydanticai", "pydanticai_vertex", "genai_batch", "google_cloud_platform"})
    #: Vertex AI's documented limits for a Gemini batch prediction job.
    max_requests = 200_000
    max_payload_bytes = 1_000_000_000


class VertexLegacyBatchAdapter(VertexBatchAdapter):
    """``google-vertex:``, pydantic-ai's pre-v2 name for Vertex AI.

    Example::

        VertexLegacyBatchAdapter()
    """

    name = "google-vertex"
