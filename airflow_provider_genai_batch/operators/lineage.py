"""OpenLineage facets and asset-event extras of the create, results and combine operators (one mixin).

``get_openlineage_facets_on_complete`` names datasets by OpenLineage's naming conventions:

- ``gs://bucket/path``: namespace ``gs://bucket``, name ``path`` (a Vertex input object, a GCS output
  directory, a results destination);
- ``bq://project.dataset.table``: namespace ``bigquery``, name ``project.dataset.table``;
- a local path or ``file://`` URL: namespace ``file://<host name>``, name the absolute path;
- ``s3://bucket/key``: namespace ``s3://bucket``, name ``key``;
- a Gemini Files API file ``files/abc``: namespace ``https://generativelanguage.googleapis.com``, name
  ``files/abc`` (OpenLineage has no convention for it; this is the API's address and the file's resource name).

Inline requests (a list) are no dataset: the run facet ``genaiBatchJob`` still carries the job name, state
and counts (and the token totals, for the results operators). Nothing of OpenLineage is imported unless the
OpenLineage provider calls the method; without the provider installed, the method is never called.

When the operator declares ``outlets``, each ``Asset``'s event gets the job name, state, counts (and token
totals) as its extra: the create operator's through a post-execute hook this mixin installs (a user's own
``post_execute`` still runs first), the results operators' from their ``execute``.

Example::

    class GenAIBatchCreateJobOperator(GenAIBatchLineageMixin, GenAIBatchBaseOperator): ...
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from functools import cache
from typing import Any

__all__ = ["FILES_API_NAMESPACE", "GenAIBatchLineageMixin", "dataset_id", "lineage_of", "results_uris"]

FILES_API_NAMESPACE = "https://generativelanguage.googleapis.com"
_RESULT_ATTRIBUTE = "_genai_batch_result"


def dataset_id(uri: Any) -> tuple[str, str] | None:
    """``(namespace, name)`` of a URI or path per OpenLineage's naming; None for what is no dataset."""
    if not isinstance(uri, str) or not uri.strip():
        return None
    text = uri.strip()
    if text.startswith("bq://"):
        return "bigquery", text[len("bq://") :]
    if text.startswith("files/"):
        return FILES_API_NAMESPACE, text
    if text.startswith("file://"):
        return f"file://{socket.gethostname()}", text[len("file://") :] or "/"
    if "://" in text:
        scheme, rest = text.split("://", 1)
        bucket, _, path = rest.partition("/")
        return f"{scheme}://{bucket}", path or "/"
    return f"file://{socket.gethostname()}", os.path.abspath(os.path.expanduser(text))


def results_uris(jobs: list[Any]) -> list[str]:
    """Where the results of ``jobs`` are read from (``files/...``, ``gs://...``): a results task's inputs."""
    from airflow_provider_genai_batch.client.results import results_location

    found = (results_location(job) for job in jobs)
    return [location.uri for location in found if location.uri and location.kind in ("file", "gcs")]


def _inputs_of_src(src: Any) -> list[str]:
    if isinstance(src, Mapping) and isinstance(src.get("genai_batch_shard"), int) and isinstance(src.get("src"), str):
        return [src["src"]]  # a split's shard reference (operators/_shard_refs.py)
    if isinstance(src, str):
        return [src]
    if isinstance(src, list | tuple) and src and all(isinstance(item, str) and "://" in item for item in src):
        return list(src)  # several gs:// objects
    return []  # inline requests


def _outputs_of_manifest(manifest: Mapping[str, Any]) -> list[str]:
    results = manifest.get("results") or {}
    for field in ("gcs_output_directory", "bigquery_table", "file_name"):
        if results.get(field):
            return [str(results[field])]
    return []


def lineage_of(operator: Any, result: Mapping[str, Any]) -> tuple[list[str], list[str], dict[str, Any]]:
    """``(input URIs, output URIs, job facet fields)`` of a finished create, results or combine task."""
    counts: dict[str, Any]
    if "request_counts" in result:  # a create operator's manifest
        counts = dict(result.get("request_counts") or {})
        facet = {"jobName": result.get("job_name"), "state": result.get("state"), "backend": result.get("backend")}
        inputs = _inputs_of_src(getattr(operator, "src", None))
        return inputs, _outputs_of_manifest(result), {**facet, "requestCounts": counts}
    counts = {k: result.get(k) for k in ("results", "succeeded", "failed") if k in result}
    shards = result.get("shards") or []
    names = [shard.get("job_name") for shard in shards] if shards else [result.get("job_name")]
    facet = {"jobName": names[0] if len(names) == 1 else None, "jobNames": names, "state": "JOB_STATE_SUCCEEDED"}
    usage = (result.get("usage") or {}).get("total")
    inputs = list(getattr(operator, "_genai_batch_inputs", None) or [])
    return inputs, [str(result.get("destination"))], {**facet, "requestCounts": counts, "usage": usage}


@cache
def _facet_class() -> type:
    import attrs
    from openlineage.client.facet_v2 import RunFacet

    @attrs.define
    class GenAIBatchJobRunFacet(RunFacet):
        """The batch job(s) behind a task: name, state, request counts and token usage."""

        jobName: str | None = None
        jobNames: list[str] | None = None
        state: str | None = None
        backend: str | None = None
        requestCounts: dict[str, Any] | None = None
        usage: dict[str, Any] | None = None

    return GenAIBatchJobRunFacet


def _after_execute(context: Any, result: Any) -> None:
    """The post-execute hook: remember the result (for lineage), emit asset extras, then the user's hook."""
    from airflow_provider_genai_batch.operators._assets import emit_asset_extra

    task = context["task"]
    user_hook = getattr(task, "_genai_batch_user_post_execute", None)
    if user_hook is not None:
        user_hook(context, result)
    if isinstance(result, dict):
        setattr(task, _RESULT_ATTRIBUTE, result)
        if "request_counts" in result:  # the results operators emit their own
            extra = {k: result.get(k) for k in ("job_name", "state", "backend", "request_counts", "results")}
            emit_asset_extra(task, context, extra)


class GenAIBatchLineageMixin:
    """OpenLineage facets on complete, and asset extras for the create operator (see the module docstring).

    Example::

        class MyOperator(GenAIBatchLineageMixin, GenAIBatchBaseOperator): ...
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user_hook = getattr(self, "_post_execute_hook", None)
        if user_hook is not _after_execute:  # BaseOperator's post_execute= argument, called with the result
            setattr(self, "_genai_batch_user_post_execute", user_hook)  # noqa: B010 - not a mixin attribute
            setattr(self, "_post_execute_hook", _after_execute)  # noqa: B010

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Input and output datasets and the ``genaiBatchJob`` run facet of the finished task."""
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import Dataset

        result = getattr(self, _RESULT_ATTRIBUTE, None)
        if not isinstance(result, dict):
            return OperatorLineage()
        inputs, outputs, facet = lineage_of(self, result)

        def datasets(uris: list[str]) -> list[Any]:
            found = (dataset_id(uri) for uri in uris)
            return [Dataset(namespace=namespace, name=name) for namespace, name in filter(None, found)]

        return OperatorLineage(
            inputs=datasets(inputs), outputs=datasets(outputs), run_facets={"genaiBatchJob": _facet_class()(**facet)}
        )
