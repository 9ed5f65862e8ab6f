"""Boundary: a hostile (or just unexpected) value in a connection never shows a secret to anyone.

Actors: whoever can read UI error text, task logs or XCom (any signed-in UI user sees the jobs page's errors),
a DAG author who can ``repr()`` a hook or client, and a connection editor who pastes a key in a form we did not
expect. Whatever the form of the secret (JSON, JSON with whitespace, a dict, base64, url-safe base64, a
truncated paste, a PEM alone, a file that is not a key, an API key in the wrong field, a password in the host's
URL), no 8-character piece of it appears in:

- ``str()`` and ``repr()`` of the error raised, and of every exception chained to it (``__cause__`` and
  ``__context__``, which Airflow's traceback logging may print);
- ``repr()`` of the settings, the client, its ``batches`` and the hook;
- ``test_connection()``'s message (what the connection form shows);
- the task log and XCom of a real ``dag.test()`` run that fails on the bad value.

The token endpoint used here is hostile too: it refuses the grant and echoes the signed assertion (a JWT that
is itself a credential for an hour) in its error description.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import set_connection

WINDOW = 8
CONN_ID = "hostile_value_conn"
PRIVATE_KEY_ID = "6f1d0c2b9a8e7d6c5b4a39281706f5e4d3c2b1a0"
API_KEY = "AIzaSyHOSTILE-value-key_0123456789abcd"
URL_PASSWORD = "Url-Pa55word-in-host-9c2e"
NOT_A_KEY_TEXT = "export GENAI_DB_PASSWORD=kT7-not-a-key-file-secret-0042\n"
UNREACHED = "http://127.0.0.1:9"  # the batch API is never reached: every case fails at its credentials


# --------------------------------------------------------------------------------------------- a hostile token URL


@dataclass
class EchoingTokenServer:
    """Refuses every grant with 400 invalid_grant, echoing the assertion it got in the error description."""

    url: str = ""
    assertions: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def token_server() -> Iterator[EchoingTokenServer]:
    state = EchoingTokenServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            assertion = parse_qs(body).get("assertion", [""])[0]
            state.assertions.append(assertion)
            answer = json.dumps(
                {"error": "invalid_grant", "error_description": f"Invalid JWT Signature in {assertion}"}
            ).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/token"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


# --------------------------------------------------------------------------------------------- the secrets


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def pem_body(pem: str) -> str:
    """The base64 body of a PEM block, lines joined: the part of a key that is secret."""
    return "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))


@dataclass
class Case:
    """A connection holding a secret in some form, and the texts that must never appear, whole or in part."""

    connection: dict[str, Any]
    secrets: list[str]
    files: dict[str, str] = field(default_factory=dict)  # name -> content, written under tmp_path


CaseBuilder = Callable[[dict[str, Any], str], Case]


def _vertex(extra: dict[str, Any], conn_type: str = "genai_batch") -> dict[str, Any]:
    base = {"project": "p", "location": "us-central1"} if conn_type == "genai_batch" else {"project": "p"}
    extra = {"backend": "vertex", **base, **extra} if conn_type == "genai_batch" else {**base, **extra}
    return {"conn_type": conn_type, "host": UNREACHED, "extra": extra}


def _key_secrets(info: dict[str, Any], *encoded: str) -> list[str]:
    return [pem_body(info["private_key"]), PRIVATE_KEY_ID, *encoded]


def case_base64(info: dict[str, Any], tmp: str) -> Case:
    encoded = base64.b64encode(json.dumps(info).encode()).decode()
    return Case(_vertex({"service_account_key": encoded}), _key_secrets(info, encoded))


def case_base64_urlsafe_unpadded_multiline(info: dict[str, Any], tmp: str) -> Case:
    encoded = base64.urlsafe_b64encode(json.dumps(info, indent=1).encode()).decode().rstrip("=")
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))  # as `base64` wraps it
    return Case(_vertex({"service_account_key": wrapped}), _key_secrets(info, encoded))


def case_base64_truncated(info: dict[str, Any], tmp: str) -> Case:
    encoded = base64.b64encode(json.dumps(info).encode()).decode()[:-300]
    return Case(_vertex({"service_account_key": encoded}), _key_secrets(info, encoded))


def case_json_with_whitespace(info: dict[str, Any], tmp: str) -> Case:
    return Case(_vertex({"service_account_key": "\n  " + json.dumps(info, indent=4) + "\n"}), _key_secrets(info))


def case_dict_in_gcp_extra(info: dict[str, Any], tmp: str) -> Case:
    return Case(_vertex({"keyfile_dict": info}, conn_type="google_cloud_platform"), _key_secrets(info))


def case_json_truncated(info: dict[str, Any], tmp: str) -> Case:
    return Case(_vertex({"service_account_key": json.dumps(info)[:-200]}), _key_secrets(info))


def case_json_with_a_broken_private_key(info: dict[str, Any], tmp: str) -> Case:
    pem = info["private_key"]
    broken = {**info, "private_key": pem[:200] + "!!" + pem[202:]}
    return Case(_vertex({"service_account_key": json.dumps(broken)}), _key_secrets(broken))


def case_pem_alone(info: dict[str, Any], tmp: str) -> Case:
    return Case(_vertex({"service_account_key": info["private_key"]}), _key_secrets(info))


def case_path_to_a_file_that_is_not_a_key(info: dict[str, Any], tmp: str) -> Case:
    return Case(
        _vertex({"service_account_key": f"{tmp}/settings.env"}),
        ["kT7-not-a-key-file-secret-0042"],
        files={"settings.env": NOT_A_KEY_TEXT},
    )


def case_path_to_a_truncated_key_file(info: dict[str, Any], tmp: str) -> Case:
    return Case(
        _vertex({"service_account_key": f"{tmp}/sa.json"}),
        _key_secrets(info),
        files={"sa.json": json.dumps(info)[:-100]},
    )


def case_gcp_key_path_holding_the_key(info: dict[str, Any], tmp: str) -> Case:
    encoded = base64.b64encode(json.dumps(info).encode()).decode()
    return Case(_vertex({"key_path": encoded}, conn_type="google_cloud_platform"), _key_secrets(info, encoded))


def case_api_key_in_extra(info: dict[str, Any], tmp: str) -> Case:
    return Case({"conn_type": "genai_batch", "host": UNREACHED, "extra": {"api_key": API_KEY}}, [API_KEY])


def case_password_in_the_host_url(info: dict[str, Any], tmp: str) -> Case:
    host = f"https://batch-user:{URL_PASSWORD}@127.0.0.1:9"
    return Case({"conn_type": "genai_batch", "host": host, "password": API_KEY}, [URL_PASSWORD, API_KEY])


def case_password_in_the_storage_url(info: dict[str, Any], tmp: str) -> Case:
    extra = {"storage_base_url": f"https://batch-user:{URL_PASSWORD}@127.0.0.1:9"}
    return Case({"conn_type": "genai_batch", "host": UNREACHED, "password": API_KEY, "extra": extra}, [URL_PASSWORD])


CASES: dict[str, CaseBuilder] = {
    "base64": case_base64,
    "base64_urlsafe_unpadded_multiline": case_base64_urlsafe_unpadded_multiline,
    "base64_truncated": case_base64_truncated,
    "json_with_whitespace": case_json_with_whitespace,
    "dict_in_gcp_extra": case_dict_in_gcp_extra,
    "json_truncated": case_json_truncated,
    "json_with_a_broken_private_key": case_json_with_a_broken_private_key,
    "pem_alone": case_pem_alone,
    "path_to_a_file_that_is_not_a_key": case_path_to_a_file_that_is_not_a_key,
    "path_to_a_truncated_key_file": case_path_to_a_truncated_key_file,
    "gcp_key_path_holding_the_key": case_gcp_key_path_holding_the_key,
    "api_key_in_extra": case_api_key_in_extra,
    "password_in_the_host_url": case_password_in_the_host_url,
    "password_in_the_storage_url": case_password_in_the_storage_url,
}


@pytest.fixture
def key_info(private_key_pem: str, token_server: EchoingTokenServer) -> dict[str, Any]:
    return {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": PRIVATE_KEY_ID,
        "private_key": private_key_pem,
        "client_email": "hostile-value@p.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_server.url,
    }


@pytest.fixture(params=sorted(CASES))
def case(
    request: pytest.FixtureRequest, key_info: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Case:
    built = CASES[request.param](key_info, str(tmp_path))
    for name, content in built.files.items():
        (tmp_path / name).write_text(content)
    connection = dict(built.connection)
    connection["extra"] = json.dumps(connection.get("extra", {}))
    set_connection(monkeypatch, CONN_ID, connection)
    return built


# --------------------------------------------------------------------------------------------- the checks


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Every ``WINDOW``-character piece of a secret found in ``text``."""
    found = []
    for secret in secrets:
        for start in range(len(secret) - WINDOW + 1):
            piece = secret[start : start + WINDOW]
            if piece in text:
                found.append(piece)
                break
    return found


