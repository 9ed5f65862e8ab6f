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
from airflow_provider_genai_batch.client.plans import Plan, upload_file, upload_gcs_object
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.sources import (
    BigQuerySource,
    FileSource,
    GcsSource,
    InlineSource,
    LocalFileSource,
    Source,
    StreamSource,
    iter_stream_requests,
    resolve_embeddings_source,
    resolve_source,
)
from airflow_provider_genai_batch.client.validation import invalid_input_from
from airflow_provider_genai_batch.client.wire import gemini, vertex
from airflow_provider_genai_batch.client.wire.common import (
    JsonDict,
    check_bigquery_uri,
    compact_json,
    parse_gcs_uri,
)
from airflow_provider_genai_batch.client.wire.generation import Target
from airflow_provider_genai_batch.client.wire.values import check_printable

# CreateBatchJobConfig's fields; http_options (an SDK transport option) is accepted and ignored.
_CONFIG_FIELDS = frozenset({"display_name", "dest", "labels", "webhook_config", "http_options"})
_LABEL_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")
DISPLAY_NAME_MAX = 128
LABELS_MAX = 64  # Vertex AI: at most 64 labels per resource
KEY_LABEL = "genai-batch-key"  # policy.idempotency.VERTEX_KEY_LABEL (the client imports nothing from policy)


@dataclass
class PreparedCreate:
    """A validated create: the model, the source kind, and everything the create body needs."""

    model: str
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

    def rename(self, display_name: str, labels: dict[str, str] | None = None) -> None:
        """Give the job its final display name (and Vertex labels), checked; nothing else is validated again.

        Must come before the create is first sent: a derived output destination may name the job.
        """
        if self.output_config is not None and _derived_from_name(self):
            raise RuntimeError("rename() after the output destination was derived from the old name")
        self.display_name = _check_display_name(display_name)
        _check_labels(labels)
        self.config = self.config.model_copy(update={"display_name": display_name, "labels": labels or None})


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


def _check_labels(labels: dict[str, str] | None) -> None:
    if labels and len(labels) > LABELS_MAX:
        own = len(labels) - (KEY_LABEL in labels)
        note = f" ({own} given plus the operators' {KEY_LABEL} label)" if KEY_LABEL in labels else ""
        raise InvalidInputError(
            "config.labels",
            f"has {len(labels)} labels{note}; Vertex AI allows at most {LABELS_MAX}",
            f"use at most {LABELS_MAX - 1} labels of your own (the operators add {KEY_LABEL} for idempotency)",
        )
    for key, value in (labels or {}).items():
        if not key or len(key) > 63 or not set(key) <= _LABEL_KEY_CHARS or not key[0].isalpha():
            raise InvalidInputError(
                f"config.labels.{key}",
                "is not a valid label key",
                "use 1-63 lowercase letters, digits, '-' or '_'",
            )
        if len(value) > 63 or not set(value) <= _LABEL_KEY_CHARS:
            raise InvalidInputError(
                f"config.labels.{key}",
                "has an invalid value",
                "use at most 63 lowercase letters, digits, '-' or '_'",
            )


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


def prepare_create(settings: ClientSettings, *, model: str, src: Any, config: Any) -> PreparedCreate:
    """Validate a generation batch; raise InvalidInputError before any network call."""
    parsed = parse_config(config)
    display_name = _check_display_name(parsed.display_name)
    if settings.backend == "gemini":
        gemini.model_path(model)
        if parsed.dest is not None:
            raise InvalidInputError(
                "config.dest",
                "the Gemini API chooses where results go",
                "remove dest (results come back inline or as a file named in the job)",
            )
        if parsed.labels:
            raise InvalidInputError("config.labels", "the Gemini API has no job labels", "remove labels")
        source = resolve_source(src, target=_target(settings))
        if isinstance(source, GcsSource | BigQuerySource):
            raise InvalidInputError(
                "src",
                "the Gemini API cannot read gs:// or bq:// sources",
                "use backend 'vertex', or pass requests, a local JSONL file or 'files/...'",
            )
        digest, stamped = _validate_local(source)
        return PreparedCreate(
            model, source, parsed, display_name=display_name, content_sha256=digest, stamped_size=stamped
        )
    vertex.model_path(model)
    if parsed.webhook_config is not None:  # an empty one too, as google-genai refuses it
        raise InvalidInputError("config.webhook_config", "Vertex AI has no batch webhooks", "remove it")
    _check_labels(parsed.labels)
    source = resolve_source(src, target=_target(settings))
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
    digest, stamped = _validate_local(source)
    name = display_name or f"genai_batch_job_{_timestamp_and_token()}"
    prepared = PreparedCreate(model, source, parsed, display_name=name, content_sha256=digest, stamped_size=stamped)
    if _dest_uri(parsed.dest) is not None:
        prepared.output_config = vertex_output_config(settings, prepared)  # checks config.dest now
    elif isinstance(source, GcsSource) and not (len(source.uris) == 1 and source.uris[0].endswith(".jsonl")):
        raise _no_derivable_dest()
    return prepared


def prepare_create_embeddings(settings: ClientSettings, *, model: str, src: Any, config: Any) -> PreparedCreate:
    """Validate an embeddings batch (Gemini only)."""
    if settings.backend != "gemini":
        raise UnsupportedOperationError(
            "backend",
            "embeddings batches are created on the Gemini Developer API only (google-genai's create_embeddings "
            "refuses Vertex AI too)",
            "use a gemini connection",
        )
    parsed = parse_config(config)
    gemini.model_path(model)
    if parsed.dest is not None:
        raise InvalidInputError("config.dest", "the Gemini API chooses where results go", "remove dest")
    source = resolve_embeddings_source(src)
    digest, stamped = _validate_local(source)
    return PreparedCreate(
        model,
        source,
        parsed,
        embeddings=True,
        display_name=_check_display_name(parsed.display_name),
        content_sha256=digest,
        stamped_size=stamped,
    )


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
        if isinstance(source, GcsSource) and len(source.uris) == 1 and source.uris[0].endswith(".jsonl"):
            uri = source.uris[0][: -len(".jsonl")] + "/dest"
        elif isinstance(source, BigQuerySource):
            uri = bigquery_dest_name(source.uri)
        elif settings.gcs_staging_prefix and not isinstance(source, GcsSource | BigQuerySource):
            uri = f"{settings.gcs_staging_prefix}/{prepared.display_name}/output"
        else:
            raise _no_derivable_dest()
    if uri.startswith("gs://"):
        parse_gcs_uri(uri, "config.dest")
        return vertex.gcs_output(uri)
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


def _inline_size(input_config: JsonDict) -> int:
    """Bytes of the stamped inline requests, as they would be sent."""
    return len(compact_json(input_config))


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
    source = prepared.source
    with prepared.cleanup:
        if settings.backend == "gemini":
            inline = gemini.inline_input(source.requests) if isinstance(source, InlineSource) else None
            if inline is not None and _inline_size(inline) <= settings.inline_limit_bytes:
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
                prepared.model,
                input_config,
                display_name=prepared.display_name,
                webhook_config=prepared.config.webhook_config,
                embeddings=prepared.embeddings,
            )
            return gemini.parse_job(response.json())
        if isinstance(source, GcsSource):
            input_config = vertex.gcs_input(source.uris)
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
            prepared.model,
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
