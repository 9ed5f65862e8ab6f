"""Where the emulator applies ``schema_check``: create bodies (rejected whole) and input lines (failed one by one).

Strict checking is on unless the emulator's ``strict`` setting is ``False``. A create body that violates the
published schema is a 400 INVALID_ARGUMENT in Google's shape (``google.rpc.BadRequest`` field violations). A
request read from an input file, GCS object or BigQuery row that violates it fails on its own, as the real
services fail that row: its ``request`` becomes a ``RejectedRequest`` whose ``schema_problem`` is the error
message (``responses.request_problem`` reports it), and the rest of the batch goes on.

Example::

    >>> items = check_items(True, "vertex", "v1beta1", [RequestItem({"contents": [], "foo": 1})])
    >>> items[0].request.schema_problem
    'Invalid JSON payload received. Unknown name "foo": Cannot find field.'
"""

from __future__ import annotations

from typing import Any

from airflow_provider_genai_batch.emulator.schema_check import (
    SchemaBackend,
    check,
    load_schema,
    schema_version,
    violations_error,
)
from airflow_provider_genai_batch.emulator.state import RequestItem

__all__ = ["RejectedRequest", "check_body", "check_items"]


class RejectedRequest(dict[str, Any]):
    """An input request that violates the published schema; the dict is the request as it was read."""

    def __init__(self, request: dict[str, Any], problem: str) -> None:
        super().__init__(request)
        #: Google's error message for the request (what its output row reports).
        self.schema_problem = problem


def check_body(strict: bool, backend: SchemaBackend, url_version: str, root: str, body: Any) -> None:
    """Raise the 400 Google answers when ``body`` (a create body) violates message ``root``."""
    if not strict:
        return
    violations = check(load_schema(backend, schema_version(backend, url_version)), root, body)
    if violations:
        raise violations_error(violations)


def check_items(
    strict: bool,
    backend: SchemaBackend,
    url_version: str,
    items: list[RequestItem],
    root: str = "GenerateContentRequest",
) -> list[RequestItem]:
    """``items`` with each request that violates message ``root`` replaced by a ``RejectedRequest``."""
    if not strict:
        return items
    schema = load_schema(backend, schema_version(backend, url_version))
    for item in items:
        violations = check(schema, root, item.request)
        if violations:
            item.request = RejectedRequest(item.request, "\n".join(v.description for v in violations))
    return items
