"""How a ``create`` call becomes requests: validate everything first, upload or stage inputs, then create.

All checks that can fail on the caller's input run in ``prepare_*`` before any network call, once: a local
JSONL file is validated and hashed in one read, and that hash names its staging object too. A caller that
names the job only later (the operators append an idempotency key) calls ``PreparedCreate.rename``; names
that are derived (Vertex's output destination) are derived once, when the create is first sent, and kept,
so a create sent again sends the very same request. The plan that follows uploads (Gemini Files API, or a
GCS staging object for Vertex) and sends the create once.

Example::

    prepared = prepare_create(settings, model="gemini-2.5-flash", src=[...], config=None)
    job = run_sync(create_plan(settings, prepared), transport.send)
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from pydantic import ValidationError
from pydantic.alias_generators import to_snake

from airflow_provider_genai_batch.client.errors import InvalidInputError, UnsupportedOperationError
from airflow_provider_genai_batch.client.jsonl import (
    SpooledFile,
    StampedJsonlFile,
    request_line,
    spool_requests,
    validate_jsonl_file,
)
from airflow_provider_genai_batch.client.models import BatchJob, BatchJobDestination, CreateBatchJobConfig
from airflow_provider_genai_batch.client.names import (
    DISPLAY_NAME_MAX,
    GcsUri,
    JobNaming,
    ModelName,
    check_labels,
    check_printable,
)
from airflow_provider_genai_batch.client.plans import Plan, upload_file, upload_gcs_object
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.sources import (
    BigQuerySource,
    FileSource,
    GcsSource,
    InlineSource,
    LocalFileSource,
    RequestObserver,
    Source,
    StreamSource,
    iter_stream_requests,
    resolve_embeddings_source,
    resolve_source,
)
from airflow_provider_genai_batch.client.validation import invalid_input_from
from airflow_provider_genai_batch.client.wire import gemini, vertex
from airflow_provider_genai_batch.client.wire.common import JsonDict, check_bigquery_uri, compact_json
from airflow_provider_genai_batch.client.wire.generation import Target

# CreateBatchJobConfig's fields; http_options (an SDK transport option) is accepted and ignored.
_CONFIG_FIELDS = frozenset({"display_name", "dest", "labels", "webhook_config", "http_options"})


@dataclass
class PreparedCreate:
    """A validated create: the model, the source kind, and everything the create body needs.

    A create whose job is named later, with its idempotency key (the operators), carries its ``naming``: checked
    once by ``prepare_create`` (with room for the key label among the labels), then applied by :meth:`key`
    without another check.
    """

    model: ModelName
    source: Source
    config: CreateBatchJobConfig
    embeddings: bool = False
    display_name: str | None = None
    output_config: JsonDict | None = None
    cleanup: ExitStack = field(default_factory=ExitStack)
    #: SHA-256 of a local JSONL source, computed while validating it (None for other sources).
    content_sha256: str | None = None
    #: Bytes of a local JSONL source once its lines are stamped (what is uploaded or staged).
    stamped_size: int = 0
    #: The model's resource path on the backend (``models/...``, ``publishers/google/models/...``), built once.
    resource: str = ""
    #: The display name to key (see :meth:`key`); None when the caller named the job itself.
    naming: JobNaming | None = None
    backend: str = "gemini"

    def key(self, key: str) -> None:
        """Name the job with its idempotency key: display name ``<name>--gbk-<key>`` and, on Vertex AI, the key
        label (``names.JobNaming.config``). Nothing is validated again: the naming and labels were checked when
        this create was prepared. Must come before the create is first sent."""
        if self.naming is None:
            raise RuntimeError("key() on a create prepared without a naming")
        self._guard_rename()
        named = self.naming.config(key, backend=self.backend, labels=self.config.labels)
        self.display_name = named["display_name"]
        self.config = self.config.model_copy(update={"display_name": self.display_name, "labels": named.get("labels")})

    def rename(self, display_name: str, labels: dict[str, str] | None = None) -> None:
        """Give the job another display name (and Vertex labels), checked: both are new values.

        Must come before the create is first sent: a derived output destination may name the job.
        """
        self._guard_rename()
        self.display_name = _check_display_name(display_name)
        check_labels(labels)
        self.config = self.config.model_copy(update={"display_name": display_name, "labels": labels or None})

    def _guard_rename(self) -> None:
        if self.output_config is not None and _derived_from_name(self):
            raise RuntimeError("renamed after the output destination was derived from the old name")


def parse_config(config: Any) -> CreateBatchJobConfig:
    """Validate ``config`` (a dict, a CreateBatchJobConfig or google-genai's) naming the bad field."""
    if config is None:
        return CreateBatchJobConfig()
    if isinstance(config, dict):
        unknown = sorted(k for k in config if to_snake(str(k)) not in _CONFIG_FIELDS)
        if unknown:
            raise InvalidInputError(
                f"config.{unknown[0]}",
                "is not a batch job setting",
                f"use only {', '.join(sorted(_CONFIG_FIELDS - {'http_options'}))}",
            )
    try:
        return CreateBatchJobConfig.model_validate(config)
    except ValidationError as exc:
        raise invalid_input_from(exc, "config") from None


def _check_display_name(name: str | None) -> str | None:
    if name is None:
        return None
    if not name.strip() or len(name) > DISPLAY_NAME_MAX:
        raise InvalidInputError(
            "config.display_name", f"must be 1 to {DISPLAY_NAME_MAX} characters", "shorten the display name"
        )
    return check_printable(name, "config.display_name")


def _validate_local(source: Source) -> tuple[str | None, int]:
    """Validate a local JSONL source; return the SHA-256 of its content and the size of its stamped lines (read
    once for all three)."""
    if isinstance(source, LocalFileSource):
        check = validate_jsonl_file(source.path)
        return check.sha256, check.stamped_size
    return None, 0


def _derived_from_name(prepared: PreparedCreate) -> bool:
    """Whether the output destination is derived from the display name (Vertex, staged input, no dest)."""
    staged = isinstance(prepared.source, InlineSource | LocalFileSource | StreamSource)
    return staged and _dest_uri(prepared.config.dest) is None


def _target(settings: ClientSettings) -> Target:
    return Target(settings.backend, settings.project, settings.location)


def _named(parsed: CreateBatchJobConfig, naming: JobNaming | None, backend: str) -> str | None:
    """The display name to send now (None until :meth:`PreparedCreate.key` when ``naming`` is given), checked
    here once: the caller's own name, or the naming's labels with room for the key label."""
    if naming is None:
        return _check_display_name(parsed.display_name)
    if backend == "vertex":
        check_labels(parsed.labels, keyed=True)
    return None


def prepare_create(
    settings: ClientSettings,
    *,
    model: str,
    src: Any,
    config: Any,
    naming: JobNaming | None = None,
    each: RequestObserver | None = None,
) -> PreparedCreate:
    """Validate a generation batch; raise InvalidInputError before any network call.

    ``naming``: the job is named later with its key (:meth:`PreparedCreate.key`); ``config`` then holds no display
    name. ``each``: called with ``(index, request)`` for each request of a list, as it is converted (the
    operators check and hash it in the same pass).
    """
    parsed = parse_config(config)
    checked = ModelName.parse(model)
    display_name = _named(parsed, naming, settings.backend)
    if settings.backend == "gemini":
        resource = gemini.model_path(checked)
        if parsed.dest is not None:
            raise InvalidInputError(
                "config.dest",
                "the Gemini API chooses where results go",
                "remove dest (results come back inline or as a file named in the job)",
            )
        if parsed.labels:
            raise InvalidInputError("config.labels", "the Gemini API has no job labels", "remove labels")
        source = resolve_source(src, target=_target(settings), each=each)
        if isinstance(source, GcsSource | BigQuerySource):
            raise InvalidInputError(
                "src",
                "the Gemini API cannot read gs:// or bq:// sources",
                "use backend 'vertex', or pass requests, a local JSONL file or 'files/...'",
            )
        return _prepared(checked, source, parsed, resource=resource, naming=naming, display_name=display_name)
    resource = vertex.model_path(checked)
    if parsed.webhook_config is not None:  # an empty one too, as google-genai refuses it
        raise InvalidInputError("config.webhook_config", "Vertex AI has no batch webhooks", "remove it")
    if naming is None:
        check_labels(parsed.labels)
    source = resolve_source(src, target=_target(settings), each=each)
    if isinstance(source, FileSource):
        raise InvalidInputError(
            "src",
            "Vertex AI cannot read a Gemini Files API file",
            "use gs://, bq://, a local file or requests",
        )
    staged = isinstance(source, InlineSource | LocalFileSource | StreamSource)
    if staged and not settings.gcs_staging_prefix:
        raise InvalidInputError(
            "gcs_staging_prefix",
            "Vertex AI reads inputs only from GCS or BigQuery, and no staging prefix is set",
            "set gcs_staging_prefix (connection extra) to a gs:// prefix, or pass gs:// or bq:// sources",
        )
    name = display_name or (None if naming is not None else f"genai_batch_job_{_timestamp_and_token()}")
    prepared = _prepared(checked, source, parsed, resource=resource, naming=naming, display_name=name, backend="vertex")
    if _dest_uri(parsed.dest) is not None:
        prepared.output_config = vertex_output_config(settings, prepared)  # checks config.dest now
    elif isinstance(source, GcsSource) and not _single_jsonl(source):
        raise _no_derivable_dest()
    return prepared


def prepare_create_embeddings(
    settings: ClientSettings,
    *,
    model: str,
    src: Any,
    config: Any,
    naming: JobNaming | None = None,
    each: RequestObserver | None = None,
) -> PreparedCreate:
    """Validate an embeddings batch (Gemini only); ``naming`` and ``each`` as for :func:`prepare_create`."""
    if settings.backend != "gemini":
        raise UnsupportedOperationError(
            "backend",
            "embeddings batches are created on the Gemini Developer API only (google-genai's create_embeddings "
            "refuses Vertex AI too)",
            "use a gemini connection",
        )
    parsed = parse_config(config)
    checked = ModelName.parse(model)
    resource = gemini.model_path(checked)
    if parsed.dest is not None:
        raise InvalidInputError("config.dest", "the Gemini API chooses where results go", "remove dest")
    source = resolve_embeddings_source(src, each=each)
    display_name = _named(parsed, naming, "gemini")
    return _prepared(
        checked, source, parsed, resource=resource, naming=naming, display_name=display_name, embeddings=True
    )


def _prepared(
    model: ModelName,
    source: Source,
    parsed: CreateBatchJobConfig,
    *,
    resource: str,
    naming: JobNaming | None,
    display_name: str | None,
    backend: str = "gemini",
    embeddings: bool = False,
) -> PreparedCreate:
    """The prepared create, a local JSONL source validated and hashed in its one read (``_validate_local``)."""
    digest, stamped = _validate_local(source)
    return PreparedCreate(
        model,
        source,
        parsed,
        embeddings=embeddings,
        display_name=display_name,
        content_sha256=digest,
        stamped_size=stamped,
        resource=resource,
        naming=naming,
        backend=backend,
    )


def _single_jsonl(source: GcsSource) -> bool:
    """One ``.jsonl`` object: the source a destination can be derived from (``<object>/dest``)."""
    return len(source.uris) == 1 and source.uris[0].name.endswith(".jsonl")


def _dest_uri(dest: BatchJobDestination | str | None) -> str | None:
    if isinstance(dest, str):
        return dest
    if dest is None:
        return None
    return dest.gcs_uri or dest.bigquery_uri


def _timestamp_and_token() -> str:
    """``<UTC timestamp>_<5 hex digits>``, as google-genai suffixes the names it derives."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}_{secrets.token_hex(3)[:5]}"


def bigquery_dest_name(source_uri: str) -> str:
    """The output table derived for a BigQuery input without ``dest``, as google-genai derives it (random)."""
    return f"{source_uri}_dest_{_timestamp_and_token()}"


def _no_derivable_dest() -> InvalidInputError:
    return InvalidInputError(
        "config.dest",
        "no destination is set and none can be derived from the source",
        "set config.dest to a gs://bucket/prefix or bq://project.dataset[.table]",
    )


def output_config(settings: ClientSettings, prepared: PreparedCreate) -> JsonDict:
    """The create's ``outputConfig`` (Vertex), derived on first use and kept on ``prepared``."""
    if prepared.output_config is None:
        prepared.output_config = vertex_output_config(settings, prepared)
    return prepared.output_config


def vertex_output_config(settings: ClientSettings, prepared: PreparedCreate) -> JsonDict:
    """``outputConfig`` from config.dest, or derived from the source as google-genai does."""
    uri = _dest_uri(prepared.config.dest)
    source = prepared.source
    if uri is None:
        if isinstance(source, GcsSource) and _single_jsonl(source):
            derived = source.uris[0]
            return vertex.gcs_output(str(derived.with_name(derived.name[: -len(".jsonl")] + "/dest")))
        if isinstance(source, BigQuerySource):
            uri = bigquery_dest_name(source.uri)
        elif settings.gcs_staging_prefix and not isinstance(source, GcsSource | BigQuerySource):
            uri = f"{settings.gcs_staging_prefix}/{prepared.display_name}/output"
        else:
            raise _no_derivable_dest()
    if uri.startswith("gs://"):
        return vertex.gcs_output(str(GcsUri.parse(uri, "config.dest")))
    if uri.startswith("bq://"):
        return vertex.bigquery_output(check_bigquery_uri(uri, "config.dest", need_table=False))
    raise InvalidInputError("config.dest", f"{uri!r} is not a gs:// or bq:// URI", "use gs://... or bq://...")


@dataclass(frozen=True)
class _JsonlData:
    """The JSONL bytes to upload, their size and SHA-256 (hex)."""

    file: IO[bytes]
    size: int
    sha256: str


@contextmanager
def _jsonl_data(source: Source, target: Target, prepared: PreparedCreate | None = None) -> Iterator[_JsonlData]:
    """The JSONL bytes to upload for a source, in bounded memory, every request line stamped with its index.

    A local file is stamped line by line while the upload reads it (``jsonl.StampedJsonlFile``: no copy, and the
    user's file is not changed); its size and SHA-256 are the ones its validation computed (``prepared``):
    hashing it again here would be a third read of the file.
    """
    if isinstance(source, LocalFileSource):
        if prepared is None or not prepared.stamped_size:
            check = validate_jsonl_file(source.path)
            sha256, size = check.sha256, check.stamped_size
        else:
            sha256, size = prepared.content_sha256 or "", prepared.stamped_size
        with StampedJsonlFile(source.path, size) as stamped:
            yield _JsonlData(stamped, size, sha256)  # type: ignore[arg-type]
        return
    requests = (
        source.requests
        if isinstance(source, InlineSource)
        else iter_stream_requests(source.requests if isinstance(source, StreamSource) else [], target=target)
    )
    spooled: SpooledFile
    with spool_requests(requests) as spooled:
        yield _JsonlData(spooled.file, spooled.size, spooled.sha256)


_INLINE_FRAME = len(compact_json(gemini.inline_requests([])))


def _inline_input(source: Source, limit: int) -> JsonDict | None:
    """Gemini's inline ``inputConfig`` when the stamped requests, as sent, fit in ``limit`` bytes; else None.

    One pass: each request is stamped (``gemini.inline_request``) and its JSON measured as it goes, stopping at
    the first request past the limit (the sum of the parts is the size of the whole, byte for byte).
    """
    if not isinstance(source, InlineSource):
        return None
    size, stamped = _INLINE_FRAME, []
    for index, item in enumerate(source.requests):
        entry = gemini.inline_request(item, index)
        size += len(compact_json(entry)) + (1 if index else 0)  # the comma between two requests
        if size > limit:
            return None
        stamped.append(entry)
    return gemini.inline_requests(stamped)


def staging_uri(settings: ClientSettings, sha256: str) -> str:
    """A deterministic staging object for an input: the same input maps to the same object (safe to re-stage).

    Every staged line carries the index stamp (requests this client serialised, or a user's local JSONL file
    stamped while staged), under ``inputs/<sha256[:32]>.jsonl``, the name the results reader recognises
    (``wire/stamp.is_staged_input``). ``sha256`` is the hash of the spooled lines, or of a local file's own
    bytes (its stamped form follows from them).
    """
    return f"{settings.gcs_staging_prefix}/inputs/{sha256[:32]}.jsonl"


def create_plan(settings: ClientSettings, prepared: PreparedCreate) -> Plan[BatchJob]:
    """Upload or stage the input when needed, then send the create once and parse the job."""
    if prepared.naming is not None and prepared.display_name is None:
        raise RuntimeError("a create prepared with a naming is sent after PreparedCreate.key() names it")
    source = prepared.source
    with prepared.cleanup:
        if settings.backend == "gemini":
            inline = _inline_input(source, settings.inline_limit_bytes)
            if inline is not None:
                input_config = inline
            elif isinstance(source, FileSource):
                input_config = gemini.file_input(source.file_name)
            else:
                data = prepared.cleanup.enter_context(_jsonl_data(source, _target(settings), prepared))
                local = source.path if isinstance(source, LocalFileSource) else None
                uploaded = yield from upload_file(
                    settings, data.file, data.size, "jsonl", prepared.display_name, gemini.upload_file_name(local)
                )
                input_config = gemini.file_input(uploaded.name or "")
            response = yield gemini.build_create(
                settings,
                prepared.resource,
                input_config,
                display_name=prepared.display_name,
                webhook_config=prepared.config.webhook_config,
                embeddings=prepared.embeddings,
            )
            return gemini.parse_job(response.json())
        if isinstance(source, GcsSource):
            input_config = vertex.gcs_input([str(uri) for uri in source.uris])
        elif isinstance(source, BigQuerySource):
            input_config = vertex.bigquery_input(source.uri)
        else:
            data = prepared.cleanup.enter_context(_jsonl_data(source, _target(settings), prepared))
            assert data.sha256, "a local file is hashed while prepare_create validates it"
            uri = staging_uri(settings, data.sha256)
            yield from upload_gcs_object(settings, uri, data.file, data.size, "application/jsonl")
            input_config = vertex.gcs_input([uri])
        response = yield vertex.build_create(
            settings,
            prepared.resource,
            input_config,
            output_config(settings, prepared),
            display_name=prepared.display_name or "",
            labels=prepared.config.labels,
        )
        return vertex.parse_job(response.json())


def upload_source_plan(settings: ClientSettings, source: Any, mime_type: str, display_name: str | None) -> Plan[Any]:
    """Upload bytes, a local path or requests to the Files API (``client.files.upload``)."""
    if isinstance(source, bytes | bytearray):
        buffer = io.BytesIO(bytes(source))
        return (yield from upload_file(settings, buffer, len(source), mime_type, display_name))
    resolved = resolve_source(source, "file", _target(settings))
    if not isinstance(resolved, LocalFileSource | InlineSource | StreamSource):
        raise InvalidInputError("file", "is not uploadable", "give bytes, a local path or a list of requests")
    if isinstance(resolved, LocalFileSource):
        with resolved.path.open("rb") as handle:
            size = resolved.path.stat().st_size
            name = gemini.upload_file_name(resolved.path)
            return (yield from upload_file(settings, handle, size, mime_type, display_name, name))
    with _jsonl_data(resolved, _target(settings)) as data:
        return (yield from upload_file(settings, data.file, data.size, mime_type, display_name))


__all__ = [
    "PreparedCreate",
    "bigquery_dest_name",
    "create_plan",
    "output_config",
    "prepare_create",
    "prepare_create_embeddings",
    "request_line",
    "upload_source_plan",
]
