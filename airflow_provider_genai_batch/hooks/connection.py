"""Turn an Airflow connection into :class:`ClientSettings`. Pure: no network, no Airflow imports.

Two connection types are understood:

- ``genai_batch`` (this provider's): ``password`` is the API key, ``host`` the base URL (an emulator, a
  proxy), and these extras, spelled ``name`` or ``extra__genai_batch__name``: ``backend`` (``gemini`` or
  ``vertex``), ``project``, ``location``, ``service_account_key`` (a path or the JSON itself),
  ``access_token``, ``impersonation_chain`` (comma-separated or a list), ``quota_project``, ``api_version``,
  ``storage_base_url``, ``gcs_staging_prefix``, ``timeout``, ``max_retries``, ``webhook_url`` (Gemini: the
  public URL of the webhook receiver), and ``base_url`` as another name for ``host``. Unknown extras are
  rejected, so a typo never passes silently.
- ``google_cloud_platform`` (the Google provider's): always Vertex AI; reads ``key_path``, ``keyfile_dict``,
  ``project``, ``impersonation_chain``, ``quota_project_id`` (plain or ``extra__google_cloud_platform__``
  prefixed) plus this provider's extras above; other Google-provider extras are ignored.

Errors are :class:`InvalidInputError` naming the connection, the extra and the fix; a secret's value never
appears in them.

Example::

    settings = settings_from_connection(Connection(conn_id="x", conn_type="genai_batch", password="AIza..."))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.keys import ACCEPTED_KEY_FORMS, key_form
from airflow_provider_genai_batch.client.redaction import secret_parts
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.policy.defaults import DEFAULT_CONN_ID

__all__ = [
    "CONN_TYPE",
    "DEFAULT_CONN_ID",
    "EXTRA_FIELDS",
    "GCP_CONN_TYPE",
    "SECRET_EXTRAS",
    "ConnectionLike",
    "connection_fingerprint",
    "connection_secrets",
    "decode_extras",
    "normalised_extras",
    "settings_from_connection",
]

CONN_TYPE = "genai_batch"
GCP_CONN_TYPE = "google_cloud_platform"

# Extras of a ``genai_batch`` connection and what each becomes.
EXTRA_FIELDS = (
    "backend",
    "project",
    "location",
    "service_account_key",
    "access_token",
    "impersonation_chain",
    "quota_project",
    "api_version",
    "storage_base_url",
    "gcs_staging_prefix",
    "timeout",
    "max_retries",
    "webhook_url",
)
# Accepted but not shown in the form: ``base_url`` (google-genai's name) is the same as the connection's host.
EXTRA_ALIASES = ("base_url",)
SECRET_EXTRAS = frozenset({"service_account_key", "access_token", "keyfile_dict", "api_key"})
# Extras of a ``google_cloud_platform`` connection that this provider understands.
_UNDECODED = object()
_GCP_FIELDS = ("key_path", "keyfile_dict", "project", "impersonation_chain", "quota_project_id")


class ConnectionLike(Protocol):
    """What is read from a connection (the task SDK's ``Connection`` fits)."""

    conn_id: str
    conn_type: str | None
    host: str | None
    password: str | None
    port: int | None


def _unprefixed(extras: Mapping[str, Any], conn_type: str) -> dict[str, Any]:
    """Extras with ``extra__<type>__`` prefixes removed; empty values (as the UI saves them) dropped."""
    prefix = f"extra__{conn_type}__"
    plain: dict[str, Any] = {}
    prefixed: dict[str, Any] = {}
    for key, value in extras.items():
        if value is None or value == "" or value == []:
            continue
        if key.startswith(prefix):
            prefixed[key[len(prefix) :]] = value
        else:
            plain[key] = value
    return {**prefixed, **plain}  # the plain spelling wins


def decode_extras(conn: ConnectionLike) -> dict[str, Any]:
    """The connection's ``extra`` as a dict; malformed JSON or a non-object is an error, never ``{}``."""
    raw = getattr(conn, "extra", None)
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    value: Any = _UNDECODED
    with contextlib.suppress(TypeError, ValueError):  # reported below: the decoder's exception holds the text
        value = json.loads(raw)
    if value is _UNDECODED:
        raise InvalidInputError(
            f"connection {conn.conn_id!r} extra",
            "is not valid JSON (value not shown)",
            'give a JSON object such as {"backend": "vertex", "project": "my-project"}',
        )
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"connection {conn.conn_id!r} extra",
            f"is a JSON {type(value).__name__}, not an object",
            'give a JSON object such as {"backend": "vertex", "project": "my-project"}',
        )
    return value