def chain_texts(exc: BaseException) -> list[str]:
    """str() and repr() of an exception and of every exception chained to it, suppressed context included."""
    texts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), " ".join(map(str, current.args))]
        todo += [current.__cause__, current.__context__]
    return texts


def hook_surfaces(token_server: EchoingTokenServer) -> dict[str, str]:
    """Everything a user or a log can see when the hook meets the connection: reprs, errors, test message."""
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    surfaces: dict[str, str] = {}
    hook = GenAIBatchHook(genai_batch_conn_id=CONN_ID)
    surfaces["repr(hook)"] = repr(hook)
    failure: BaseException | None = None
    try:
        settings = hook.get_settings()
        surfaces["repr(settings)"] = repr(settings)
        surfaces["str(settings)"] = str(settings)
        client = hook.get_conn()
        surfaces["repr(client)"] = repr(client)
        surfaces["repr(client.batches)"] = repr(client.batches)
        surfaces["repr(client.files)"] = repr(client.files)
        next(iter(client.batches.list(page_size=1)), None)
    except Exception as exc:
        failure = exc
    assert failure is not None, "every case must fail: at its settings, its key or its token"
    for number, text in enumerate(chain_texts(failure)):
        surfaces[f"exception text {number}"] = text
    surfaces["repr(hook) after"] = repr(hook)
    ok, message = GenAIBatchHook(genai_batch_conn_id=CONN_ID).test_connection()
    assert not ok
    surfaces["test_connection()"] = message
    return surfaces


