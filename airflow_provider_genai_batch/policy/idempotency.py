"""A deterministic idempotency key per task instance and input, carried by the remote job so it can be found.

The key is a truncated SHA-256 of the deployment, dag id, task id, run id, map index and a fingerprint of the input
(model, source, config, and the identity of the source's content when it lives elsewhere: a local file's
SHA-256, a GCS object's generation and checksums, a Files API file's sha256Hash; see
``GenAIBatchHook.input_identity``). A rewritten input therefore gets a new key and a new job. It does not
depend on the try number, so every retry of a task instance computes the same key and reattaches to the job
an earlier try created. The deployment (``airflow_provider_genai_batch.deployment``: ``[genai_batch]
deployment_id``, else a digest of the metadata DB's address) keeps two Airflow installations that run the same
DAG ids on one Google project apart; a key computed without it (``deployment=None``) is the *legacy* key of
versions before it. The job carries the key in two places:

- the display name (both backends): ``<display name or task id, trimmed>--gbk-<key>``, at most 128 chars;
- a Vertex label: ``genai-batch-key=<key>`` (label values: lowercase letters, digits, ``-``, ``_``; <= 63).

Example::

    key = idempotency_key(dag_id="d", task_id="t", run_id="r", map_index=-1, model="gemini-2.5-flash",
                          src=[{"contents": "hi"}], config=None)
    name = display_name_with_key("nightly", task_id="t", key=key)   # 'nightly--gbk-3f2a...'
    key_from_display_name(name) == key
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_genai_batch.client.names import (
    DISPLAY_NAME_MAX,
    KEY_LABEL,
    KEY_LENGTH,
    KEY_MARKER,
    JobNaming,
    check_key,
    key_from_display_name,
    key_from_labels,
    labels_with_key,
)

__all__ = [
    "DISPLAY_NAME_MARKER",
    "KEY_LENGTH",
    "MAX_DISPLAY_NAME_LENGTH",
    "VERTEX_KEY_LABEL",
    "InputFingerprint",
    "canonical_bytes",
    "deployment_digest",
    "display_name_with_key",
    "fingerprint_input",
    "idempotency_key",
    "job_carries_key",
    "key_from_display_name",
    "key_from_labels",
    "key_identity",
    "key_of_identity",
    "labels_with_key",
    "url_identity",
    "vertex_key_filter",
]

# The spelling and limits of the names that carry a key are the client's (``client/names.py``), written once.
DISPLAY_NAME_MARKER = KEY_MARKER
MAX_DISPLAY_NAME_LENGTH = DISPLAY_NAME_MAX
VERTEX_KEY_LABEL = KEY_LABEL
# Fields of ``config`` that do not change what the job computes, so they stay out of the fingerprint.
_COSMETIC_CONFIG_FIELDS = frozenset({"display_name", "displayName"})


def _canonical(value: Any) -> Any:
    """A JSON-able, order-independent form of ``value`` (mappings sorted by key, models dumped)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return _canonical(model_dump(exclude_none=True))
    if isinstance(value, os.PathLike):
        return {"__path__": os.fspath(value)}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return {"__sha256__": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Iterable):
        # A stream cannot be read twice: its type here; its content comes as ``content`` (operators/_spool.py).
        return {"__stream__": type(value).__name__}
    return {"__repr__": type(value).__name__, "value": str(value)}


