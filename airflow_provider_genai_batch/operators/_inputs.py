"""Checks of operator arguments, run before any network call; each error names the parameter and the fix."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import PurePath
from typing import Any

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.policy.wait_settings import check_count, check_positive_seconds, check_ratio

__all__ = [
    "DepthCheckedList",
    "OperatorInputError",
    "check_choice",
    "check_config",
    "check_count",
    "check_display_name",
    "check_job_name",
    "check_nesting",
    "check_positive_seconds",
    "check_ratio",
    "decode_json_source",
    "missing_relative_src",
    "resolve_local_src",
]

_REMOTE_PREFIXES = ("gs://", "bq://", "file://", "~")

# A templated value rendered to a Python literal (``str(list)``) is parsed by ``ast.literal_eval``, which holds
# about 135 bytes per input byte while it builds the syntax tree: this bound keeps that under ~35 MB. JSON has
# no such bound (``json.loads`` is lean).
MAX_LITERAL_CHARS = 256 * 1024
# Deeper values are refused before anything recurses over them (fingerprint, validation, JSON encoding).
# Protocol buffers, behind both APIs, refuse more than 100 levels.
MAX_NESTING = 100


# The one input error, from the client to the operators: ``field``, ``problem`` and ``fix``. The operators' older
# name stays importable (other modules and users' ``except`` clauses use it).
OperatorInputError = InvalidInputError


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> Any:
    """One of ``choices``."""
    if value not in choices:
        raise OperatorInputError(name, f"{value!r} is not allowed", f"use one of {', '.join(map(repr, choices))}")
    return value


def check_job_name(value: Any, parameter: str = "name") -> str:
    """A job name: ``batches/...`` or ``projects/.../batchPredictionJobs/...``."""
    if not isinstance(value, str) or not value.strip():
        raise OperatorInputError(
            parameter,
            f"must be a job name, got {value!r}",
            "pass the name a create returned, e.g. 'batches/abc' or an XCom of it",
        )
    return value.strip()


def check_display_name(value: Any) -> str | None:
    """None or a string. Its characters are checked once, where the job's name is built with its key
    (``client.names.JobNaming.parse``, before any network call); the total is trimmed to 128."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise OperatorInputError("display_name", f"must be a string, got {type(value).__name__}", "pass a string")
    return value


def check_config(value: Any) -> dict[str, Any] | None:
    """None, a mapping, or a pydantic model (google-genai's ``CreateBatchJobConfig``) as a dict."""
    if value is None:
        return None
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(exclude_none=True)
    if isinstance(value, str):
        value = _json("config", value)
    if not isinstance(value, Mapping):
        raise OperatorInputError(
            "config", f"must be a dict, got {type(value).__name__}", "pass e.g. {'dest': 'gs://bucket/out'}"
        )
    check_nesting("config", value)
    return dict(value)


def _too_deep(parameter: str) -> OperatorInputError:
    return OperatorInputError(
        parameter,
        f"is nested more than {MAX_NESTING} levels deep",
        "flatten it: requests are a list of dicts a few levels deep (contents, parts, config)",
    )