def test_no_piece_of_a_secret_reaches_errors_reprs_or_the_connection_test(
    case: Case, token_server: EchoingTokenServer
) -> None:
    surfaces = hook_surfaces(token_server)
    secrets = [*case.secrets, *token_server.assertions]
    leaked = {where: leaks(text, secrets) for where, text in surfaces.items() if leaks(text, secrets)}
    assert not leaked, leaked


def test_no_piece_of_a_secret_reaches_the_task_log_or_xcom(
    case: Case, token_server: EchoingTokenServer, run_dag: Any
) -> None:
    result = run_dag(
        {
            "dag_id": "hostile_value_secrets",
            "tasks": [{"class": "GenAIBatchListJobsOperator", "task_id": "list", "genai_batch_conn_id": CONN_ID}],
        }
    )
    assert result.task_states == {"list": "failed"}
    secrets = [*case.secrets, *token_server.assertions]
    assert "Task failed with exception" in result.output  # the failure and its traceback are in the log
    assert not leaks(result.output, secrets), leaks(result.output, secrets)
    assert not leaks(json.dumps(result.xcoms, default=str), secrets)


def test_a_base64_key_is_accepted_and_decoded(key_info: dict[str, Any]) -> None:
    """Users paste keys base64-encoded (as CI systems store them): the key is used, never taken for a path."""
    from airflow.sdk import Connection

    from airflow_provider_genai_batch.client.settings import ClientSettings
    from airflow_provider_genai_batch.hooks.connection import settings_from_connection

    encoded = base64.b64encode(json.dumps(key_info).encode()).decode()
    extra = {"backend": "vertex", "project": "p", "service_account_key": encoded}
    settings = settings_from_connection(Connection(conn_id="c", conn_type="genai_batch", extra=json.dumps(extra)))
    assert settings.service_account_key_path is None
    assert settings.service_account_key_json is not None
    assert json.loads(settings.service_account_key_json.get_secret_value()) == key_info
    direct = ClientSettings(backend="vertex", project="p", service_account_key_json=encoded)
    assert direct.service_account_key_json is not None
    assert json.loads(direct.service_account_key_json.get_secret_value()) == key_info


def test_an_unreadable_value_names_the_field_and_the_accepted_forms(key_info: dict[str, Any]) -> None:
    from airflow.sdk import Connection

    from airflow_provider_genai_batch.client import GenAIBatchClient
    from airflow_provider_genai_batch.client.errors import InvalidInputError
    from airflow_provider_genai_batch.hooks.connection import settings_from_connection

    encoded = base64.b64encode(json.dumps(key_info).encode()).decode()[:-300]
    extra = {"backend": "vertex", "project": "p", "service_account_key": encoded}
    with pytest.raises(InvalidInputError) as info:
        GenAIBatchClient(
            settings_from_connection(Connection(conn_id="c", conn_type="genai_batch", extra=json.dumps(extra)))
        )
    assert "service_account_key" in info.value.field
    assert "base64" in info.value.fix and "JSON" in info.value.fix and "path" in info.value.fix
    assert f"{len(encoded)} characters" in info.value.problem
    assert not leaks(str(info.value), [encoded])


