"""Authentication: the headers that prove who calls, for sync and async callers.

``build_auth_provider(settings)`` picks one provider from ``ClientSettings``:

- Gemini Developer API: ``api_key`` -> :class:`ApiKeyAuth`, else ``access_token`` -> :class:`StaticTokenAuth`.
- Vertex AI express mode (``api_key`` and no ``project``) -> :class:`ApiKeyAuth`.
- Vertex AI: ``credentials`` (a google-auth object) > ``access_token`` > service-account key (JSON or path) >
  Application Default Credentials (when asked for, or as the fallback), each Google credential optionally
  wrapped by ``impersonation_chain`` -> :class:`GoogleCredentialsAuth` (or :class:`StaticTokenAuth` for a token).

Importing this module does not import google-auth: only building a :class:`GoogleCredentialsAuth` does, so DAG
parsing stays cheap. No secret appears in a ``repr()``, a log line or an exception message.

Example::

    auth = build_auth_provider(ClientSettings(backend="gemini", api_key="AIza..."))
    request_headers = auth.headers()          # {"x-goog-api-key": "AIza..."}
    request_headers = await auth.aheaders()   # the same, from a coroutine
    auth.close()
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_genai_batch.client.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    GenAIBatchError,
    InvalidInputError,
    ServiceUnavailableError,
)
from airflow_provider_genai_batch.client.keys import ACCEPTED_KEY_FORMS, key_info, not_shown
from airflow_provider_genai_batch.client.redaction import scrub
from airflow_provider_genai_batch.client.settings import ClientSettings

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.auth.exceptions import GoogleAuthError

    from airflow_provider_genai_batch.client.google_auth_transport import HttpxRequest

__all__ = [
    "REFRESH_MARGIN",
    "ApiKeyAuth",
    "AuthProvider",
    "GoogleCredentialsAuth",
    "StaticTokenAuth",
    "build_auth_provider",
]

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
"""A token is refreshed when it expires within this margin (google-auth's own margin is smaller)."""

_GOOGLE_CREDENTIAL_FIELDS = (
    "credentials",
    "service_account_key_json",
    "service_account_key_path",
    "use_application_default_credentials",
    "impersonation_chain",
)
_MAX_REASON_CHARS = 500


class AuthProvider(Protocol):
    """What the transport asks for before each request."""

    def headers(self) -> dict[str, str]:
        """The auth headers; may refresh a token, blocking the calling thread."""
        ...

    async def aheaders(self) -> dict[str, str]:
        """The auth headers; a refresh runs in a worker thread, never on the event loop."""
        ...

    def close(self) -> None:
        """Release what the provider holds (an HTTP pool for token refresh); the provider stays usable."""
        ...


class ApiKeyAuth:
    """An API key in ``x-goog-api-key`` (Gemini Developer API, Vertex AI express mode).

    Example::

        ApiKeyAuth("AIza...").headers()   # {"x-goog-api-key": "AIza..."}
    """

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise InvalidInputError("api_key", "is empty", "set the API key (the connection's password)")
        self._api_key = api_key

    def headers(self) -> dict[str, str]:
        """The API key header."""
        return {"x-goog-api-key": self._api_key}

    async def aheaders(self) -> dict[str, str]:
        """The API key header."""
        return self.headers()

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "ApiKeyAuth()"


class StaticTokenAuth:
    """An OAuth access token handed in by the caller, sent as ``Authorization: Bearer``; never refreshed.

    Example::

        StaticTokenAuth("ya29....", quota_project="my-billing-project").headers()
    """

    def __init__(self, access_token: str, *, quota_project: str | None = None) -> None:
        if not access_token:
            raise InvalidInputError("access_token", "is empty", "give an OAuth access token, or another credential")
        self._access_token = access_token
        self._quota_project = quota_project

    def headers(self) -> dict[str, str]:
        """The bearer token header (and ``x-goog-user-project`` when a quota project is set)."""
        return _bearer_headers(self._access_token, self._quota_project)

    async def aheaders(self) -> dict[str, str]:
        """The bearer token header (and ``x-goog-user-project`` when a quota project is set)."""
        return self.headers()

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "StaticTokenAuth()"


@dataclass(frozen=True)
class _Attempt:
    """The outcome of the latest refresh attempt: its number and, when it failed, why."""

    number: int
    failure: GoogleAuthError | None = None


class GoogleCredentialsAuth:
    """Any google-auth ``Credentials`` as ``Authorization: Bearer``, refreshed 5 minutes before expiry.

    One refresh serves every concurrent caller: threads share a ``threading.Lock``; coroutines of one event loop
    share an ``asyncio.Lock`` and refresh in a worker thread (``asyncio.to_thread``), so the loop never blocks and
    each loop keeps at most one worker thread busy refreshing. A failed refresh is reported to every caller that
    waited for it (without asking the token endpoint again). Token requests go through one httpx client, released
    by ``close()``.

    Example::

        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(
            "key.json", scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        auth = GoogleCredentialsAuth(credentials)
        auth.headers()   # {"Authorization": "Bearer ya29..."}
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        quota_project: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._credentials = credentials
        self._quota_project = quota_project or getattr(credentials, "quota_project_id", None)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._request: HttpxRequest | None = None
        self._lock = threading.Lock()  # held for a whole refresh
        self._last = _Attempt(number=0)
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._loop_locks_guard = threading.Lock()  # held only to read or add an entry, never across I/O

    @property
    def credentials(self) -> Credentials:
        """The wrapped google-auth credentials."""
        return self._credentials

    def headers(self) -> dict[str, str]:
        """The bearer token header, refreshing the token in this thread when it expires within 5 minutes."""
        seen = self._last.number
        token = self._fresh_token() or self._refresh(seen)
        return _bearer_headers(token, self._quota_project)

    async def aheaders(self) -> dict[str, str]:
        """The bearer token header, refreshing the token in a worker thread when it expires within 5 minutes."""
        seen = self._last.number
        token = self._fresh_token() or await self._arefresh(seen)
        return _bearer_headers(token, self._quota_project)

    def close(self) -> None:
        """Close the HTTP client used for token refresh; a later refresh opens a new one."""
        request, self._request = self._request, None
        if request is not None:
            request.close()

    def __repr__(self) -> str:
        kind = f"{type(self._credentials).__module__.rsplit('.', 1)[-1]}.{type(self._credentials).__name__}"
        email = getattr(self._credentials, "service_account_email", None)
        if isinstance(email, str) and "@" in email:
            return f"GoogleCredentialsAuth(credentials={kind}, service_account={email})"
        return f"GoogleCredentialsAuth(credentials={kind})"

    def _fresh_token(self) -> str | None:
        """The current token if it is valid for more than the refresh margin, else None."""
        # google-auth assigns ``token`` before ``expiry``; reading them in the reverse order guarantees the token
        # read is at least as new as the expiry read, even while another thread refreshes.
        expiry = self._credentials.expiry
        token = self._credentials.token
        if not isinstance(token, str) or not token:
            return None
        if expiry is None:
            return token  # credentials that never expire
        if expiry.tzinfo is not None:
            expiry = expiry.astimezone(UTC).replace(tzinfo=None)
        if expiry - datetime.now(UTC).replace(tzinfo=None) <= REFRESH_MARGIN:
            return None
        return token

    async def _arefresh(self, seen: int) -> str:
        """``_refresh`` for coroutines: one worker thread per event loop at a time, waiters share its outcome."""
        async with self._loop_lock():
            settled = self._settled_since(seen)
            return settled if settled is not None else await asyncio.to_thread(self._refresh, seen)

    def _settled_since(self, seen: int) -> str | None:
        """If a refresh attempt ended after attempt ``seen``, its token (or its error, raised); else None."""
        last = self._last
        if last.number == seen:
            return None
        if last.failure is not None:
            raise _auth_error(last.failure)
        return self._current_token()

    def _refresh(self, seen: int) -> str:
        """Refresh, unless another caller's attempt ended since attempt ``seen``: then share its outcome.

        Blocking; runs in the caller's thread (``headers``) or in a worker thread (``aheaders``).
        """
        from google.auth.exceptions import GoogleAuthError

        with self._lock:
            settled = self._settled_since(seen)
            if settled is not None:
                return settled
            number = self._last.number + 1
            failure: GoogleAuthError | None = None
            try:
                self._credentials.refresh(self._http())  # type: ignore[no-untyped-call]
            except GoogleAuthError as exc:
                # kept for the callers that waited on this attempt; without its frames (they hold the assertion)
                failure = exc.with_traceback(None)
            if failure is not None:
                self._last = _Attempt(number, failure=failure)
                # raised outside the except block: google-auth's error (which may quote the server's answer,
                # the assertion included) is neither the cause nor the context of ours
                raise _auth_error(failure)
            self._last = _Attempt(number)
            log.debug("Refreshed the access token of %r (expires at %s UTC)", self, self._credentials.expiry)
            return self._current_token()

    def _current_token(self) -> str:
        token = self._credentials.token
        if not isinstance(token, str) or not token:
            raise AuthenticationError(401, "UNAUTHENTICATED", "the credentials' refresh returned no access token")
        return token

    def _http(self) -> HttpxRequest:
        """The token-refresh transport, opened on first use (called with the refresh lock held)."""
        if self._request is None:
            import httpx

            from airflow_provider_genai_batch.client.google_auth_transport import HttpxRequest

            self._request = HttpxRequest(timeout=httpx.Timeout(self._timeout, connect=self._connect_timeout))
        return self._request

    def _loop_lock(self) -> asyncio.Lock:
        """The asyncio lock of the running event loop (an asyncio.Lock must not be shared across loops)."""
        loop = asyncio.get_running_loop()
        with self._loop_locks_guard:
            lock = self._loop_locks.get(loop)
            if lock is None:
                lock = self._loop_locks[loop] = asyncio.Lock()
        return lock


def build_auth_provider(settings: ClientSettings, *, iam_endpoint_override: str | None = None) -> AuthProvider:
    """The provider that ``settings`` ask for (see the module docstring for the order of preference).

    ``iam_endpoint_override`` is the full ``generateAccessToken`` URL used for impersonation (regional IAM
    endpoints, a local test server); it is not a ``ClientSettings`` field because only code, not a connection,
    should redirect where tokens are minted.

    Raises ``InvalidInputError`` (naming the field) for contradictory or unusable settings: both a key JSON and a
    key path, a key that cannot be read, impersonation of an API key or a static token, credentials the chosen
    backend would ignore.

    Blocking for Google credentials (it reads a key file, and Application Default Credentials may probe the
    metadata server): from a coroutine, call it through ``asyncio.to_thread``. It sends no token request; the
    first ``headers()`` or ``aheaders()`` does.
    """
    if settings.service_account_key_json is not None and settings.service_account_key_path is not None:
        raise InvalidInputError(
            "service_account_key_path",
            "both service_account_key_json and service_account_key_path are set",
            "keep only one of them",
        )
    if iam_endpoint_override is not None and not settings.impersonation_chain:
        raise InvalidInputError(
            "iam_endpoint_override", "is set but impersonation_chain is empty", "set impersonation_chain or drop it"
        )
    if settings.backend == "gemini" or settings.express_mode:
        where = "the Gemini Developer API" if settings.backend == "gemini" else "Vertex AI express mode"
        _reject_set(settings, _GOOGLE_CREDENTIAL_FIELDS, f"{where} takes an API key or an access token only")
        if settings.api_key is not None:
            return ApiKeyAuth(settings.api_key.get_secret_value())
        if settings.access_token is not None:
            return StaticTokenAuth(settings.access_token.get_secret_value(), quota_project=settings.quota_project)
        raise InvalidInputError("api_key", f"{where} needs an API key", "set api_key (the connection's password)")
    if settings.api_key is not None:
        raise InvalidInputError(
            "api_key",
            "Vertex AI takes an API key only in express mode, without a project",
            "remove api_key to use Google credentials, or remove project to use express mode",
        )
    if settings.credentials is None and settings.access_token is not None:
        _reject_set(settings, ("impersonation_chain",), "a static access token cannot be impersonated")
        return StaticTokenAuth(settings.access_token.get_secret_value(), quota_project=settings.quota_project)
    credentials = _google_credentials(settings)
    if settings.impersonation_chain:
        credentials = _impersonated(credentials, settings, iam_endpoint_override)
    return GoogleCredentialsAuth(
        credentials,
        quota_project=settings.quota_project,
        timeout=settings.timeout,
        connect_timeout=settings.connect_timeout,
    )


def _bearer_headers(token: str, quota_project: str | None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if quota_project:
        headers["x-goog-user-project"] = quota_project
    return headers


def _reject_set(settings: ClientSettings, fields: tuple[str, ...], problem: str) -> None:
    """Raise InvalidInputError for the first of ``fields`` that is set: it would be silently ignored."""
    for field in fields:
        if getattr(settings, field):
            raise InvalidInputError(field, f"is set, but {problem}", f"remove {field}")


def _google_credentials(settings: ClientSettings) -> Credentials:
    """The Google credentials for Vertex AI, before impersonation: object > key JSON > key path > ADC."""
    from google.auth.credentials import Credentials

    if settings.credentials is not None:
        if not isinstance(settings.credentials, Credentials):
            raise InvalidInputError(
                "credentials",
                f"is a {type(settings.credentials).__name__}, not google-auth credentials",
                "pass a google.auth.credentials.Credentials object (for example from google.auth.default())",
            )
        from google.auth.credentials import with_scopes_if_required

        scoped: Credentials = with_scopes_if_required(  # type: ignore[no-untyped-call]
            settings.credentials, list(settings.scopes)
        )
        return scoped
    if settings.service_account_key_json is not None:
        text = settings.service_account_key_json.get_secret_value()
        return _service_account_credentials(text, "service_account_key_json", settings.scopes)
    if settings.service_account_key_path is not None:
        text = _read_key_file(settings.service_account_key_path)
        return _service_account_credentials(text, "service_account_key_path", settings.scopes)
    return _application_default_credentials(settings)


def _read_key_file(value: str) -> str:
    """The text of the key file at ``value``. Errors quote neither the path (it may be a key pasted in the wrong
    field) nor the file's content, and are raised outside the ``except`` block, so no ``OSError`` naming the file
    is chained to them."""
    path = Path(value).expanduser()
    problem: str | None = None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problem = f"there is no file at the given path ({not_shown(value)})"
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"the file at the given path cannot be read as UTF-8 text ({type(exc).__name__}; {not_shown(value)})"
    if problem is not None:
        raise InvalidInputError("service_account_key_path", problem, ACCEPTED_KEY_FORMS)
    return text


def _service_account_credentials(text: str, field: str, scopes: tuple[str, ...]) -> Credentials:
    """Service-account credentials from the text of a JSON key; errors name ``field`` and never quote the key.

    google-auth's own errors may quote key material: they are reported by type only and never chained.
    """
    info = key_info(text, field)
    from google.auth.exceptions import GoogleAuthError
    from google.oauth2 import service_account

    failure: str | None = None
    try:
        credentials: Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=list(scopes)
        )
    except (GoogleAuthError, ValueError, TypeError, IndexError) as exc:
        failure = type(exc).__name__
    if failure is not None:
        raise InvalidInputError(field, f"has a private_key that cannot be loaded ({failure})", ACCEPTED_KEY_FORMS)
    return credentials


def _application_default_credentials(settings: ClientSettings) -> Credentials:
    """Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, the metadata server)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    reason: str | None = None
    try:
        credentials: Credentials
        credentials, _project = google.auth.default(scopes=list(settings.scopes))
    except DefaultCredentialsError as exc:
        reason = _safe_reason(exc)
    if reason is not None:  # raised outside the except block: google-auth's text is never chained
        asked = settings.use_application_default_credentials
        raise InvalidInputError(
            "use_application_default_credentials" if asked else "credentials",
            f"no usable Application Default Credentials ({reason})",
            "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`"
            + ("" if asked else ", or give a service-account key or an access token"),
        )
    return credentials


