"""Names checked once and carried as types: a model, a ``gs://`` URI, and the display name and label that carry a
job's idempotency key (the one place their spelling and limits are written). Pure; imports only ``client.errors``,
so ``policy`` and the operators may import it at module level.

A value is parsed where it enters (``ModelName.parse``, ``GcsUri.parse``, ``JobNaming.parse``); code that receives
the type does not check it again.

Example::

    model = ModelName.parse("gemini-2.5-flash")          # InvalidInputError(field, problem, fix) when bad
    uri = GcsUri.parse("gs://bucket/in.jsonl", "src")     # GcsUri(bucket='bucket', name='in.jsonl')
    naming = JobNaming.parse(None, default="summarise")
    naming.config("0123456789abcdef01234567", backend="vertex", labels={"team": "ml"})
    # {'display_name': 'summarise--gbk-0123...', 'labels': {'team': 'ml', 'genai-batch-key': '0123...'}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_genai_batch.client.errors import InvalidInputError

__all__ = [
    "DISPLAY_NAME_MAX",
    "KEY_LABEL",
    "KEY_LENGTH",
    "KEY_MARKER",
    "LABELS_MAX",
    "GcsUri",
    "JobNaming",
    "ModelName",
    "check_key",
    "check_labels",
    "check_printable",
    "key_from_display_name",
    "key_from_labels",
    "labels_with_key",
]

#: Hex characters of an idempotency key (96 bits).
KEY_LENGTH = 24
#: What separates a display name from the key it carries: ``<name>--gbk-<key>``.
KEY_MARKER = "--gbk-"
#: The Vertex AI label that carries the key: ``genai-batch-key=<key>``.
KEY_LABEL = "genai-batch-key"
#: The longest display name either API takes.
DISPLAY_NAME_MAX = 128
#: Vertex AI: at most 64 labels per resource.
LABELS_MAX = 64

# Patterns as text: ``re`` compiles (and caches) each on first use, not when DAG parsing imports this module.
_KEY_RE = f"[0-9a-f]{{{KEY_LENGTH}}}"
_KEY_SUFFIX_RE = rf"{re.escape(KEY_MARKER)}([0-9a-f]{{{KEY_LENGTH}}})$"
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_MODEL_RE = r"^[A-Za-z0-9][A-Za-z0-9._@:/-]*$"
_GCS_BUCKET_RE = r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$"
_FALLBACK_NAME = "genai-batch"


class _Value:
    """An immutable value compared by its fields (``__slots__``). Not a dataclass: creating dataclasses costs
    about a millisecond at import, and DAG parsing imports this module."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *values: str) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple[type[_Value], tuple[str, ...]]:
        return type(self), self._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(self.__slots__, self._values(), strict=True))
        return f"{type(self).__name__}({fields})"


def check_printable(value: str, field: str) -> str:
    """A name without control characters (newlines, tabs, escape codes) or lone surrogates.

    Both APIs take any UTF-8 text in a display name, but control characters break consoles, list filters and
    logs, and a lone surrogate cannot be encoded at all.
    """
    import unicodedata  # at first use, not at DAG parse

    bad = next((i for i, char in enumerate(value) if unicodedata.category(char) in ("Cc", "Cs")), None)
    if bad is not None:
        raise InvalidInputError(
            field,
            f"has a control character or lone surrogate {value[bad]!r} at position {bad}",
            "use printable characters only (no newlines, tabs or escape codes)",
        )
    return value


class ModelName(str):
    """A model name checked once (non-empty, no whitespace, ``..``, ``?`` or ``&``); still the string as given, so
    it is hashed and sent exactly as before. Its backend's resource path: ``wire.gemini.model_path`` /
    ``wire.vertex.model_path``."""

    __slots__ = ()

    @classmethod
    def parse(cls, value: Any, field: str = "model") -> ModelName:
        """``value`` itself when it is a ModelName, else checked; InvalidInputError naming ``field`` when bad."""
        if isinstance(value, ModelName):
            return value
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError(field, "is empty", "give a model such as 'gemini-2.5-flash'")
        if ".." in value or not re.match(_MODEL_RE, value):
            raise InvalidInputError(
                field,
                f"{value!r} is not a model name",
                "use a name such as 'gemini-2.5-flash' or 'models/gemini-2.5-flash' (no spaces, '..', '?' or '&')",
            )
        return cls(value)


class GcsUri(_Value):
    """``gs://bucket/name``, parsed once: the bucket checked, the object name free of line breaks. ``text`` is the
    URI as given (what is sent and hashed): ``gs://bucket`` stays without a trailing slash."""

    __slots__ = ("bucket", "name", "text")
    bucket: str
    name: str
    text: str

    def __init__(self, bucket: str, name: str, text: str = "") -> None:
        super().__init__(bucket, name, text)

    @classmethod
    def parse(cls, uri: Any, field: str) -> GcsUri:
        """``uri`` itself when it is a GcsUri, else parsed; InvalidInputError naming ``field`` when bad."""
        if isinstance(uri, GcsUri):
            return uri
        if not isinstance(uri, str) or not uri.startswith("gs://"):
            raise InvalidInputError(field, f"{uri!r} is not a gs:// URI", "use gs://bucket/path/file.jsonl")
        bucket, _, name = uri[len("gs://") :].partition("/")
        if not re.match(_GCS_BUCKET_RE, bucket) or ".." in bucket:
            raise InvalidInputError(
                field,
                f"{bucket!r} is not a valid bucket name",
                "bucket names are 3-222 lowercase letters, digits, '-', '_' and '.'",
            )
        if "\n" in name or "\r" in name:
            raise InvalidInputError(field, "the object path holds a line break", "remove it")
        return cls(bucket, name, uri)

    def __str__(self) -> str:
        return self.text or f"gs://{self.bucket}/{self.name}"

    @property
    def has_wildcard(self) -> bool:
        """Whether the name is a pattern (``*``, ``?``, ``[``) rather than one object."""
        return any(char in self.name for char in "*?[")

    def with_name(self, name: str) -> GcsUri:
        """The object ``name`` in the same bucket (a name derived from a checked one needs no check)."""
        return GcsUri(self.bucket, name, f"gs://{self.bucket}/{name}")