def _dumps(value: Any) -> str:
    """Sorted, compact JSON: what every hash of this module is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def canonical_bytes(value: Any) -> bytes:
    """A stable byte form of one value (mappings sorted, models dumped, bytes hashed) for content hashes."""
    return _dumps(_canonical(value)).encode()


def _config_value(config: Mapping[str, Any] | Any | None) -> Any:
    config_value = _canonical(config) if config is not None else None
    if isinstance(config_value, dict):
        config_value = {k: v for k, v in config_value.items() if k not in _COSMETIC_CONFIG_FIELDS}
    return config_value


def fingerprint_input(
    model: str | None, src: Any, config: Mapping[str, Any] | Any | None, content: Mapping[str, Any] | None = None
) -> str:
    """SHA-256 (hex) of the model, source, config and content identity, stable across key order and spelling.

    ``src`` naming a file or object is fingerprinted by its name; ``content`` (from
    ``GenAIBatchHook.input_identity``) adds what changes when that content is rewritten. A generator is
    fingerprinted here by its type; the create operators add the hash of what it yielded as ``content``
    (``operators/_spool.py``). A list of requests can be fingerprinted while it is read for another reason:
    :class:`InputFingerprint`.
    """
    document: dict[str, Any] = {"model": model, "src": _canonical(src), "config": _config_value(config)}
    if content is not None:
        document["content"] = _canonical(content)
    digest = hashlib.sha256()
    digest.update(_dumps(document).encode())
    return digest.hexdigest()


class InputFingerprint:
    """:func:`fingerprint_input` of a list of requests with no ``content``, computed one request at a time.

    The fingerprint hashes ``{"config": ..., "model": ..., "src": [r0, r1, ...]}`` as sorted, compact JSON; the
    requests come last, so each is hashed (``canonical_bytes``) as the caller passes it (:meth:`add`), in the
    pass that also validates it: the list is not walked again for its key. Byte for byte the same hash.

    Example::

        fingerprint = InputFingerprint("gemini-2.5-flash", None)
        for request in requests:
            fingerprint.add(request)
        fingerprint.hexdigest() == fingerprint_input("gemini-2.5-flash", requests, None)
    """

    def __init__(self, model: str | None, config: Mapping[str, Any] | Any | None) -> None:
        head = _dumps({"config": _config_value(config), "model": model})
        self._digest = hashlib.sha256((head[:-1] + ',"src":[').encode())
        self.count = 0

    def add(self, request: Any) -> None:
        """Hash the next request of the list."""
        self._digest.update((b"," if self.count else b"") + canonical_bytes(request))
        self.count += 1

    def hexdigest(self) -> str:
        """The fingerprint of the requests added so far (more may follow)."""
        digest = self._digest.copy()
        digest.update(b"]}")
        return digest.hexdigest()


def idempotency_key(
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int | None,
    model: str | None,
    src: Any,
    config: Mapping[str, Any] | Any | None,
    content: Mapping[str, Any] | None = None,
    deployment: str | None = None,
) -> str:
    """The job key of one task instance and input: 24 lowercase hex characters.

    ``deployment`` (a :func:`deployment_digest`) separates Airflow installations; None or empty gives the
    legacy key (the key of versions before the deployment was part of it).

    Example::

        idempotency_key(dag_id="d", task_id="t", run_id="r", map_index=None, model="m", src="gs://b/x",
                        config={"dest": "gs://b/out"}, deployment=deployment_digest("production"))
    """
    identity = key_identity(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=map_index,
        fingerprint=fingerprint_input(model, src, config, content),
        deployment=deployment,
    )
    return key_of_identity(identity)


def key_identity(
    *, dag_id: str, task_id: str, run_id: str, map_index: int | None, fingerprint: str, deployment: str | None = None
) -> list[Any]:
    """What a key is the hash of: ``[dag_id, task_id, run_id, map_index, fingerprint]``, then
    ``{"deployment": <digest>}`` when a deployment is given (JSON-able; without one it is the legacy identity).

    The operator records it in XCom; the UI re-derives the key from it (:func:`key_of_identity`) and checks that
    the job carries that key and that the identity starts with the task instance's own: a recorded identity
    cannot be made to name one task and hash to another task's key.
    """
    parts: list[Any] = [dag_id, task_id, run_id, -1 if map_index is None else int(map_index), fingerprint]
    if deployment:
        parts.append({"deployment": deployment})
    return parts


def key_of_identity(identity: list[Any]) -> str:
    """The key of an identity from :func:`key_identity`: 24 hex characters of its SHA-256."""
    return hashlib.sha256(json.dumps(identity, separators=(",", ":")).encode()).hexdigest()[:KEY_LENGTH]


def deployment_digest(identity: str) -> str:
    """A 16-hex digest of a deployment's identity: what the key carries and logs may show (never the identity)."""
    return hashlib.sha256(f"genai-batch-deployment\x00{identity}".encode()).hexdigest()[:16]


def url_identity(url: str) -> str:
    """A URL without its secrets: scheme, user, host, port and path (the password, query and fragment dropped).
    What a deployment identity is made of (``airflow_provider_genai_batch.deployment``). Never logged; hash it.

    Example::

        url_identity("postgresql+psycopg2://airflow:s3cret@db.prod:5432/airflow?sslmode=require")
        # 'postgresql+psycopg2://airflow@db.prod:5432/airflow'
    """
    from urllib.parse import urlsplit

    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text.partition("?")[0].rpartition("@")[2]  # unparseable: at least never the userinfo
    user = f"{parts.username}@" if parts.username else ""
    host = (parts.hostname or "") + (f":{port}" if port else "")
    return f"{parts.scheme.lower()}://{user}{host}{parts.path}"


def display_name_with_key(display_name: str | None, *, task_id: str, key: str) -> str:
    """``<display name or task id>--gbk-<key>``, the base trimmed so the whole stays within 128 characters
    (``client.names.JobNaming``, the one builder). A display name that already ends with this key is returned
    unchanged."""
    return JobNaming.shaped(display_name, default=task_id).display_name(key)


def vertex_key_filter(key: str) -> str:
    """The Vertex list filter that finds jobs carrying ``key``: ``labels.genai-batch-key="<key>"``."""
    return f'labels.{VERTEX_KEY_LABEL}="{check_key(key)}"'


def job_carries_key(display_name: str | None, labels: Mapping[str, str] | None, key: str) -> bool:
    """Whether a job (by its display name or labels) carries ``key``."""
    return key in (key_from_labels(labels), key_from_display_name(display_name))
