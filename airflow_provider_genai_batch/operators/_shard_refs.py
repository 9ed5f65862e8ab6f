"""A shard as its split wrote it: the file or object, the run that wrote it, the hash of its bytes; the create
submits it only if it still holds those bytes.

The split operator returns one reference per shard file or object (a list of requests stays a list: its
content is the XCom itself)::

    {"genai_batch_shard": 0, "src": "/data/prompts.shards/prompts.run-3f2a….shard-00000.jsonl", "sha256": "…"}
    {"genai_batch_shard": 0, "src": "gs://b/in/requests.shards/requests.run-3f2a….shard-00000.jsonl",
     "md5": "…"}      # base64, as Cloud Storage reports an object's md5Hash

Two guards, for two actors. Another run of the same DAG (same input name, same ``shard_folder``) writes other
names: each name carries its split task instance's identity (``run_token``: DAG, task, run, map index), so a
run never reads another run's shards. Whoever else replaces a shard between the split and the create (a file
rewritten on a shared volume, an object overwritten): the create compares the content it is about to submit
(the SHA-256 its validation computes while reading a local file; the object's ``md5Hash``, one metadata read)
with the hash the split recorded, and fails before any upload or create when they differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_genai_batch.operators._inputs import OperatorInputError

__all__ = ["MARKER", "check_shard_content", "run_token", "shard_file_name", "shard_ref", "unwrap_shard"]

MARKER = "genai_batch_shard"
_HASHES = ("sha256", "md5")


def run_token(context: Any) -> str:
    """16 hex digits naming the running task instance (DAG, task, run, map index): the same on every try of
    it, different for another run (or another split task) writing the same folder."""
    ti = context["ti"]
    identity = json.dumps([ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1)], default=str)
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def shard_file_name(stem: str, token: str, number: int) -> str:
    """``<stem>.run-<token>.shard-00000.jsonl``: a run's shards sort together, in order."""
    return f"{stem}.run-{token}.shard-{number:05d}.jsonl"


def shard_ref(number: int, src: str, **digest: str) -> dict[str, Any]:
    """The reference the split returns for shard ``number`` at ``src``, with its ``sha256`` or ``md5``."""
    (kind,) = digest
    assert kind in _HASHES, kind
    return {MARKER: number, "src": src, kind: digest[kind]}


def unwrap_shard(src: Any) -> tuple[Any, dict[str, Any] | None]:
    """``(what to submit, the reference)`` for a shard reference; ``(src, None)`` for any other ``src``."""
    if not isinstance(src, Mapping) or MARKER not in src:
        return src, None
    number, where = src.get(MARKER), src.get("src")
    hashes = [kind for kind in _HASHES if isinstance(src.get(kind), str) and src.get(kind)]
    if not isinstance(number, int) or isinstance(number, bool) or not isinstance(where, str) or len(hashes) != 1:
        raise OperatorInputError(
            "src",
            f"is not a shard reference of the split operator: {dict(src)!r:.200}",
            "pass the split task's output unchanged (create.expand(src=split.output))",
        )
    if (hashes[0] == "md5") != where.startswith("gs://"):
        raise OperatorInputError(
            "src", f"shard {number} ({where[:200]}) carries a {hashes[0]} hash", "pass the split's output unchanged"
        )
    return where, dict(src)


def check_shard_content(ref: Mapping[str, Any], identity: Mapping[str, Any] | None) -> None:
    """Fail unless the content about to be submitted (``GenAIBatchHook.input_identity`` of the prepared create)
    is what the split wrote."""
    number, where = ref[MARKER], ref["src"]
    if "sha256" in ref:
        kind, expected = "SHA-256", ref["sha256"]
        actual = (identity or {}).get("sha256")
    else:
        kind, expected = "MD5", ref["md5"]
        versions = (identity or {}).get("gcs") or [[where, None, None, None]]
        actual = versions[0][2]
    if actual == expected:
        return
    raise OperatorInputError(
        "src",
        f"shard {number} ({where}) changed after the split wrote it: its {kind} is now {actual}, the split "
        f"recorded {expected}; nothing was submitted",
        "something other than this run's split rewrote the shard: keep shard_folder for this DAG's split only, "
        "then clear the split task (it writes the shards again) and its creates",
    )