def check_key(key: str) -> str:
    """An idempotency key: 24 lowercase hex characters (ValueError otherwise: keys are computed, never typed)."""
    if not re.fullmatch(_KEY_RE, key):
        raise ValueError(f"idempotency key {key!r} is not {KEY_LENGTH} lowercase hex characters")
    return key


def key_from_display_name(display_name: str | None) -> str | None:
    """The key a display name carries, or ``None``."""
    if not display_name:
        return None
    match = re.search(_KEY_SUFFIX_RE, display_name)
    return match.group(1) if match else None


def key_from_labels(labels: Mapping[str, str] | None) -> str | None:
    """The key a job's labels carry, or ``None``."""
    if not labels:
        return None
    value = labels.get(KEY_LABEL)
    return value if value and re.fullmatch(_KEY_RE, value) else None


def labels_with_key(labels: Mapping[str, str] | None, key: str) -> dict[str, str]:
    """The user's Vertex labels plus ``genai-batch-key=<key>`` (the key wins over a user value)."""
    return _keyed_labels(labels, check_key(key))


def _keyed_labels(labels: Mapping[str, str] | None, key: str) -> dict[str, str]:
    return {**(dict(labels) if labels else {}), KEY_LABEL: key}


class JobNaming(_Value):
    """A job's display name before its key is known: checked once, then given any key without another check.

    ``base`` is the name the key is appended to (``<base>--gbk-<key>``): stripped, without an earlier key, trimmed
    so the whole stays within 128 characters, printable. This is the one builder of the names that carry a key,
    for the operators and the common-ai adapter alike, on both backends (:meth:`config`).
    """

    __slots__ = ("base",)
    base: str

    def __init__(self, base: str) -> None:
        super().__init__(base)

    @classmethod
    def parse(cls, display_name: Any, *, default: str = "", field: str = "display_name") -> JobNaming:
        """The naming of a job called ``display_name`` (``default``, e.g. the task id, when empty).

        ``field`` names the value in errors: the operators' ``display_name`` (checked whole, as given) or
        ``config.display_name`` (checked as it will be sent).
        """
        if display_name is not None and not isinstance(display_name, str):
            raise InvalidInputError(field, f"must be a string, got {type(display_name).__name__}", "pass a string")
        whole = field == "display_name" and bool(display_name)
        if whole:  # the operators' parameter: checked as given (positions in errors are the user's)
            check_printable(str(display_name), field)
        naming = cls.shaped(display_name, default=default)
        return naming if whole else cls(check_printable(naming.base, field))

    @classmethod
    def shaped(cls, display_name: str | None, *, default: str = "") -> JobNaming:
        """The naming of ``display_name`` without checking its characters (:meth:`parse` checks them): stripped,
        an earlier key removed, trimmed to leave room for the key."""
        base = (display_name or default or _FALLBACK_NAME).strip()
        base = re.sub(_KEY_SUFFIX_RE, "", base)  # never stack two keys
        return cls(base[: DISPLAY_NAME_MAX - len(KEY_MARKER) - KEY_LENGTH].rstrip() or _FALLBACK_NAME)

    def display_name(self, key: str) -> str:
        """``<base>--gbk-<key>`` (at most 128 characters)."""
        return f"{self.base}{KEY_MARKER}{check_key(key)}"

    def config(self, key: str, *, backend: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``display_name`` carrying ``key`` (both backends) and, on Vertex AI, ``labels`` plus the key label: the
        one builder of a keyed job's names."""
        config: dict[str, Any] = {"display_name": self.display_name(key)}
        if backend == "vertex":
            config["labels"] = _keyed_labels(labels, key)  # the key was checked by display_name()
        return config


def check_labels(labels: Mapping[str, str] | None, *, keyed: bool = False) -> None:
    """Vertex labels: at most 64 (63 of the user's when ``keyed``: the key label is added), keys and values of
    lowercase letters, digits, ``-`` and ``_``."""
    total = len(labels or {}) + (keyed and KEY_LABEL not in (labels or {}))
    if total > LABELS_MAX:
        own = total - (keyed or KEY_LABEL in (labels or {}))
        note = f" ({own} given plus the operators' {KEY_LABEL} label)" if keyed or KEY_LABEL in (labels or {}) else ""
        raise InvalidInputError(
            "config.labels",
            f"has {total} labels{note}; Vertex AI allows at most {LABELS_MAX}",
            f"use at most {LABELS_MAX - 1} labels of your own (the operators add {KEY_LABEL} for idempotency)",
        )
    for key, value in (labels or {}).items():
        if keyed and key == KEY_LABEL:
            continue  # replaced by the key
        if not key or len(key) > 63 or not set(key) <= _LABEL_CHARS or not key[0].isalpha():
            raise InvalidInputError(
                f"config.labels.{key}",
                "is not a valid label key",
                "use 1-63 lowercase letters, digits, '-' or '_'",
            )
        if len(value) > 63 or not set(value) <= _LABEL_CHARS:
            raise InvalidInputError(
                f"config.labels.{key}",
                "has an invalid value",
                "use at most 63 lowercase letters, digits, '-' or '_'",
            )