def test_userinfo_in_a_base_url_is_refused_without_echoing_it() -> None:
    from airflow_provider_genai_batch.client.errors import InvalidInputError
    from airflow_provider_genai_batch.client.settings import ClientSettings

    for name in ("base_url", "storage_base_url"):
        with pytest.raises(InvalidInputError) as info:
            ClientSettings(api_key=API_KEY, **{name: f"https://u:{URL_PASSWORD}@proxy.example"})
        assert info.value.field == name
        assert "user" in info.value.problem and "remove" in info.value.fix
        assert URL_PASSWORD not in str(info.value) and "proxy.example" not in str(info.value)
        assert all(URL_PASSWORD not in text for text in chain_texts(info.value))


def test_reprs_strip_userinfo_even_from_settings_copied_without_validation() -> None:
    """``model_copy(update=...)`` skips validation: the reprs strip userinfo themselves."""
    from airflow_provider_genai_batch.client import AsyncGenAIBatchClient, GenAIBatchClient
    from airflow_provider_genai_batch.client.settings import ClientSettings

    settings = ClientSettings(api_key=API_KEY).model_copy(
        update={"base_url": f"https://u:{URL_PASSWORD}@proxy.example"}
    )
    with GenAIBatchClient(settings) as client:
        texts = [repr(settings), repr(client), repr(client.batches), repr(client.files), repr(client.webhooks)]
    aclient = AsyncGenAIBatchClient(settings)
    texts += [repr(aclient), repr(aclient.batches), repr(aclient.webhooks)]
    assert all(URL_PASSWORD not in text for text in texts), texts
    assert all("proxy.example" in text for text in texts[1:]), texts


