"""Secret scan: every example DAG, in both modes, successes and failures, then a search for the secrets
everywhere Airflow and the provider leave text behind.

The secrets are recognisable: a Gemini API key, and a real service-account key (an RSA key generated here) whose
``token_uri`` is a token endpoint served on 127.0.0.1 by this module, so the Vertex AI runs obtain a real access
token through google-auth (the emulator accepts any bearer token). Searched for:

- the API key, the access token, the key's ``private_key_id``;
- the private key: any 20-character slice of its base64 body (a partial or reformatted leak counts).

Searched in: the captured output of every ``dag.test()`` run (task logs, the in-line trigger's logs, tracebacks),
files under ``AIRFLOW_HOME/logs``, every row of every table of the metadata database (``xcom``,
``task_instance``, ``rendered_task_instance_fields``, ``dag_run``...), the raw database file, ``trigger`` rows
sampled while the tasks were deferred (stored and decrypted), XCom values as the tasks read them, the text of
every exception the tasks failed with, and ``repr()``/``str()`` of hooks, clients, settings and auth providers.

Runs: each example DAG deferrable and sync (operators and sensors flipped on the parsed DAG; the housekeeping DAG
has no mode), a job that ends FAILED in both modes, two bad connections (the API key put in an extra; a truncated
service-account JSON), and a token endpoint that refuses the key.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient, GenAIBatchError
from airflow_provider_genai_batch.emulator import EmulatorHandle
from tests.conftest import STAGING_BUCKET, VERTEX_LOCATION, VERTEX_PROJECT
from tests.reliability.dag_support import record_failure, task_states

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
API_KEY = "AIzaSyRELIABILITY-scan-" + secrets.token_urlsafe(12)
ACCESS_TOKEN = "ya29.RELIABILITY-scan-token-" + secrets.token_urlsafe(16)
CLIENT_EMAIL = f"reliability-scan@{VERTEX_PROJECT}.iam.gserviceaccount.com"
WINDOW = 20
_BASE64_RUN = re.compile(rf"[A-Za-z0-9+/=]{{{WINDOW},}}")
MODES = ("deferrable", "sync")
NO_MODE = frozenset({"genai_batch_housekeeping"})
# Example DAGs the scan cannot run in process, with where their secret handling is proven instead.
NOT_SCANNED = {
    # calls the api-server's reap endpoint with an Airflow API token: needs a running api-server; its token is
    # masked and never logged: tests/operators/test_reaper_operator.py
    # ::test_a_viewer_token_fails_the_task_with_the_status_and_cancels_nothing
    "genai_batch_reap_orphans": "reap_orphans.py",
}
BAD_EXTRA_CONN = "rel_scan_key_in_extra"
BAD_KEY_CONN = "rel_scan_truncated_key"


# --- the secrets ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secrets:
    """The recognisable secrets and how to find them (or any 20-character slice of the private key) in text."""

    api_key: str
    access_token: str
    private_key_pem: str
    private_key_id: str
    service_account_json: str
    key_windows: frozenset[str]

    @classmethod
    def generate(cls, token_uri: str) -> Secrets:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        key_id = secrets.token_hex(20)
        info = {
            "type": "service_account",
            "project_id": VERTEX_PROJECT,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "123456789012345678901",
            "token_uri": token_uri,
        }
        body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
        windows = frozenset(body[i : i + WINDOW] for i in range(len(body) - WINDOW + 1))
        return cls(API_KEY, ACCESS_TOKEN, pem, key_id, json.dumps(info), windows)

    def hits(self, text: str) -> list[str]:
        """What leaked in ``text``: named secrets, with some context."""
        found: list[str] = []
        for name, value in (
            ("api_key", self.api_key),
            ("access_token", self.access_token),
            ("private_key_id", self.private_key_id),
        ):
            at = text.find(value)
            if at >= 0:
                found.append(f"{name}: ...{text[max(0, at - 80) : at + len(value) + 80]!r}...")
        for run in _BASE64_RUN.finditer(text):
            chunk = run.group()
            for i in range(len(chunk) - WINDOW + 1):
                if chunk[i : i + WINDOW] in self.key_windows:
                    found.append(f"private_key slice: ...{text[max(0, run.start() - 80) : run.end() + 80]!r}...")
                    break
        return found


# --- a token endpoint on 127.0.0.1 -----------------------------------------------------------------------------


class TokenEndpoint:
    """OAuth token endpoint for the service-account JWT grant: answers the token, or refuses when told to."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests = 0
        self.refuse = False
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                endpoint.requests += 1
                if endpoint.refuse:
                    # A misbehaving proxy that echoes the request (the signed assertion) in its error.
                    answer = {"error": "invalid_grant", "error_description": f"Invalid JWT Signature: {body}"}
                    self._answer(400, answer)
                else:
                    self._answer(200, {"access_token": endpoint.token, "expires_in": 3600, "token_type": "Bearer"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-endpoint", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/token"

    def __enter__(self) -> TokenEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- sampling the trigger table while tasks are deferred -------------------------------------------------------


def _database_path() -> Path:
    from airflow.configuration import conf

    url = conf.get("database", "sql_alchemy_conn")
    assert url.startswith("sqlite:///"), f"the scan reads a SQLite metadata database, not {url}"
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


class RecordCollector(logging.Handler):
    """Every log record emitted while attached, formatted with its traceback (what a log file would hold)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))


class TriggerSampler(threading.Thread):
    """Reads the ``trigger`` table every 50 ms and keeps every distinct row (raw and decrypted)."""

    def __init__(self, database: Path) -> None:
        super().__init__(name="trigger-sampler", daemon=True)
        self._database = database
        self._stop_event = threading.Event()
        self.rows: dict[tuple[int, str], tuple[str, str]] = {}

    def run(self) -> None:
        from airflow.models.trigger import Trigger

        while not self._stop_event.wait(0.05):
            try:
                with contextlib.closing(sqlite3.connect(f"file:{self._database}?mode=ro", uri=True)) as db:
                    rows = db.execute("SELECT id, classpath, kwargs FROM trigger").fetchall()
            except sqlite3.Error:
                continue
            for trigger_id, classpath, raw in rows:
                if (trigger_id, raw) not in self.rows:
                    try:
                        decrypted = json.dumps(Trigger._decrypt_kwargs(raw), default=str)
                    except Exception as exc:  # keep the raw text; say why it could not be read
                        decrypted = f"<undecryptable: {type(exc).__name__}>"
                    self.rows[(trigger_id, raw)] = (classpath, decrypted)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


# --- the runs --------------------------------------------------------------------------------------------------


@dataclass
class Scan:
    """Everything the runs left behind, as text to search, plus what ran."""

    secrets: Secrets
    token_requests: int
    runs: dict[str, dict[str, str]] = field(default_factory=dict)  # run label -> task states
    output: str = ""
    records: str = ""  # log records, formatted with tracebacks
    log_files: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    database_bytes: bytes = b""
    trigger_rows: list[tuple[str, str, str]] = field(default_factory=list)  # classpath, raw, decrypted
    xcoms: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # run/task -> exception text
    exceptions: list[str] = field(default_factory=list)


def _connections(emulator: EmulatorHandle, keys: Secrets) -> dict[str, dict[str, Any]]:
    vertex_extra = {
        "backend": "vertex",
        "project": VERTEX_PROJECT,
        "location": VERTEX_LOCATION,
        "gcs_staging_prefix": f"gs://{STAGING_BUCKET}/staging",
        "storage_base_url": emulator.base_url,
    }
    truncated = keys.service_account_json[: keys.service_account_json.index("PRIVATE KEY-----") + 200]
    return {
        "genai_batch_default": {"conn_type": "genai_batch", "host": emulator.base_url, "password": keys.api_key},
        # common-ai's ``@task.llm_batch`` example reaches Gemini through the connection its users already have.
        "pydanticai_default": {"conn_type": "pydanticai", "host": emulator.base_url, "password": keys.api_key},
        "genai_batch_vertex": {
            "conn_type": "genai_batch",
            "host": emulator.base_url,
            "extra": {**vertex_extra, "service_account_key": keys.service_account_json},
        },
        BAD_EXTRA_CONN: {
            "conn_type": "genai_batch",
            "host": emulator.base_url,
            "password": keys.api_key,
            "extra": {"api_key": keys.api_key},
        },
        BAD_KEY_CONN: {
            "conn_type": "genai_batch",
            "host": emulator.base_url,
            "extra": {**vertex_extra, "service_account_key": truncated},
        },
    }


def _set_mode(dag: Any, mode: str) -> None:
    """Flip every operator of a parsed DAG to ``mode``; forget hooks cached by earlier runs."""
    deferrable = mode == "deferrable"
    for task in dag.tasks:
        partial = getattr(task, "partial_kwargs", None)
        if isinstance(partial, dict):  # a mapped operator
            if "deferrable" in partial:
                partial["deferrable"] = deferrable
            continue
        task.__dict__.pop("hook", None)
        task.on_failure_callback = [record_failure]
        if hasattr(task, "deferrable"):
            task.deferrable = deferrable
        if hasattr(task, "poke_interval"):
            task.poke_interval = 0.2
            task.mode = "poke"


def _prepare(emulator: EmulatorHandle, dag_id: str) -> dict[str, Any]:
    """Inputs a run needs in the emulator, and its conf."""
    if dag_id == "genai_batch_vertex_gcs_to_gcs":
        line = {"key": "row-0", "request": {"contents": [{"role": "user", "parts": [{"text": "q"}]}]}}
        emulator.put_object("scan-bucket", "in/input.jsonl", (json.dumps(line) + "\n").encode())
        return {"input_uri": "gs://scan-bucket/in/input.jsonl", "output_prefix": "gs://scan-bucket/out"}
    if dag_id == "genai_batch_vertex_bigquery":
        request = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
        emulator.put_table(f"bq://{VERTEX_PROJECT}.genai.requests", [{"id": 1, "request": request}])
        return {"source_table": f"bq://{VERTEX_PROJECT}.genai.requests", "dest_dataset": f"bq://{VERTEX_PROJECT}.out"}
    if dag_id in ("genai_batch_sensor_external_job", "genai_batch_housekeeping"):
        settings = ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url)
        with GenAIBatchClient(settings) as client:
            job = client.batches.create(model="gemini-2.5-flash", src=["submitted elsewhere"])
        return {"job_name": job.name}
    if dag_id == "genai_batch_completion_policy":  # a follow-up job too: its key, XCom and trigger are scanned
        emulator.add_outcome(failed_requests={1: 429})
    if dag_id == "genai_batch_completion_sharded":  # a shard's follow-up cut from its shard file is scanned too
        emulator.add_outcome("EXPIRED", expired_done=1, match_display_name="shard-1--")
    if dag_id == "genai_batch_common_ai":
        # common-ai polls at most every 30 s (its minimum): its two jobs end at once, so each task's first read
        # finds the job done instead of sleeping 30 s. The deferrable run still defers (common-ai defers before
        # its first read), so its trigger still runs and is sampled.
        emulator.add_outcome(job_seconds=0.0, pending_seconds=0.0, count=2)
    return {}


def _dump_tables(database: Path) -> dict[str, str]:
    dumps: dict[str, str] = {}
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in names:
            rows = db.execute(f'SELECT * FROM "{name}"').fetchall()  # names come from sqlite_master
            dumps[name] = json.dumps(
                rows, default=lambda v: v.decode(errors="replace") if isinstance(v, bytes) else str(v)
            )
    return dumps


def _xcom_values(dag_runs: list[Any]) -> dict[str, str]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    values: dict[str, str] = {}
    with create_session() as session:
        for dag_run in dag_runs:
            rows = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
            for row in rows:
                label = f"{dag_run.dag_id}/{dag_run.run_id}/{row.task_id}[{row.map_index}]/{row.key}"
                values[label] = json.dumps(XComModel.deserialize_value(row), default=str)
    return values


@pytest.fixture(scope="module")
def scan(
    request: pytest.FixtureRequest,
    genai_batch_emulator_server: EmulatorHandle,
    dags_folder: Path,
    airflow_db: None,
    airflow_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scan]:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    from airflow_provider_genai_batch.hooks import client_cache
    from tests.reliability.dag_support import FAILURES_DIR_ENV, read_failures

    emulator = genai_batch_emulator_server
    emulator.reset()
    emulator.configure(job_seconds=0.3, pending_seconds=0.1, api_key=API_KEY)
    capman = request.config.pluginmanager.getplugin("capturemanager")
    work = tmp_path_factory.mktemp("secret-scan")
    failures_dir = work / "failures"
    failures_dir.mkdir()
    with TokenEndpoint(ACCESS_TOKEN) as tokens, pytest.MonkeyPatch.context() as patch:
        keys = Secrets.generate(tokens.url)
        connections = _connections(emulator, keys)
        for conn_id, conn in connections.items():
            patch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        patch.setenv("GENAI_BATCH_FIRST_POLL_SECONDS", "0.1")
        patch.setenv("GENAI_BATCH_RESULTS_DIR", str(work / "results"))
        patch.setenv("GENAI_BATCH_COMMON_AI_RESULTS", (work / "common-ai").as_uri())
        patch.setenv(FAILURES_DIR_ENV, str(failures_dir))
        copied = [dags_folder / path.name for path in EXAMPLE_FILES]
        for path in EXAMPLE_FILES:
            shutil.copy(path, dags_folder / path.name)
        sampler = TriggerSampler(_database_path())
        sampler.start()
        records = RecordCollector()
        logging.getLogger().addHandler(records)
        result = Scan(secrets=keys, token_requests=0)
        dag_runs: list[Any] = []
        try:
            bag = DagBag(dag_folder=str(dags_folder))
            assert not bag.import_errors, bag.import_errors

            def run(label: str, dag_id: str, mode: str, before: Callable[[], None] | None = None) -> None:
                dag = bag.dags[dag_id]
                _set_mode(dag, mode)
                conf = _prepare(emulator, dag_id)
                if before is not None:
                    before()
                client_cache.clear_sync_clients()
                dag_run = dag.test(run_conf=conf)
                dag_runs.append(dag_run)
                result.runs[label] = task_states(dag_run)
                for task_id, failure in read_failures(failures_dir, dag_id).items():
                    result.failures[f"{label}/{task_id}"] = json.dumps(failure)
                for path in failures_dir.iterdir():
                    path.unlink()

            for mode in MODES:
                for dag_id in sorted(bag.dags):
                    if dag_id in NOT_SCANNED:
                        continue
                    if dag_id.startswith("genai_batch_") and not (dag_id in NO_MODE and mode == "sync"):
                        run(f"{dag_id}:{mode}", dag_id, mode)
                run(
                    f"failed-job:{mode}",
                    "genai_batch_gemini_inline",
                    mode,
                    lambda: emulator.add_outcome(final_state="FAILED", error_message="the model is overloaded"),
                )
            # Bad connections: the operators of a DAG pointed at them (the conn id is read at execute time).
            with pytest.MonkeyPatch.context() as bad:
                bad.setenv("AIRFLOW_CONN_GENAI_BATCH_DEFAULT", json.dumps(connections[BAD_EXTRA_CONN]))
                run("key-in-extra:sync", "genai_batch_gemini_inline", "sync")
            with pytest.MonkeyPatch.context() as bad:
                bad.setenv("AIRFLOW_CONN_GENAI_BATCH_VERTEX", json.dumps(connections[BAD_KEY_CONN]))
                run("truncated-key:deferrable", "genai_batch_vertex_gcs_to_gcs", "deferrable")
            result.exceptions.extend(_direct_exceptions(tokens, keys))
        finally:
            logging.getLogger().removeHandler(records)
            sampler.stop()
            for path in copied:
                path.unlink(missing_ok=True)
            client_cache.clear_sync_clients()
            result.token_requests = tokens.requests
    captured = capman.read_global_capture() if capman is not None else None
    result.output = (captured.out + captured.err) if captured is not None else ""
    result.records = "\n".join(records.lines)
    logs = airflow_home / "logs"
    if logs.exists():
        result.log_files = {str(p): p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file()}
    database = _database_path()
    result.tables = _dump_tables(database)
    result.database_bytes = b"".join(
        p.read_bytes() for p in (database, database.with_name(database.name + "-wal")) if p.exists()
    )
    result.trigger_rows = [(classpath, raw, text) for (_, raw), (classpath, text) in sampler.rows.items()]
    result.xcoms = _xcom_values(dag_runs)
    yield result


def _direct_exceptions(tokens: TokenEndpoint, keys: Secrets) -> list[str]:
    """Errors raised straight from the hook: a wrong API key, a token endpoint that refuses (and echoes the
    signed assertion), a bad connection read without blocking."""
    import asyncio

    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    texts: list[str] = []
    tokens.refuse = True
    try:
        GenAIBatchHook(genai_batch_conn_id="genai_batch_vertex").get_job("123")
    except GenAIBatchError as exc:
        texts.append(f"{type(exc).__name__}: {exc!s} / {exc!r}")
    finally:
        tokens.refuse = False
    hook = GenAIBatchHook(genai_batch_conn_id=BAD_EXTRA_CONN)
    ok, message = hook.test_connection()
    texts.append(f"test_connection -> {ok}: {message}")

    async def read_bad() -> None:
        await GenAIBatchHook(genai_batch_conn_id=BAD_KEY_CONN).aget_conn()

    try:
        asyncio.run(read_bad())
    except GenAIBatchError as exc:
        texts.append(f"{type(exc).__name__}: {exc!s} / {exc!r}")
    return texts


# --- the assertions ---------------------------------------------------------------------------------------------


def test_the_runs_cover_every_example_mode_and_failure(scan: Scan) -> None:
    dag_ids = {label.split(":")[0] for label in scan.runs}
    suffixes = {dag_id.removeprefix("genai_batch_") for dag_id in dag_ids}
    for path in EXAMPLE_FILES:  # one DAG named after its file, or several (``<stem>_<backend>``) from one file
        if path.name in NOT_SCANNED.values():
            continue
        stem = path.stem.removeprefix("example_").removeprefix("genai_batch_")
        assert any(s == stem or s.startswith(f"{stem}_") for s in suffixes), path.name
    example_dag_ids = {dag_id for dag_id in dag_ids if dag_id.startswith("genai_batch_")}
    assert not example_dag_ids & set(NOT_SCANNED)
    for label, states in scan.runs.items():
        should_fail = label.startswith(("failed-job", "key-in-extra", "truncated-key"))
        if should_fail:
            assert "failed" in states.values(), (label, states)
        else:
            assert set(states.values()) == {"success"}, (label, states)
    assert len(scan.runs) == 2 * len(example_dag_ids) - len(NO_MODE) + 4
    assert scan.token_requests >= 2, "the Vertex AI runs did not fetch a token from the local endpoint"
    assert any(classpath.endswith("GenAIBatchJobTrigger") for classpath, _, _ in scan.trigger_rows)
    assert len(scan.failures) >= 4 and len(scan.exceptions) == 3


def test_no_secret_in_task_and_trigger_logs(scan: Scan) -> None:
    if "[DAG TEST]" not in scan.output:
        pytest.skip("the log scan reads pytest's captured output: run without -s / --capture=no")
    assert "running trigger in line" in scan.output.lower() or "GenAIBatchJobTrigger" in scan.output
    assert scan.secrets.hits(scan.output) == []
    assert "[DAG TEST]" in scan.records
    assert scan.secrets.hits(scan.records) == []
    leaks = {path: scan.secrets.hits(text) for path, text in scan.log_files.items()}
    assert {path: hits for path, hits in leaks.items() if hits} == {}


def test_no_secret_in_xcom(scan: Scan) -> None:
    assert scan.xcoms
    leaks = {label: scan.secrets.hits(text) for label, text in scan.xcoms.items()}
    assert {label: hits for label, hits in leaks.items() if hits} == {}


def test_no_secret_in_trigger_rows(scan: Scan) -> None:
    leaks = [scan.secrets.hits(raw + "\n" + text) for _, raw, text in scan.trigger_rows]
    assert [hits for hits in leaks if hits] == []
    for _, _, text in scan.trigger_rows:
        assert "genai_batch_conn_id" in text or "undecryptable" not in text


def test_no_secret_in_any_table(scan: Scan) -> None:
    assert {"task_instance", "rendered_task_instance_fields", "xcom", "trigger", "dag_run"} <= set(scan.tables)
    leaks = {table: scan.secrets.hits(text) for table, text in scan.tables.items()}
    assert {table: hits for table, hits in leaks.items() if hits} == {}


def test_no_secret_in_the_database_file(scan: Scan) -> None:
    assert scan.secrets.hits(scan.database_bytes.decode("latin-1")) == []


def test_no_secret_in_exception_texts(scan: Scan) -> None:
    texts = list(scan.failures.values()) + scan.exceptions
    assert any("invalid_grant" in text or "refused" in text for text in scan.exceptions), scan.exceptions
    leaks = [scan.secrets.hits(text) for text in texts]
    assert [hits for hits in leaks if hits] == []


def test_no_secret_in_reprs(scan: Scan, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """``repr()``/``str()`` of the hook, its settings, clients, their verbs and auth providers, for both
    connections (the service-account one with a fetched token)."""
    import asyncio

    from airflow_provider_genai_batch.client import AsyncGenAIBatchClient
    from airflow_provider_genai_batch.hooks import client_cache
    from airflow_provider_genai_batch.hooks.connection import settings_from_connection
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    keys = scan.secrets
    texts: list[str] = []
    with TokenEndpoint(ACCESS_TOKEN) as tokens:
        info = json.loads(keys.service_account_json)
        info["token_uri"] = tokens.url
        conns = {
            "rel_repr_gemini": {"conn_type": "genai_batch", "host": emulator.base_url, "password": keys.api_key},
            "rel_repr_vertex": {
                "conn_type": "genai_batch",
                "host": emulator.base_url,
                "extra": {"backend": "vertex", "project": VERTEX_PROJECT, "service_account_key": json.dumps(info)},
            },
        }
        for conn_id, conn in conns.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
            hook = GenAIBatchHook(genai_batch_conn_id=conn_id)
            settings = hook.get_settings()
            client = hook.get_conn()
            client.auth.headers()  # fetch a token (Vertex): the provider now holds one
            airflow_conn = hook.get_connection(conn_id)
            objects: list[object] = [
                hook,
                settings,
                settings_from_connection(airflow_conn),
                client,
                client.batches,
                client.files,
                client.auth,
                settings.model_dump(),
                settings.model_dump_json(),
            ]
            texts += [repr(o) for o in objects] + [str(o) for o in objects]

            async def async_reprs(hook: GenAIBatchHook = hook) -> list[str]:
                aclient: AsyncGenAIBatchClient = await hook.aget_conn()
                await aclient.auth.aheaders()
                found = [repr(aclient), str(aclient), repr(aclient.batches), repr(aclient.auth)]
                await client_cache.close_loop_clients()
                return found

            texts += asyncio.run(async_reprs())
        assert tokens.requests >= 1
    leaks = [keys.hits(text) for text in texts]
    assert [hits for hits in leaks if hits] == []


def test_the_scan_finds_a_planted_leak(scan: Scan) -> None:
    """The detector itself: each secret, and a 20-character slice of the private key, is found."""
    keys = scan.secrets
    body = "".join(line for line in keys.private_key_pem.splitlines() if not line.startswith("-----"))
    for planted in (
        keys.api_key,
        keys.access_token,
        keys.private_key_id,
        body[100:120],
        json.dumps(keys.private_key_pem),
    ):
        assert keys.hits(f"log line {planted} end"), planted
    assert keys.hits(body[100:119]) == []


def test_the_secrets_left_the_environment(scan: Scan) -> None:
    """The connections this module set are gone: later tests see no secret."""
    assert all(scan.secrets.api_key not in value for value in os.environ.values())
