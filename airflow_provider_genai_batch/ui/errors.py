"""The one place error text bound for the UI passes: every error a page or endpoint shows is built here.

It keeps the error's type and message (HTTP status, Google status and the server's words stay readable) and
removes what may be secret: everything the client's one scrubber removes (``client.redaction.scrub``: keys,
tokens, JWTs, PEM blocks, secret fields, URL credentials), and every value Airflow's secrets masker knows (the
hook registers a connection's secrets there when it reads the connection). Then it is cut to ``MAX_CHARS``.

Example::

    ui_error_text(APIConnectionError("cannot reach https://u:pw@host/v1"))
    # 'APIConnectionError: cannot reach https://***@host/v1'
"""

from __future__ import annotations

__all__ = ["MAX_CHARS", "scrub", "ui_error_text"]

MAX_CHARS = 500


def scrub(text: str) -> str:
    """``text`` without secret-looking values, URL credentials and values Airflow's masker knows."""
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_provider_genai_batch.client.redaction import scrub as scrub_secrets

    text = scrub_secrets(text)
    redacted = redact(text)
    return redacted if isinstance(redacted, str) else text


def ui_error_text(exc: BaseException) -> str:
    """``<type>: <message>`` of ``exc``, scrubbed, at most ``MAX_CHARS`` characters."""
    text = scrub(f"{type(exc).__name__}: {exc}")
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 3] + "..."
