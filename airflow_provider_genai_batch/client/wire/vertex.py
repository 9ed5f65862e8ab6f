"""Vertex AI batch prediction jobs: request builders and response parsers. Pure.

Example::

    request = build_get(settings, "projects/p/locations/us-central1/batchPredictionJobs/42")
    job = parse_job(response.json())
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.models import (
    BatchJob,
    BatchJobDestination,
    BatchJobSource,
    CompletionStats,
    JobError,
    OutputInfo,
)
from airflow_provider_genai_batch.client.names import ModelName
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.wire.common import (
    ApiRequest,
    JsonDict,
    int64,
    job_fields,
    join_url,
    matched,
    object_field,
    page_params,
    parse_page,
    required_name,
    response_parser,
)

# A project id (or number, or a domain-scoped ``example.com:proj``) and a region: the region ends up in a host
# name, so both are checked strictly.
_NAME_RE = re.compile(
    r"^(?:projects/(?P<project>[a-z0-9][a-z0-9.:-]{0,62})/locations/(?P<location>[a-z][a-z0-9-]{0,62})/)?"
    r"(?:batchPredictionJobs/)?(?P<id>\d{1,30})$"
)


def model_path(model: str) -> str:
    """``gemini-2.5-flash`` -> ``publishers/google/models/gemini-2.5-flash``; ``x/y`` -> ``publishers/x/models/y``.

    A :class:`~airflow_provider_genai_batch.client.names.ModelName` is not checked again."""
    model = ModelName.parse(model)
    if model.startswith(("projects/", "models/", "publishers/")):
        return model
    if model.count("/") == 1:
        publisher, name = model.split("/")
        return f"publishers/{publisher}/models/{name}"
    if "/" in model:
        raise InvalidInputError("model", f"{model!r} is not a Vertex model name", "use 'gemini-2.5-flash'")
    return f"publishers/google/models/{model}"


def _match(name: Any, field: str) -> re.Match[str]:
    return matched(
        _NAME_RE,
        name,
        field,
        "a Vertex batch prediction job name",
        "use 'projects/<p>/locations/<l>/batchPredictionJobs/<numeric id>' or the numeric id",
    )


def job_id(name: Any, field: str = "name") -> str:
    """The numeric id of a job given by full resource name or bare id."""
    return _match(name, field).group("id")


def job_url(settings: ClientSettings, name: Any, field: str = "name") -> str:
    """The URL of one job. A full name keeps its own project and region (and the region's host, unless
    ``base_url`` is set); a bare id is in the connection's project and region. Express mode has no prefix.

    Example::

        job_url(settings, "projects/other/locations/europe-west4/batchPredictionJobs/42")
        # 'https://europe-west4-aiplatform.googleapis.com/v1beta1/projects/other/locations/europe-west4/...'
    """
    match = _match(name, field)
    project, location = match.group("project"), match.group("location")
    if settings.express_mode or project is None:
        return f"{_collection(settings)}/{match.group('id')}"
    return join_url(
        settings.vertex_base_url_for(location),
        settings.effective_api_version,
        f"projects/{project}/locations/{location}/batchPredictionJobs/{match.group('id')}",
    )


def _collection(settings: ClientSettings) -> str:
    prefix = "" if settings.express_mode else f"projects/{settings.project}/locations/{settings.location}/"
    return join_url(settings.effective_base_url, settings.effective_api_version, f"{prefix}batchPredictionJobs")


def gcs_input(uris: list[str]) -> JsonDict:
    """``inputConfig`` for JSONL objects in GCS."""
    return {"instancesFormat": "jsonl", "gcsSource": {"uris": uris}}


def bigquery_input(uri: str) -> JsonDict:
    """``inputConfig`` for a BigQuery table."""
    return {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": uri}}


def gcs_output(prefix: str) -> JsonDict:
    """``outputConfig`` writing JSONL under a GCS prefix."""
    return {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": prefix}}


def bigquery_output(uri: str) -> JsonDict:
    """``outputConfig`` writing to BigQuery."""
    return {"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": uri}}


def build_create(
    settings: ClientSettings,
    model: str,
    input_config: JsonDict,
    output_config: JsonDict,
    *,
    display_name: str,
    labels: dict[str, str] | None = None,
) -> ApiRequest:
    """POST ``batchPredictionJobs``. Never blindly re-sent. ``model``: the resource path (:func:`model_path`)."""
    body: JsonDict = {
        "displayName": display_name,
        "model": model,
        "inputConfig": input_config,
        "outputConfig": output_config,
    }
    if labels:
        body["labels"] = labels
    return ApiRequest("POST", _collection(settings), json=body, idempotent=False)


def build_get(settings: ClientSettings, name: str) -> ApiRequest:
    """GET a job."""
    return ApiRequest("GET", job_url(settings, name))


def build_list(
    settings: ClientSettings, page_size: int | None, page_token: str | None, filter_: str | None
) -> ApiRequest:
    """GET the job list; ``filter`` is AIP-160, e.g. ``labels.k="v"``."""
    return ApiRequest("GET", _collection(settings), params=page_params(page_size, page_token, filter=filter_))


def build_cancel(settings: ClientSettings, name: str) -> ApiRequest:
    """POST ``:cancel`` with no body."""
    return ApiRequest("POST", f"{job_url(settings, name)}:cancel")


def build_delete(settings: ClientSettings, name: str) -> ApiRequest:
    """DELETE a job (the API answers with an Operation the caller need not poll)."""
    return ApiRequest("DELETE", job_url(settings, name))


def _source(config: JsonDict | None) -> BatchJobSource | None:
    if not config:
        return None
    return BatchJobSource(
        format=config.get("instancesFormat"),
        gcs_uri=(config.get("gcsSource") or {}).get("uris"),
        bigquery_uri=(config.get("bigquerySource") or {}).get("inputUri"),
    )


def _destination(config: JsonDict | None) -> BatchJobDestination | None:
    if not config:
        return None
    return BatchJobDestination(
        format=config.get("predictionsFormat"),
        gcs_uri=(config.get("gcsDestination") or {}).get("outputUriPrefix"),
        bigquery_uri=(config.get("bigqueryDestination") or {}).get("outputUri"),
    )


@response_parser("Vertex batch prediction job")
def parse_job(body: JsonDict) -> BatchJob:
    """A BatchPredictionJob to a BatchJob."""
    name = required_name(body, "Vertex AI returned a batch prediction job without a name")
    stats = object_field(body, "completionStats")
    error = body.get("error")
    labels = body.get("labels")
    return BatchJob(
        name=name,
        backend="vertex",
        **job_fields(body),
        error=JobError.model_validate(error) if isinstance(error, dict) and error else None,
        src=_source(object_field(body, "inputConfig")),
        dest=_destination(object_field(body, "outputConfig")),
        completion_stats=CompletionStats(
            successful_count=int64(stats.get("successfulCount")),
            failed_count=int64(stats.get("failedCount")),
            incomplete_count=int64(stats.get("incompleteCount")),
        )
        if stats
        else None,
        output_info=OutputInfo.model_validate(object_field(body, "outputInfo")) if body.get("outputInfo") else None,
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else None,
    )


@response_parser("Vertex batch prediction job list")
def parse_list(body: JsonDict) -> tuple[list[BatchJob], str | None]:
    """``{"batchPredictionJobs": [...], "nextPageToken"}`` to jobs and the next token."""
    return parse_page(body, ("batchPredictionJobs",), parse_job)