def normalised_extras(conn: ConnectionLike, extras: Mapping[str, Any]) -> dict[str, Any]:
    """The connection's extras without prefixes or empty values."""
    return _unprefixed(extras, conn.conn_type or CONN_TYPE)


def _error(conn: ConnectionLike, extra: str, problem: str, fix: str) -> InvalidInputError:
    return InvalidInputError(f"connection {conn.conn_id!r} extra {extra!r}", problem, fix)


def _string(conn: ConnectionLike, extras: Mapping[str, Any], name: str) -> str | None:
    value = extras.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        shown = "a secret value" if name in SECRET_EXTRAS else repr(value)
        raise _error(conn, name, f"must be a string, got {type(value).__name__} ({shown})", "give a string")
    return value.strip() or None


def _number(conn: ConnectionLike, extras: Mapping[str, Any], name: str, kind: type[int] | type[float]) -> Any:
    value = extras.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        raise _error(conn, name, f"{value!r} is not a {kind.__name__}", f"give a {kind.__name__} such as 60") from None
    return number


def _chain(conn: ConnectionLike, value: Any, name: str = "impersonation_chain") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value]
    else:
        raise _error(conn, name, f"has type {type(value).__name__}", "give service accounts, comma-separated")
    chain = tuple(item for item in items if item)
    for account in chain:
        if "@" not in account:
            raise _error(
                conn,
                name,
                f"{account!r} is not a service account email",
                "give e.g. sa@project.iam.gserviceaccount.com",
            )
    return chain


def _service_account(conn: ConnectionLike, value: Any, name: str) -> dict[str, Any]:
    """``service_account_key_json`` or ``service_account_key_path`` from a path, JSON, base64 JSON or a dict."""
    if isinstance(value, Mapping):
        return {"service_account_key_json": json.dumps(dict(value))}
    if not isinstance(value, str):
        raise _error(conn, name, f"has type {type(value).__name__}", ACCEPTED_KEY_FORMS)
    form, text = _key_form(conn, value, name)
    if form == "path":
        return {"service_account_key_path": text}
    parsed: Any = None
    with contextlib.suppress(json.JSONDecodeError):  # reported below: the decoder's exception holds the text
        parsed = json.loads(text)
    if parsed is None:
        encoded = "" if value.strip().startswith("{") else "base64-encoded "
        raise _error(
            conn,
            name,
            f"holds {encoded}JSON that does not parse ({_not_shown(value.strip())}; truncated?)",
            f"paste the whole key file: {ACCEPTED_KEY_FORMS}",
        )
    if not isinstance(parsed, dict) or ("private_key" not in parsed and "type" not in parsed):
        raise _error(conn, name, "is JSON but not a service-account key", "paste the key file's JSON")
    return {"service_account_key_json": text}


def _key_form(conn: ConnectionLike, value: str, name: str) -> tuple[str, str]:
    """``client.keys.key_form`` with the error renamed after the connection's extra."""
    error: InvalidInputError | None = None
    try:
        return key_form(value, name)
    except InvalidInputError as exc:
        error = _error(conn, name, exc.problem, exc.fix)
    raise error


def _not_shown(text: str) -> str:
    return f"value not shown, {len(text)} characters"


def _check_known(conn: ConnectionLike, extras: Mapping[str, Any]) -> None:
    unknown = sorted(set(extras) - set(EXTRA_FIELDS) - set(EXTRA_ALIASES))
    if unknown:
        raise _error(
            conn,
            unknown[0],
            "is not an extra of a genai_batch connection",
            f"remove it or use one of {', '.join(EXTRA_FIELDS)} (the API key goes in the password)",
        )