def test_the_masker_learns_every_form_of_the_key(key_info: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's log masker is told the decoded key's parts and the URL's password, whatever the key's form."""
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    encoded = base64.b64encode(json.dumps(key_info).encode()).decode()
    connection = _vertex({"service_account_key": encoded})
    connection["host"] = f"https://u:{URL_PASSWORD}@127.0.0.1:9"
    connection["extra"] = json.dumps(connection["extra"])
    set_connection(monkeypatch, CONN_ID, connection)
    ok, _ = GenAIBatchHook(genai_batch_conn_id=CONN_ID).test_connection()
    assert not ok
    line = f"id {PRIVATE_KEY_ID} url pass {URL_PASSWORD} pem {key_info['private_key']} b64 {encoded}"
    masked = str(redact(line))
    assert not leaks(masked, [PRIVATE_KEY_ID, URL_PASSWORD, pem_body(key_info["private_key"])]), masked
    assert encoded not in masked


# --------------------------------------------------------------------------------------------- the scrubber


def _key_text(pem: str) -> str:
    return json.dumps({"type": "service_account", "private_key_id": PRIVATE_KEY_ID, "private_key": pem})


@pytest.mark.parametrize(
    "form",
    [
        "pem",
        "pem_json_escaped",
        "pem_truncated",
        "key_json",
        "key_json_inside_a_json_string",
        "key_base64",
        "key_base64_urlsafe_truncated",
    ],
)
def test_scrub_removes_key_material_nobody_registered(form: str, private_key_pem: str) -> None:
    """What looks like key material goes, registered or not (a UI error may come from another connection)."""
    from airflow_provider_genai_batch.client.redaction import scrub

    key = _key_text(private_key_pem)
    text = {
        "pem": private_key_pem,
        "pem_json_escaped": json.dumps(private_key_pem)[1:-1],
        "pem_truncated": private_key_pem[:900],
        "key_json": key,
        "key_json_inside_a_json_string": json.dumps({"message": f"bad key {key}"}),
        "key_base64": base64.b64encode(key.encode()).decode(),
        "key_base64_urlsafe_truncated": base64.urlsafe_b64encode(key.encode()).decode()[:1200],
    }[form]
    scrubbed = scrub(f"Error reading the key: {text} (at line 3)")
    assert scrubbed.startswith("Error reading the key: ") and scrubbed.endswith("(at line 3)")
    opaque = [] if form.startswith("key_json") else [text]  # a key's JSON also holds harmless words
    assert not leaks(scrubbed, [pem_body(private_key_pem), PRIVATE_KEY_ID, *opaque]), scrubbed


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        ("token ya29.a0AfH6SMBx-3kQ_z9 expired", "a0AfH6SMBx", "expired"),
        ("refresh 1//0gLm3kX9-abcdefghijklmnopqrstuv now", "0gLm3kX9", "now"),
        ("key AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY refused", "D-9tSrke72", "refused"),
        ("bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl sent", "eyJzdWIiOiJ4In0", "sent"),
        ('{"private_key_id": "6f1d0c2b9a8e7d6c", "type": "service_account"}', "6f1d0c2b", "service_account"),
        ('{\\"private_key_id\\": \\"6f1d0c2b9a8e7d6c\\"}', "6f1d0c2b", "private_key_id"),
        ("client_secret=GOCSPX-abcdef123456&x=1", "GOCSPX-abcdef123456", "x=1"),
        ("GET https://u:hunter2-pass@proxy.example/v1beta/batches", "hunter2-pass", "proxy.example/v1beta/batches"),
        ("GET https://proxy.example/v1beta/files?key=AIzaNOTKEY&alt=json", "AIzaNOTKEY", "alt=json"),
    ],
)
def test_scrub_removes_secret_shapes(text: str, gone: str, kept: str) -> None:
    from airflow_provider_genai_batch.client.redaction import scrub

    scrubbed = scrub(text)
    assert gone not in scrubbed and kept in scrubbed, scrubbed


@pytest.mark.parametrize(
    "spelling",
    [
        lambda s: s,
        lambda s: base64.b64encode(s.encode()).decode(),
        lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
        lambda s: __import__("urllib.parse").parse.quote(s, safe=""),
        lambda s: s[3:14],  # an 11-character piece
        lambda s: s[-8:],  # the last 8 characters
    ],
    ids=["raw", "base64", "base64url", "url-encoded", "piece", "last-8"],
)
def test_scrub_removes_every_spelling_and_piece_of_a_registered_secret(spelling: Callable[[str], str]) -> None:
    from airflow_provider_genai_batch.client.redaction import scrub

    secret = "s3cr3t/pa ss+w0rd=Z9"
    shown = spelling(secret)
    scrubbed = scrub(f"upstream said: {shown}!", [secret])
    assert shown not in scrubbed and scrubbed.startswith("upstream said: ") and scrubbed.endswith("!"), scrubbed


def test_scrub_of_a_registered_json_key_keeps_its_harmless_words(private_key_pem: str) -> None:
    """A registered key removes its secret fields wherever they appear, not the words every key shares."""
    from airflow_provider_genai_batch.client.redaction import scrub

    key = _key_text(private_key_pem)
    line = private_key_pem.splitlines()[5]
    text = f"type service_account, token https://oauth2.googleapis.com/token; leaked {line[10:30]} {PRIVATE_KEY_ID}"
    scrubbed = scrub(text, [key, base64.b64encode(key.encode()).decode()])
    assert "service_account" in scrubbed and "https://oauth2.googleapis.com/token" in scrubbed
    assert not leaks(scrubbed, [line, PRIVATE_KEY_ID]), scrubbed


def test_scrub_leaves_ordinary_text_alone() -> None:
    from airflow_provider_genai_batch.client.redaction import scrub

    text = (
        "404 NOT_FOUND: batches/abc123 not found (GET https://generativelanguage.googleapis.com/v1beta/batches/abc) "
        "gs://bucket/results/predictions.jsonl sha256 9f86d081884c7d659a2feaa0c55ad015 key=<none>"
    )
    assert scrub(text, ["abc", ""]) == text  # secrets under 4 characters are not matched


def test_redact_url() -> None:
    from airflow_provider_genai_batch.client.redaction import redact_url

    assert redact_url("https://u:p@host:8443/x?y=1") == "https://***@host:8443/x?y=1"
    assert redact_url("http://127.0.0.1:8085") == "http://127.0.0.1:8085"


def test_api_errors_relay_server_text_scrubbed() -> None:
    """A proxy or token endpoint that echoes what it was sent cannot put a credential in our error text."""
    from airflow_provider_genai_batch.client.errors import APIConnectionError, BadRequestError

    error = BadRequestError(400, "INVALID_ARGUMENT", f"bad header x-goog-api-key: {API_KEY}", method="GET", path="/")
    assert API_KEY not in str(error) and API_KEY not in error.message
    assert URL_PASSWORD not in str(APIConnectionError(f"refused by https://u:{URL_PASSWORD}@proxy"))


def test_common_ai_adapter_refuses_and_masks_a_password_in_the_host() -> None:
    """common-ai hands the adapter the connection's host: a password in it is masked, refused and never quoted."""
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_provider_genai_batch.client.errors import InvalidInputError
    from airflow_provider_genai_batch.common_ai.connection import adapter_settings

    with pytest.raises(InvalidInputError) as info:
        adapter_settings("gemini", api_key=API_KEY, base_url=f"https://u:{URL_PASSWORD}@proxy.example", environ={})
    assert all(URL_PASSWORD not in text for text in chain_texts(info.value))
    assert URL_PASSWORD not in str(redact(f"proxy said {URL_PASSWORD}"))
