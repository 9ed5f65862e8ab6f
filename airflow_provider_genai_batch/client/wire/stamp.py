"""How a result is tied to its request: the index stamp we write, and the request digest we can compute.

Google does not promise result order: the Gemini API has returned ``inlinedResponses`` out of request order
(googleapis/python-genai#1909; the SDK's later fix stamps an order marker into each request's metadata), and
neither the Gemini responses file nor Vertex prediction shards are documented as ordered. Two ways tie a
result to its request's position, and ``client/results.Attribution`` uses the first that the job allows:

- **The stamp** (``metadata["genai_batch_index"] = "<index>"``, a decimal string: inline metadata is a
  ``google.protobuf.Struct`` the SDK types as ``dict[str, str]``). Every request this client writes carries it:
  inline requests, JSONL it spools from requests, and a user's local JSONL file, stamped line by line while it is
  uploaded (Gemini) or staged (Vertex) (``stamp_line``; the user's file itself is never changed). Gemini echoes
  a file line's ``key`` (documented) and its other top-level fields (googleapis/go-genai#513), and an inline
  request's ``metadata``. The user's own metadata is kept beside the stamp and given back without it.
- **The request digest** (``request_digest``), Vertex only: every Vertex output row repeats the ``request`` it
  answers (documented), so a row is matched against the job's input lines by a digest of that request; equal
  requests are interchangeable and are given their positions in input order. This covers what a stamp cannot:
  a ``gs://`` object the user wrote (we never rewrite it) and rows whose extra fields Vertex dropped (that it
  echoes ``metadata`` is not confirmed by Google). Vertex re-serialises the request (the docs' sample output
  has ``"fileData": null`` beside a text part), so the digest is taken over a normal form: keys without ``_``
  and lower-cased (``file_data`` = ``fileData``), empty values (null, false, 0, "", [], {}) left out of objects
  (proto3 JSON omits them), numbers as integers or to 7 significant digits (proto ``float`` fields are 32-bit).

No label is written per request: an earlier version put the stamp in each Vertex request's ``labels`` too,
and Google's "Add labels to API calls" page advises against a unique label value per call (labels land in the
user's billing data). ``stamp_from_request_labels`` still reads that label, so jobs staged then stay attributed.

Example::

    stamp_metadata({"key": "q1"}, 3, "src[3]")   # {"key": "q1", "genai_batch_index": "3"}
    request_digest({"contents": [{"parts": [{"text": "hi"}]}]}) == request_digest(
        {"contents": [{"parts": [{"text": "hi", "fileData": None}]}]})   # True
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from airflow_provider_genai_batch.client.errors import InvalidInputError

__all__ = [
    "STAMP_KEY",
    "is_staged_input",
    "request_digest",
    "stamp_from_request_labels",
    "stamp_line",
    "stamp_metadata",
]

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


def stamp_line(text: str, line: dict[str, Any], index: int, field: str) -> bytes:
    """A user's JSONL line (``text``, parsed as ``line``) with the stamp added to its metadata, as UTF-8 with a
    newline. A line without ``metadata`` keeps its bytes and gains ``,"metadata":{...}`` before its closing
    brace; a line with metadata is written again (compact) with the stamp beside the user's entries. A line
    that already carries this very stamp (a shard this provider's split wrote) is kept as it is."""
    metadata = line.get("metadata")
    if isinstance(metadata, dict) and metadata.get(STAMP_KEY) == str(index):
        return text.strip().lstrip("\ufeff").encode() + b"\n"
    if "metadata" not in line:
        body = text.strip().lstrip("\ufeff")
        return f'{body[:-1]},"metadata":{{"{STAMP_KEY}":"{index}"}}}}\n'.encode()
    stamped = {**line, "metadata": stamp_metadata(line["metadata"], index, field)}
    return json.dumps(stamped, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def stamp_from_request_labels(row: dict[str, Any]) -> Any:
    """The stamp a Vertex output row carries in its echoed ``request.labels`` (None when absent): jobs staged by
    earlier versions of this client, which stamped each request's labels."""
    request = row.get("request")
    labels = request.get("labels") if isinstance(request, dict) else None
    return labels.get(STAMP_KEY) if isinstance(labels, dict) else None


def is_staged_input(uri: str) -> bool:
    """Whether ``uri`` is an input object this client staged (so its lines carry stamps)."""
    return bool(_STAGED_INPUT_RE.match(uri))


def _normal(value: Any) -> Any:
    """The normal form the digest is taken over (see the module docstring)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            normal = _normal(item)
            if normal not in (None, False, 0, "", [], {}):
                out[str(key).replace("_", "").lower()] = normal
        return out
    if isinstance(value, list):
        return [_normal(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            return str(number)
        return int(number) if number.is_integer() and abs(number) < 2**53 else f"{number:.7g}"
    return str(value)


def request_digest(request: Any) -> int:
    """A 64-bit digest of a request in normal form, equal for the request we staged and the one Vertex echoes.

    64 bits: two different requests of a million-line input share a digest with a probability near 3e-8.
    """
    text = json.dumps(_normal(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)