def _impersonated(source: Credentials, settings: ClientSettings, iam_endpoint_override: str | None) -> Credentials:
    """``source`` impersonating the last account of the chain, through the others as delegates."""
    from google.auth import impersonated_credentials

    chain = settings.impersonation_chain
    if not all(account.strip() for account in chain):
        raise InvalidInputError(
            "impersonation_chain", "contains an empty entry", "list service-account emails, the target last"
        )
    credentials: Credentials = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=source,
        target_principal=chain[-1],
        target_scopes=list(settings.scopes),
        # The IAM API names delegates as resources, as Google's Go and gcloud clients send them.
        delegates=[_iam_resource_name(account) for account in chain[:-1]] or None,
        quota_project_id=getattr(source, "quota_project_id", None),
        iam_endpoint_override=iam_endpoint_override,
    )
    return credentials


def _iam_resource_name(account: str) -> str:
    return account if account.startswith("projects/") else f"projects/-/serviceAccounts/{account}"


def _auth_error(exc: GoogleAuthError) -> GenAIBatchError:
    """Our error for a failed refresh: the server's description is kept, assertions, keys and tokens are not."""
    import httpx
    from google.auth.exceptions import TransportError

    reason = _safe_reason(exc)
    if isinstance(exc, TransportError):
        cause = exc.__cause__
        if isinstance(cause, httpx.TimeoutException):
            return APITimeoutError(
                f"token refresh timed out: {reason}",
                request_sent=not isinstance(cause, httpx.ConnectTimeout),
            )
        return APIConnectionError(
            f"token refresh failed: {reason}", request_sent=not isinstance(cause, httpx.ConnectError)
        )
    if getattr(exc, "retryable", False):  # google-auth's verdict on 5xx and "temporarily_unavailable"
        return ServiceUnavailableError(503, "UNAVAILABLE", f"the token endpoint is unavailable: {reason}")
    return AuthenticationError(401, "UNAUTHENTICATED", f"the credentials were refused: {reason}")


def _safe_reason(exc: BaseException) -> str:
    """The message of a google-auth error plus the server's error message, with anything secret-looking cut."""
    parts = [str(arg) for arg in exc.args[:1]] or [type(exc).__name__]
    if len(exc.args) > 1:
        body: Any = exc.args[1]
        if isinstance(body, str | bytes):
            try:
                body = json.loads(body)
            except ValueError:
                parts.append(body if isinstance(body, str) else body.decode("utf-8", "replace"))
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
    reason = scrub(": ".join(parts))
    return reason if len(reason) <= _MAX_REASON_CHARS else reason[:_MAX_REASON_CHARS] + "..."
