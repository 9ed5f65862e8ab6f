"""The request-index stamp: every request we serialise carries its position, so results are attributed by it.

Google does not promise result order: the Gemini API has returned ``inlinedResponses`` out of request order
(googleapis/python-genai#1909; the SDK's later fix stamps an order marker into each request's metadata), and
neither the Gemini responses file nor Vertex prediction shards are documented as ordered. So each request we
write gets ``metadata["genai_batch_index"] = "<index>"`` (a decimal string: inline metadata is a
``google.protobuf.Struct`` the SDK types as ``dict[str, str]``), and the results reader takes the index from it.
The user's own metadata is kept beside the stamp and given back without it.

Example::

    stamp_metadata({"key": "q1"}, 3, "src[3]")   # {"key": "q1", "genai_batch_index": "3"}
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_genai_batch.client.errors import InvalidInputError

__all__ = ["STAMP_KEY", "is_staged_input", "stamp_from_request_labels", "stamp_metadata", "stamp_request_labels"]

#: The metadata key holding a request's index (a decimal string).
STAMP_KEY = "genai_batch_index"
# The GCS object ``creation.staging_uri`` stages a Vertex input to: ``{prefix}/inputs/{sha256[:32]}.jsonl``.
_STAGED_INPUT_RE = re.compile(r"^gs://.+/inputs/[0-9a-f]{32}\.jsonl$")


def stamp_metadata(metadata: Any, index: int, field: str) -> dict[str, Any]:
    """A copy of the user's ``metadata`` (None or a dict) with the stamp added; the user's dict is not changed.

    Raises InvalidInputError when the user's metadata already uses the reserved key (``{field}.metadata...``).
    """
    if metadata is None:
        return {STAMP_KEY: str(index)}
    if not isinstance(metadata, dict):
        raise InvalidInputError(f"{field}.metadata", f"is a {type(metadata).__name__}", "give a dict of strings")
    if STAMP_KEY in metadata:
        raise InvalidInputError(
            f"{field}.metadata.{STAMP_KEY}",
            "is reserved: the client stamps each request's index there to attribute its result",
            f"rename the {STAMP_KEY!r} metadata entry",
        )
    return {**metadata, STAMP_KEY: str(index)}


def stamp_request_labels(request: dict[str, Any], index: int, field: str) -> dict[str, Any]:
    """A copy of a Vertex ``request`` whose ``labels`` also carry the stamp (the user's labels kept).

    Vertex output rows repeat the request, so this copy of the stamp survives even where top-level fields of the
    input line are not echoed (see ``jsonl.request_line``).
    """
    labels = request.get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise InvalidInputError(f"{field}.request.labels", f"is a {type(labels).__name__}", "give a dict of strings")
    if labels and STAMP_KEY in labels:
        raise InvalidInputError(
            f"{field}.request.labels.{STAMP_KEY}",
            "is reserved: the client stamps each request's index there to attribute its result",
            f"rename the {STAMP_KEY!r} label",
        )
    return {**request, "labels": {**(labels or {}), STAMP_KEY: str(index)}}


def stamp_from_request_labels(row: dict[str, Any]) -> Any:
    """The stamp a Vertex output row carries in its echoed ``request.labels`` (None when absent)."""
    request = row.get("request")
    labels = request.get("labels") if isinstance(request, dict) else None
    return labels.get(STAMP_KEY) if isinstance(labels, dict) else None


def is_staged_input(uri: str) -> bool:
    """Whether ``uri`` is an input object this client staged (so its lines carry stamps)."""
    return bool(_STAGED_INPUT_RE.match(uri))