def _genai_fields(conn: ConnectionLike, extras: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in (
        "project",
        "location",
        "quota_project",
        "api_version",
        "base_url",
        "storage_base_url",
        "gcs_staging_prefix",
        "webhook_url",
    ):
        value = _string(conn, extras, name)
        if value is not None:
            fields[name] = value
    token = _string(conn, extras, "access_token")
    if token is not None:
        fields["access_token"] = token
    if "service_account_key" in extras:
        fields.update(_service_account(conn, extras["service_account_key"], "service_account_key"))
    chain = _chain(conn, extras.get("impersonation_chain"))
    if chain:
        fields["impersonation_chain"] = chain
    timeout = _number(conn, extras, "timeout", float)
    if timeout is not None:
        fields["timeout"] = timeout
    retries = _number(conn, extras, "max_retries", int)
    if retries is not None:
        fields["max_retries"] = retries
    return fields


def _backend(conn: ConnectionLike, extras: Mapping[str, Any]) -> str:
    backend = (_string(conn, extras, "backend") or "gemini").lower()
    if backend not in ("gemini", "vertex"):
        raise _error(conn, "backend", f"{backend!r} is not a backend", "use 'gemini' or 'vertex'")
    return backend


def _gcp_fields(conn: ConnectionLike, extras: Mapping[str, Any]) -> dict[str, Any]:
    own = {k: v for k, v in extras.items() if k in EXTRA_FIELDS and k != "backend"}
    fields = _genai_fields(conn, own)
    if "keyfile_dict" in extras and "key_path" in extras:
        raise _error(
            conn, "key_path", "is set together with keyfile_dict", "keep only one of key_path and keyfile_dict"
        )
    if "keyfile_dict" in extras:
        fields.update(_service_account(conn, extras["keyfile_dict"], "keyfile_dict"))
    elif "key_path" in extras:
        path = _string(conn, extras, "key_path")
        if path and _key_form(conn, path, "key_path")[0] == "json":
            raise _error(
                conn, "key_path", f"holds a key, not a path ({_not_shown(path)})", "put the key in keyfile_dict"
            )
        if path:
            fields["service_account_key_path"] = path
    project = _string(conn, extras, "project")
    if project and "project" not in fields:
        fields["project"] = project
    quota = _string(conn, extras, "quota_project_id")
    if quota and "quota_project" not in fields:
        fields["quota_project"] = quota
    chain = _chain(conn, extras.get("impersonation_chain"))
    if chain:
        fields["impersonation_chain"] = chain
    return fields


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _base_url(conn: ConnectionLike) -> str | None:
    """``host`` as a URL: kept when it has a scheme; else https (http for loopback) plus ``port``."""
    host = (conn.host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    port = getattr(conn, "port", None)
    scheme = "http" if host in _LOOPBACK_HOSTS else "https"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def _check_one_credential(conn: ConnectionLike, fields: Mapping[str, Any]) -> None:
    """A static token and a service-account key together would leave one silently unused."""
    if fields.get("access_token") and (
        fields.get("service_account_key_json") or fields.get("service_account_key_path")
    ):
        raise _error(
            conn,
            "service_account_key",
            "is set together with access_token, and only one of them can be used",
            "keep either service_account_key or access_token",
        )


def _has_credentials(fields: Mapping[str, Any]) -> bool:
    return any(
        fields.get(name) for name in ("api_key", "access_token", "service_account_key_json", "service_account_key_path")
    )


def settings_from_connection(
    conn: ConnectionLike, extras: Mapping[str, Any] | None = None, **overrides: Any
) -> ClientSettings:
    """Client settings from an Airflow connection; ``extras`` defaults to the decoded ``conn.extra``.

    Pass ``extras`` when already decoded (the async path decodes them without blocking the event loop).
    ``overrides`` are extra ``ClientSettings`` fields chosen by code, never by the connection.

    Example::

        settings_from_connection(conn).backend   # 'gemini'
    """
    raw = extras if extras is not None else decode_extras(conn)
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"connection {conn.conn_id!r} extra", "is not a JSON object", "give a JSON object")
    conn_type = (conn.conn_type or CONN_TYPE).replace("-", "_")
    plain = _unprefixed(raw, conn_type)
    fields: dict[str, Any]
    if conn_type == GCP_CONN_TYPE:
        fields = {
            "backend": "vertex",
            **_gcp_fields(conn, {k: v for k, v in plain.items() if k in (*_GCP_FIELDS, *EXTRA_FIELDS)}),
        }
    else:
        _check_known(conn, plain)
        fields = {"backend": _backend(conn, plain), **_genai_fields(conn, plain)}
    if conn.password:
        fields["api_key"] = conn.password
    base_url = _base_url(conn)
    if base_url and fields.get("base_url") not in (None, base_url):
        raise _error(conn, "base_url", "differs from the connection's host", "set the base URL in one of the two")
    if base_url:
        fields["base_url"] = base_url
    _check_one_credential(conn, fields)
    if fields["backend"] == "vertex" and not _has_credentials(fields):
        fields["use_application_default_credentials"] = True
    fields.update(overrides)
    error: InvalidInputError | None = None
    try:
        return ClientSettings(**fields)
    except InvalidInputError as exc:
        error = InvalidInputError(f"connection {conn.conn_id!r}: {exc.field}", exc.problem, exc.fix)
    raise error


def connection_secrets(conn: ConnectionLike, extras: Mapping[str, Any] | None = None) -> list[str]:
    """Every secret a connection holds, for the log masker and ``redaction.scrub``.

    The password; the secret extras (``service_account_key``, ``keyfile_dict``, ``access_token``, ``api_key``,
    plain or prefixed, a dict as its JSON) and what they decode to (a JSON or base64 key's ``private_key``, its
    lines and ``private_key_id``); a ``key_path`` holding key material; the user and password of a URL in the
    host or in the ``base_url`` / ``storage_base_url`` extras. ``extras`` that do not decode still give the
    password and the host's userinfo.
    """
    values: list[str] = []
    if conn.password:
        values.append(conn.password)
    try:
        raw = extras if extras is not None else decode_extras(conn)
    except InvalidInputError:
        raw = {}
    plain = _unprefixed(raw, (conn.conn_type or CONN_TYPE).replace("-", "_")) if isinstance(raw, Mapping) else {}
    for name in (*sorted(SECRET_EXTRAS), "key_path"):
        value = plain.get(name)
        if isinstance(value, Mapping):
            value = json.dumps(dict(value))
        if isinstance(value, str) and value.strip():
            if name == "key_path" and secret_parts(value.strip()) == [value.strip()]:
                continue  # a plain path is no secret
            values.append(value)
            values += [part for part in secret_parts(value.strip()) if part != value]
    for url in (conn.host, plain.get("base_url"), plain.get("storage_base_url")):
        values += _url_credentials(url)
    return list(dict.fromkeys(value for value in values if value))


def _url_credentials(url: Any) -> list[str]:
    """The ``user:password`` of a URL, and the password alone."""
    if not isinstance(url, str) or "@" not in url:
        return []
    netloc = url.split("://", 1)[-1].split("/", 1)[0]
    if "@" not in netloc:
        return []
    userinfo = netloc.rsplit("@", 1)[0]
    password = userinfo.split(":", 1)[1] if ":" in userinfo else ""
    return [userinfo, password] if password else [userinfo]


def connection_fingerprint(conn: ConnectionLike, extras: Mapping[str, Any] | None = None) -> str:
    """A SHA-256 of everything the settings are built from, so a changed connection gets a new client."""
    raw = extras if extras is not None else decode_extras(conn)
    document = json.dumps(
        [conn.conn_type, conn.host, conn.port, conn.password, raw],
        sort_keys=True,
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(document.encode()).hexdigest()
