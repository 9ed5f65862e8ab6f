"""Shards of a GCS JSONL object, written back to GCS: the split operator's ``gs://`` input (Vertex AI).

The object is streamed through the connection's client (``GenAIBatchClient.gcs_download``) and cut by the same
rules as a local file (``_cutting.cut_lines``). Each shard goes to a local temporary file first (so memory stays
bounded whatever the shard's size) and is then uploaded to ``<prefix><stem>.run-<token>.shard-00000.jsonl``
(``token``: the split's task instance, so another run sharing the prefix writes other objects). An object that
already holds the same bytes (same MD5) is left alone, so a retried split keeps each shard's GCS generation and
with it the idempotency keys of the shards' create tasks.

Example::

    shards = split_gcs_object(client, "gs://b/in/requests.jsonl", "gs://b/in/requests.shards/", limits,
                              token=run_token(context))
    # [("gs://b/in/requests.shards/requests.run-<token>.shard-00000.jsonl", 50000, "<md5, base64>"), ...]
"""

from __future__ import annotations

import base64
import hashlib
import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_genai_batch.operators._cutting import ShardFile, ShardLimits, cut_lines
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.operators._shard_refs import shard_file_name

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client import GenAIBatchClient

__all__ = ["default_prefix", "gcs_stem", "object_lines", "split_gcs_object", "validate_gcs_split"]

log = logging.getLogger(__name__)
_WILDCARDS = "*?["


def gcs_stem(uri: str) -> str:
    """The object's base name without ``.jsonl``: ``gs://b/in/requests.jsonl`` -> ``requests``."""
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    return name.removesuffix(".jsonl") or "input"


def default_prefix(uri: str) -> str:
    """``gs://b/in/requests.jsonl`` -> ``gs://b/in/requests.shards/`` (as a local file's ``<file>.shards/``)."""
    return uri.removesuffix(".jsonl") + ".shards/"


def validate_gcs_split(uri: str, prefix: str | None, backend: str, limits: str = "vertex") -> str:
    """Check a ``gs://`` split before any call; return the shard prefix (ending in ``/``)."""
    from airflow_provider_genai_batch.client.wire.common import parse_gcs_uri

    if backend == "gemini":
        raise OperatorInputError(
            "src",
            f"is a gs:// object ({uri[:120]}), and the Gemini API cannot read gs:// sources (a Gemini connection "
            "has no Cloud Storage credentials either)",
            "split it with a Vertex AI connection (genai_batch_conn_id) and limits='vertex', or copy the object "
            "to a local .jsonl file every worker sees and split that (the create uploads each shard through the "
            "Files API)",
        )
    if limits != "vertex":
        raise OperatorInputError(
            "limits",
            f"is {limits!r}, but the shards of a gs:// object are read by Vertex AI jobs",
            "use limits='vertex' (200,000 requests and 1 GB per shard; lower them with max_shard_requests / "
            "max_shard_bytes)",
        )
    _bucket, name = parse_gcs_uri(uri, "src")
    if not name or name.endswith("/") or any(char in uri for char in _WILDCARDS):
        raise OperatorInputError(
            "src", f"{uri[:120]!r} does not name one object", "give one JSONL object: gs://bucket/path/file.jsonl"
        )
    target = prefix if prefix is not None else default_prefix(uri)
    if not isinstance(target, str) or not target.startswith("gs://"):
        raise OperatorInputError(
            "shard_folder", f"is {target!r:.120} for a gs:// input", "give a gs://bucket/prefix/ for the shards"
        )
    parse_gcs_uri(target, "shard_folder")
    if any(char in target for char in _WILDCARDS):
        raise OperatorInputError("shard_folder", f"{target[:120]!r} holds a wildcard", "give a plain gs:// prefix")
    return target if target.endswith("/") else target + "/"


def object_lines(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """The lines of a byte stream (blank ones included, so numbers match the object's); a line longer than
    ``limit`` bytes fails as soon as that many bytes are buffered (memory stays bounded)."""
    tail = bytearray()
    number = 0
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                tail += chunk[start:]
                if len(tail) > limit:
                    raise OperatorInputError(
                        f"src line {number + 1}",
                        f"is more than {limit} bytes, more than one shard takes",
                        "make the request smaller (upload large media and refer to it by URI), or raise "
                        "max_shard_bytes if the backend allows it",
                    )
                break
            if tail:
                tail += chunk[start:end]
                yield bytes(tail)
                tail.clear()
            else:
                yield chunk[start:end]
            number += 1
            start = end + 1
    if tail:
        yield bytes(tail)


class _GcsSink:
    """Shards written to temporary files (MD5 computed while writing), then uploaded unless the object already
    holds the same bytes."""

    def __init__(self, client: GenAIBatchClient, prefix: str, stem: str, token: str, folder: Path) -> None:
        self.client, self.prefix, self.stem, self.token, self.folder = client, prefix, stem, token, folder
        self.written: list[tuple[str, int, str]] = []
        self.uploaded = self.kept = 0

    def open(self, number: int) -> ShardFile:
        path = self.folder / f"shard-{number:05d}.jsonl"  # in a private temporary directory (mode 0700)
        return ShardFile(path, path.open("w+b"), hashlib.md5(usedforsecurity=False))

    def close(self, number: int, out: ShardFile, lines: int) -> None:
        from airflow_provider_genai_batch.client.errors import NotFoundError

        uri = f"{self.prefix}{shard_file_name(self.stem, self.token, number)}"
        md5 = base64.b64encode(out.digest.digest()).decode()
        try:
            size = out.handle.tell()
            try:
                existing = self.client.gcs_object(uri).md5_hash
            except NotFoundError:
                existing = None
            if existing == md5:
                self.kept += 1
            else:
                out.handle.seek(0)
                self.client.gcs_upload(uri, out.handle, size, "application/jsonl")
                self.uploaded += 1
        finally:
            out.handle.close()
            out.path.unlink(missing_ok=True)
        self.written.append((uri, lines, md5))


def split_gcs_object(
    client: GenAIBatchClient, uri: str, prefix: str, limits: ShardLimits, *, token: str
) -> list[tuple[str, int, str]]:
    """Stream ``uri``, cut it into shards within ``limits``, write them under ``prefix``; (shard URI, lines, MD5
    of its bytes in base64, as Cloud Storage reports it) per shard. ``token`` names the split's task instance
    (``_shard_refs.run_token``) in the shard names. Each line is stamped in its ``metadata`` (never in the
    request's labels)."""
    with tempfile.TemporaryDirectory(prefix="genai-batch-shards-") as folder:
        sink = _GcsSink(client, prefix, gcs_stem(uri), token, Path(folder))
        cut_lines(object_lines(client.gcs_download(uri), limits.file_bytes), limits, sink)
    log.info("Shards of %s: %d uploaded, %d already in place (same MD5)", uri, sink.uploaded, sink.kept)
    return sink.written
