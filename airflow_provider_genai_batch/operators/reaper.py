"""Reap orphaned batch jobs from a maintenance DAG: ask the api-server's reaper, as one Airflow user.

Why through the api-server: deciding that a job is an orphan needs the task records of every DAG (XCom key
proofs, task and DAG run states), which live in the metadata DB. Airflow 3 workers cannot query it (the task
process runs with ORM access blocked) and the Task SDK's Execution API reads one task's XCom at a time, with no
listing across DAGs. The api-server has the DB and the auth manager, so the UI plugin's ``POST
/genai-batch/api/reap`` does the work (``ui/reaper.py``) and this operator signs in as the user of
``airflow_api_conn_id`` and calls it: the reaper sees and cancels exactly what that user may (each job against
its owning DAG's edit access), and the worker needs no database credentials.

The connection (type ``http``): ``host`` is the api-server's base URL (``http://airflow-apiserver:8080``, or
host, ``schema`` and ``port``); with a ``login``, ``login``/``password`` are exchanged for a token at
``/auth/token`` (the simple and FAB auth managers serve it); without one, ``password`` is the bearer token.

Example::

    GenAIBatchReapOrphansOperator(task_id="reap", dry_run=False)   # returns the JSON report
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from airflow_provider_genai_batch.operators._inputs import OperatorInputError

if TYPE_CHECKING:
    import httpx
    from airflow.sdk import Context

__all__ = ["DEFAULT_AIRFLOW_API_CONN_ID", "REAP_PATH", "GenAIBatchReapOrphansOperator"]

DEFAULT_AIRFLOW_API_CONN_ID = "airflow_api"
#: Where the UI plugin serves the reaper on the api-server.
REAP_PATH = "/genai-batch/api/reap"
_CSRF = {"X-Requested-With": "genai-batch-ui"}


class GenAIBatchReapOrphansOperator(BaseOperator):
    """Cancel live batch jobs whose task instance failed (or was skipped, removed, or whose run ended): dry run by
    default. Returns the report: ``looked_at``, ``to_cancel`` (with reasons and owners), ``cancelled``,
    ``kept``, ``skipped`` (with reasons), ``unowned`` (never cancelled), ``errors``.

    :param dry_run: report only (default); ``False`` cancels the orphans found.
    :param conn_ids: the ``genai_batch`` connections to scan (default: every one the api-server knows).
    :param airflow_api_conn_id: an ``http`` connection to the api-server and the user to act as.
    :param fail_on_errors: fail the task when a scan or a cancel failed (after the others were done).
    :param timeout: seconds to wait for the api-server's answer.
    """

    template_fields: Sequence[str] = ("reap_dry_run", "conn_ids")
    ui_color = "#f4e4d4"

    def __init__(
        self,
        *,
        dry_run: bool = True,
        conn_ids: Sequence[str] | None = None,
        airflow_api_conn_id: str = DEFAULT_AIRFLOW_API_CONN_ID,
        fail_on_errors: bool = True,
        timeout: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(airflow_api_conn_id, str) or not airflow_api_conn_id:
            raise OperatorInputError(
                "airflow_api_conn_id", "must be a non-empty connection id", "name an http connection"
            )
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise OperatorInputError("timeout", f"must be a positive number of seconds, got {timeout!r}", "use 600")
        self.reap_dry_run = dry_run  # ``BaseOperator.dry_run`` is a method
        self.conn_ids = list(conn_ids) if conn_ids is not None else None
        self.airflow_api_conn_id = airflow_api_conn_id
        self.fail_on_errors = fail_on_errors
        self.timeout = float(timeout)

    def _dry_run(self) -> bool:
        value: Any = self.reap_dry_run
        if isinstance(value, str):  # a rendered template
            if value.strip().lower() not in ("true", "false"):
                raise OperatorInputError("dry_run", f"must be true or false, got {value!r}", "pass a boolean")
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise OperatorInputError("dry_run", f"must be a boolean, got {value!r}", "pass True or False")
        return value

    def _conn_ids(self) -> list[str] | None:
        if self.conn_ids is None:
            return None
        if not all(isinstance(c, str) and c for c in self.conn_ids):
            raise OperatorInputError(
                "conn_ids", "must be a list of connection ids", "pass e.g. ['genai_batch_default']"
            )
        return list(self.conn_ids)

    def execute(self, context: Context) -> dict[str, Any]:
        """Ask the api-server's reaper; log and return its report."""
        import httpx

        dry_run, conn_ids = self._dry_run(), self._conn_ids()
        base, conn = self._api()
        body = {"dry_run": dry_run, "conn_ids": conn_ids}
        with httpx.Client(base_url=base, timeout=self.timeout) as http:
            headers = self._token(http, conn)
            response = http.post(REAP_PATH, json=body, headers={**headers, **_CSRF})
        report = _json(response, "the reaper")
        self._log(report)
        if report.get("errors") and self.fail_on_errors:
            raise AirflowException(f"reaping orphans had errors: {'; '.join(map(str, report['errors']))}")
        return report

    def _api(self) -> tuple[str, Any]:
        """The api-server's base URL (never with credentials) and the connection."""
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(self.airflow_api_conn_id)
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            raise OperatorInputError(
                "airflow_api_conn_id",
                f"connection {self.airflow_api_conn_id!r} has no host",
                "set host to the api-server's URL, e.g. http://airflow-apiserver:8080",
            )
        if "://" not in host:
            port = f":{conn.port}" if conn.port else ""
            host = f"{conn.schema or 'http'}://{host}{port}"
        if "@" in host.partition("://")[2].partition("/")[0]:
            raise OperatorInputError(
                "airflow_api_conn_id", "the host carries credentials", "put them in login and password instead"
            )
        return host, conn

    def _token(self, http: httpx.Client, conn: Any) -> dict[str, str]:
        """The bearer header: a token from ``/auth/token`` for login/password, else the password itself."""
        if conn.login:
            response = http.post("/auth/token", json={"username": conn.login, "password": conn.password or ""})
            token = _json(response, "the api-server's /auth/token").get("access_token")
            if not isinstance(token, str) or not token:
                raise AirflowException("the api-server's /auth/token answered without an access_token")
        else:
            token = conn.password or ""
            if not token:
                raise OperatorInputError(
                    "airflow_api_conn_id",
                    f"connection {self.airflow_api_conn_id!r} has neither a login nor a token",
                    "set login and password of an Airflow user with edit access to the DAGs to reap",
                )
        from airflow.sdk.log import mask_secret

        mask_secret(token)
        return {"Authorization": f"Bearer {token}"}

    def _log(self, report: dict[str, Any]) -> None:
        mode = "dry run" if report.get("dry_run") else "applied"
        self.log.info(
            "Reaping orphans (%s): %s live jobs looked at, %s to cancel, %s cancelled, %s kept, %s skipped, "
            "%s not owned by any task",
            mode,
            report.get("looked_at"),
            len(report.get("to_cancel", [])),
            len(report.get("cancelled", [])),
            len(report.get("kept", [])),
            len(report.get("skipped", [])),
            len(report.get("unowned", [])),
        )
        for entry in report.get("to_cancel", []):
            self.log.info("ORPHAN %s (%s): %s", entry.get("job_name"), entry.get("conn_id"), entry.get("reason"))
        for entry in report.get("skipped", []):
            self.log.info("SKIPPED %s: %s", entry.get("job_name"), entry.get("reason"))


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; else an error naming the status and the server's (scrubbed) detail."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict):
        return body
    detail = body.get("detail") if isinstance(body, dict) else None
    from airflow_provider_genai_batch.client.redaction import scrub

    text = scrub(str(detail if detail is not None else response.text[:300]))
    hint = {401: " (the connection's credentials were refused)", 403: " (the user lacks edit access to DAGs)"}
    raise AirflowException(f"{what} answered HTTP {response.status_code}{hint.get(response.status_code, '')}: {text}")
