"""``EmulatorClient``: the control API of an emulator running in another process, over HTTP.

It has the same methods, arguments and return values as the in-process ``EmulatorHandle``, so a test can drive
either one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote

import httpx

from airflow_provider_genai_batch.emulator.control import EmulatorStats, JobSummary, table_key
from airflow_provider_genai_batch.emulator.errors import EmulatorError
from airflow_provider_genai_batch.emulator.faults import FaultKind
from airflow_provider_genai_batch.emulator.state import Backend, FailedRequests, FinalState, RowFailure

__all__ = ["EmulatorClient"]


def _failure_json(value: Any) -> Any:
    if isinstance(value, RowFailure):
        return {"code": value.code, "message": value.message}
    return list(value) if isinstance(value, tuple) else value


def _failed_json(failed: FailedRequests) -> Any:
    """``failed_requests`` as JSON: a mapping with string keys, or a list of indices and ``[index, code...]``."""
    if isinstance(failed, Mapping):
        return {str(index): _failure_json(value) for index, value in failed.items()}
    return [_failure_json(entry) for entry in failed]


class EmulatorClient:
    """Control an emulator over HTTP (``/_emulator/...``).

    Example::

        with EmulatorClient("http://127.0.0.1:8085") as emu:
            emu.reset()
            emu.add_outcome("FAILED", error_message="boom")
            emu.put_object("bucket", "in.jsonl", data)
            print(emu.stats()["jobs_created"])
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        #: The emulator's base URL, without a trailing slash.
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmulatorClient(base_url={self.base_url!r})"

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, "/_emulator/" + path, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise EmulatorError(error["code"], error["message"], error.get("status"))
            except (ValueError, KeyError, TypeError):
                raise EmulatorError(response.status_code, response.text) from None
        return response

    def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._request(method, path, json=dict(body) if body is not None else None).json()

    @property
    def api_key(self) -> str:
        """The Gemini API key the emulator accepts."""
        return cast(str, self.configure()["api_key"])

    def reset(self) -> None:
        """See ``EmulatorControls.reset``."""
        self._json("POST", "reset")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """See ``EmulatorControls.configure``."""
        if not settings:
            return cast(dict[str, Any], self._json("GET", "config"))
        return cast(dict[str, Any], self._json("POST", "config", settings))

    def add_outcome(
        self,
        final_state: FinalState = "SUCCEEDED",
        *,
        failed_requests: FailedRequests = (),
        error_message: str | None = None,
        job_seconds: float | None = None,
        pending_seconds: float | None = None,
        match_display_name: str | None = None,
        backend: Backend | None = None,
        count: int | None = 1,
        expired_done: int = 0,
    ) -> None:
        """See ``EmulatorControls.add_outcome``; ``failed_requests`` in any of its forms (sent as JSON)."""
        self._json(
            "POST",
            "outcomes",
            {
                "final_state": final_state,
                "failed_requests": _failed_json(failed_requests),
                "error_message": error_message,
                "job_seconds": job_seconds,
                "pending_seconds": pending_seconds,
                "match_display_name": match_display_name,
                "backend": backend,
                "count": count,
                "expired_done": expired_done,
            },
        )

    def add_fault(
        self,
        kind: FaultKind = "status",
        *,
        method: str | None = None,
        path: str | None = None,
        status: int = 429,
        google_status: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        retry_delay: float = 1.0,
        delay_seconds: float = 0.0,
        count: int | None = 1,
        skip: int = 0,
        probability: float = 1.0,
        seed: int | None = None,
    ) -> None:
        """See ``EmulatorControls.add_fault``."""
        self._json(
            "POST",
            "faults",
            {
                "kind": kind,
                "method": method,
                "path": path,
                "status": status,
                "google_status": google_status,
                "message": message,
                "retry_after": retry_after,
                "retry_delay": retry_delay,
                "delay_seconds": delay_seconds,
                "count": count,
                "skip": skip,
                "probability": probability,
                "seed": seed,
            },
        )

    def clear_faults(self) -> None:
        """See ``EmulatorControls.clear_faults``."""
        self._json("DELETE", "faults")

    def finish_job(self, name: str, state: str = "SUCCEEDED", *, error_message: str | None = None) -> JobSummary:
        """See ``EmulatorControls.finish_job``."""
        body = {"state": state, "error_message": error_message}
        return cast(JobSummary, self._json("POST", f"jobs/{name}:finish", body))

    def advance_clock(self, seconds: float) -> None:
        """See ``EmulatorControls.advance_clock``."""
        self._json("POST", "clock:advance", {"seconds": seconds})

    def stats(self) -> EmulatorStats:
        """See ``EmulatorControls.stats``."""
        return cast(EmulatorStats, self._json("GET", "stats"))

    def put_object(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """See ``EmulatorControls.put_object``."""
        path = f"gcs/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
        self._request("PUT", path, content=bytes(data), headers={"Content-Type": content_type})

    def get_object(self, bucket: str, name: str) -> bytes:
        """See ``EmulatorControls.get_object``."""
        return self._request("GET", f"gcs/{quote(bucket, safe='')}/o/{quote(name, safe='')}").content

    def list_objects(self, bucket: str, prefix: str = "") -> list[str]:
        """See ``EmulatorControls.list_objects``."""
        response = self._request("GET", f"gcs/{quote(bucket, safe='')}/o", params={"prefix": prefix})
        return cast(list[str], response.json()["names"])

    def put_table(self, table_uri: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """See ``EmulatorControls.put_table``."""
        self._json("PUT", f"bigquery/tables/{table_key(table_uri)}", {"rows": list(rows)})

    def get_table(self, table_uri: str) -> list[dict[str, Any]]:
        """See ``EmulatorControls.get_table``."""
        return cast(list[dict[str, Any]], self._json("GET", f"bigquery/tables/{table_key(table_uri)}")["rows"])

    def list_tables(self) -> list[str]:
        """See ``EmulatorControls.list_tables``."""
        return cast(list[str], self._json("GET", "bigquery/tables")["tables"])
