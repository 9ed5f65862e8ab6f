"""A counting OAuth token endpoint on 127.0.0.1, and a service-account key that points at it.

The triggerer-density benchmark gives its triggers a Vertex AI connection with this key: google-auth signs a JWT
with it and POSTs it here, so every token refresh is counted, whoever makes it.

Example::

    with TokenServer(lifetime_seconds=3600) as tokens:
        key_json = service_account_key(tokens.token_uri)
        ...
        tokens.count   # refreshes so far
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["TokenServer", "service_account_key"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        number = self.server.issue()
        body = json.dumps(
            {"access_token": f"bench-token-{number}", "expires_in": self.server.lifetime, "token_type": "Bearer"}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # no access log
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, lifetime: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lifetime = lifetime
        self.count = 0
        self._lock = threading.Lock()

    def issue(self) -> int:
        with self._lock:
            self.count += 1
            return self.count


class TokenServer:
    """Serves tokens valid for ``lifetime_seconds`` in a daemon thread; ``count`` is the number issued."""

    def __init__(self, lifetime_seconds: int = 3600) -> None:
        self._server = _Server(lifetime_seconds)
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-server", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.token_uri = f"http://{host!s}:{port}/token"

    @property
    def count(self) -> int:
        """Tokens issued so far."""
        return self._server.count

    def reset(self, lifetime_seconds: int) -> None:
        """Start counting again, issuing tokens valid for ``lifetime_seconds``."""
        self._server.lifetime = lifetime_seconds
        self._server.count = 0

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TokenServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def service_account_key(token_uri: str) -> str:
    """A service-account key JSON (a fresh RSA key) whose ``token_uri`` is ``token_uri``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "bench",
            "private_key_id": "bench-key",
            "private_key": pem,
            "client_email": "bench@bench.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        }
    )