def _json(parameter: str, text: str) -> Any:
    """JSON, or the Python literal a Jinja template renders a list or dict to (bounded: ``MAX_LITERAL_CHARS``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    except RecursionError:
        raise _too_deep(parameter) from None
    if len(text) > MAX_LITERAL_CHARS:
        raise OperatorInputError(
            parameter,
            f"is a {len(text)}-character string that is not JSON; a Python literal (what a template renders a "
            f"list to by default) is parsed only up to {MAX_LITERAL_CHARS} characters",
            "render it as JSON ({{ value | tojson }}) or pass a file ('files/...', 'gs://...' or a local .jsonl)",
        )
    try:
        return ast.literal_eval(text)
    except RecursionError:
        raise _too_deep(parameter) from None
    except (ValueError, SyntaxError, MemoryError):
        raise OperatorInputError(
            parameter,
            "is a string that looks like JSON but parses neither as JSON nor as a Python literal",
            "pass a Python object, or set render_template_as_native_obj=True on the DAG for templated values",
        ) from None


def _children(value: Any, path: str) -> Iterator[tuple[Any, str]]:
    if isinstance(value, Mapping):
        return ((child, f"{path}.{key}") for key, child in value.items())
    return ((child, f"{path}[{i}]") for i, child in enumerate(value))


def check_nesting(parameter: str, value: Any, max_depth: int = MAX_NESTING, *, level: int = 0) -> None:
    """Refuse lists/dicts nested deeper than ``max_depth``, naming the path (no recursion, memory O(depth)).
    ``level``: how deep ``value`` itself sits (1 for one request of ``src``, checked on its own).

    Example::

        check_nesting("src", [{"contents": "hi"}])   # passes
        check_nesting("src[0]", {"contents": "hi"}, level=1)   # the same check, one request at a time
    """
    if not isinstance(value, list | tuple | Mapping):
        return
    stack = [_children(value, parameter)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        child, path = item
        if isinstance(child, list | tuple | Mapping):
            if len(stack) + level >= max_depth:
                raise OperatorInputError(
                    path,
                    f"is nested more than {max_depth} levels deep",
                    "flatten it: requests are a list of dicts a few levels deep (contents, parts, config)",
                )
            stack.append(_children(child, path))


def decode_json_source(value: Any, *, lists_checked_later: bool = False) -> Any:
    """A templated ``src`` rendered to a JSON string (``'[{...}]'``) back to a list; anything else unchanged.

    Lists and dicts nested deeper than ``MAX_NESTING`` are refused, naming the deepest path.
    ``lists_checked_later``: a list passed as a list has its requests checked one by one in the pass that
    converts them (the create operators: ``operators/_submission._OnePass``), so it is not walked here too. A list
    decoded here from text is checked here, before the connection is even read.
    """
    decoded = isinstance(value, str) and value.lstrip().startswith(("[", "{"))
    if decoded:
        value = _json("src", value)
    if decoded or not (lists_checked_later and isinstance(value, list | tuple)):
        check_nesting("src", value)
    if decoded and lists_checked_later and isinstance(value, list):
        return DepthCheckedList(value)  # checked here from text; a shallow copy of the decoded list
    return value


class DepthCheckedList(list[Any]):
    """A list of requests already checked against ``MAX_NESTING`` (not checked again by the pass that converts
    it); otherwise the list itself."""


def resolve_local_src(src: Any, dag_fileloc: str | None) -> Any:
    """A relative local ``.jsonl`` / ``.json`` path, read from the DAG file's folder (where a DAG ships its data),
    never from the worker's working directory, which Airflow does not define; anything else unchanged.

    Example::

        resolve_local_src("prompts.jsonl", "/opt/airflow/dags/nightly.py")   # '/opt/airflow/dags/prompts.jsonl'
    """
    if isinstance(src, os.PathLike):
        src = os.fspath(src)
    if (
        not isinstance(src, str)
        or not dag_fileloc
        or not src.endswith((".jsonl", ".json"))
        or src.startswith(_REMOTE_PREFIXES)
        or "://" in src
        or PurePath(src).is_absolute()
    ):
        return src
    return os.path.normpath(os.path.join(os.path.dirname(dag_fileloc), src))


def missing_relative_src(src: Any, given: Any) -> InvalidInputError | None:
    """The error for a relative ``src`` resolved by :func:`resolve_local_src` to a file that is not there."""
    if not isinstance(src, str) or src == given or os.path.isfile(src):
        return None
    return InvalidInputError(
        "src",
        f"{given!r} is not a file: a relative path is read relative to the DAG file's folder, as {src!r}",
        "put the file beside the DAG file (or in a folder under it), or give an absolute path",
    )
