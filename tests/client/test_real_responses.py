"""Bodies Google's services really returned, run through the public client; each test states what must come out.

The corpus and where each body comes from: ``tests/client/real_responses/PROVENANCE.md``. A test that changes a
sample says what it changed and why. HTTP goes through respx at transport level.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_genai_batch.client import (
    AsyncGenAIBatchClient,
    BadRequestError,
    ClientSettings,
    GenAIBatchClient,
    JobState,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from airflow_provider_genai_batch.client.client import needs_refetch
from airflow_provider_genai_batch.client.errors import APIStatusError, parse_row_status, retry_delay_from_details
from airflow_provider_genai_batch.client.models import BatchJob
from airflow_provider_genai_batch.client.redaction import scrub
from airflow_provider_genai_batch.client.results import ResultStreamParser, parse_result_line
from airflow_provider_genai_batch.client.wire import gemini, vertex
from tests.client import test_transport

CORPUS = Path(__file__).parent / "real_responses"
BASE = "http://gemini.test"
KEY = "AIzaSECRET-real-responses-0123456789"
sleeps = test_transport.sleeps  # the fixture recording the transport's sleeps


def body(name: str) -> Any:
    return json.loads((CORPUS / name).read_text())


def lines(name: str) -> list[bytes]:
    return [line.encode() for line in (CORPUS / name).read_text().splitlines() if line.strip()]


def every_sample() -> list[str]:
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.suffix in (".json", ".jsonl"))


def test_the_corpus_is_large_enough_and_every_file_has_its_provenance() -> None:
    provenance = (CORPUS / "PROVENANCE.md").read_text()
    files = every_sample()
    samples = sum(len(lines(f)) if f.endswith(".jsonl") else 1 for f in files)
    assert samples >= 25
    assert {f.split("/")[0] for f in files} == {"gemini", "vertex", "errors"}
    missing = [f for f in files if f"`{f.split('/')[-1]}`" not in provenance]
    assert not missing, f"no provenance row for {missing}"


def check_counts(job: BatchJob) -> None:
    counts = job.request_counts
    assert counts.succeeded >= 0 and counts.failed >= 0
    assert counts.pending is None or counts.pending >= 0
    if counts.total is not None and counts.pending is not None:
        assert counts.pending <= counts.total
    assert counts.percent is None or 0.0 <= counts.percent <= 100.0


# --- Gemini jobs --------------------------------------------------------------------------------------------


def test_a_sparse_running_list_entry() -> None:
    jobs, token = gemini.parse_list(body("gemini/list_running_sparse.json"))
    (job,) = jobs
    assert token is None
    assert (job.name, job.state, job.model) == ("batches/1234567890", JobState.RUNNING, "models/gemini-2.5-flash")
    assert job.dest is None  # list entries carry no output
    counts = job.request_counts
    assert (counts.total, counts.succeeded, counts.failed, counts.pending, counts.percent) == (4, 1, 0, 3, 25.0)
    check_counts(job)
    assert needs_refetch(job)


def test_a_pending_file_job_in_a_list() -> None:
    (job,), _ = gemini.parse_list(body("gemini/list_pending_file_input.json"))
    assert job.state is JobState.PENDING
    assert job.src is not None and job.src.file_name == "files/85nave4ld71j"
    counts = job.request_counts
    assert (counts.total, counts.pending, counts.percent) == (5, 5, 0.0)
    check_counts(job)


def test_a_succeeded_job_listed_with_stale_counts_has_nothing_pending() -> None:
    """Listed SUCCEEDED with ``pendingRequestCount: 6`` of 6: the state wins, nothing is pending."""
    (job,), _ = gemini.parse_list(body("gemini/list_succeeded_embeddings_stale.json"))
    assert job.state is JobState.SUCCEEDED and job.done
    counts = job.request_counts
    assert (counts.total, counts.pending, counts.percent) == (6, 0, 100.0)
    check_counts(job)
    assert job.dest is None
    assert needs_refetch(job)  # it says nothing about where its results are


def test_a_succeeded_embeddings_job_read_with_get() -> None:
    job = gemini.parse_job(body("gemini/get_succeeded_embeddings_inline.json"))
    assert job.state is JobState.SUCCEEDED and job.model == "models/gemini-embedding-2"
    assert job.dest is not None and job.dest.inlined_embed_content_responses is not None
    assert [r.metadata for r in job.dest.inlined_embed_content_responses] == [
        {"key": "sha256:aaa"},
        {"key": "sha256:bbb"},
    ]
    counts = job.request_counts
    assert (counts.total, counts.succeeded, counts.pending, counts.percent) == (5, 5, 0, 100.0)
    assert not needs_refetch(job)


@respx.mock
def test_results_of_a_listed_job_are_read_after_fetching_it_again() -> None:
    """Before: ``iter_results(listed_job)`` raised "succeeded but reports no results location". The listed job is
    the stale embeddings entry; the GET answers with the real succeeded embeddings body of the same capture (its
    ``name`` replaced by the listed job's, so the answer is about the job asked for)."""
    listed = body("gemini/list_succeeded_embeddings_stale.json")
    got = body("gemini/get_succeeded_embeddings_inline.json")
    name = listed["operations"][0]["name"]
    got["name"] = got["metadata"]["name"] = name
    respx.get(f"{BASE}/v1beta/batches").mock(return_value=httpx.Response(200, json=listed))
    get = respx.get(f"{BASE}/v1beta/{name}").mock(return_value=httpx.Response(200, json=got))
    with GenAIBatchClient(ClientSettings(backend="gemini", api_key=KEY, base_url=BASE)) as client:
        (job,) = list(client.batches.list())
        results = list(client.batches.iter_results(job))
    assert get.call_count == 1
    assert [(r.key, r.embedding) for r in results] == [
        ("sha256:aaa", [-0.01657847, 0.020118287, 0.026177283]),
        ("sha256:bbb", [0.0013260875, 0.038272932, 0.03331437]),
    ]


@respx.mock
async def test_the_async_client_fetches_a_listed_job_again_too() -> None:
    listed = body("gemini/list_succeeded_embeddings_stale.json")
    got = body("gemini/get_succeeded_embeddings_inline.json")
    name = listed["operations"][0]["name"]
    got["name"] = got["metadata"]["name"] = name  # as in the sync test above
    respx.get(f"{BASE}/v1beta/batches").mock(return_value=httpx.Response(200, json=listed))
    get = respx.get(f"{BASE}/v1beta/{name}").mock(return_value=httpx.Response(200, json=got))
    async with AsyncGenAIBatchClient(ClientSettings(backend="gemini", api_key=KEY, base_url=BASE)) as client:
        jobs = [job async for job in client.batches.list()]
        results = [result async for result in client.batches.iter_results(jobs[0])]
    assert get.call_count == 1
    assert [r.key for r in results] == ["sha256:aaa", "sha256:bbb"]


def test_a_generation_results_file() -> None:
    parser = ResultStreamParser()
    results = [r for line in lines("gemini/results_file_generation.jsonl") for r in parser.feed(line + b"\n")]
    assert [r.key for r in results] == ["request_1", "request_2"]
    assert all(r.ok for r in results)
    assert results[0].text == "AI learns patterns from data to make decisions or predictions."
    assert results[1].text is not None and results[1].text.startswith("Quantum computers use **qubits**")


def test_an_embeddings_results_file() -> None:
    data = b"".join(line + b"\n" for line in lines("gemini/results_file_embeddings.jsonl"))
    parser = ResultStreamParser()
    results = parser.feed(data[:50]) + parser.feed(data[50:]) + parser.end_of_shard()
    assert [(r.key, r.embedding) for r in results] == [
        ("request_1", [-0.034119852, 0.0025719088, 0.017325249]),
        ("request_2", [0.020208105, -0.016668973, -0.011120025, -0.063684635]),
    ]


# --- Vertex AI jobs -----------------------------------------------------------------------------------------


def test_a_vertex_job_created_on_cloud_storage() -> None:
    job = vertex.parse_job(body("vertex/create_gcs_pending.json"))
    assert job.state is JobState.PENDING and job.backend == "vertex"
    assert job.model == "publishers/google/models/gemini-2.5-flash"
    assert job.src is not None and job.src.gcs_uri == ["INPUT_URI"] and job.src.format == "jsonl"
    assert job.completion_stats is None
    check_counts(job)
    assert needs_refetch(job)


def test_a_vertex_job_created_on_bigquery() -> None:
    job = vertex.parse_job(body("vertex/create_bigquery_pending.json"))
    assert job.state is JobState.PENDING
    assert job.src is not None and job.src.bigquery_uri == "bq://project_name.dataset_name.text_input"
    assert job.dest is not None
    assert job.dest.bigquery_uri == "bq://project_name.llm_dataset.embedding_out_BP_sample_publisher_BQ_20230712_134650"
    assert job.labels == {"owner": "sample_owner", "product": "llm"}


def test_vertex_counts_without_incomplete_count() -> None:
    """proto3 JSON leaves a zero count out: no ``incompleteCount`` means 0 incomplete."""
    job = vertex.parse_job(body("vertex/get_pending_with_counts.json"))
    counts = job.request_counts
    assert (counts.total, counts.succeeded, counts.failed, counts.pending) == (11, 10, 1, 0)
    check_counts(job)


def test_vertex_incomplete_count_minus_one_is_unknown() -> None:
    """The documented sample with ``incompleteCount: "-1"`` added and the state set to RUNNING ("Set to -1 if the
    number is unknown", CompletionStats reference). Before: pending -1, percent 110."""
    raw = body("vertex/get_pending_with_counts.json")
    raw["state"] = "JOB_STATE_RUNNING"
    raw["completionStats"]["incompleteCount"] = "-1"
    job = vertex.parse_job(raw)
    counts = job.request_counts
    assert (counts.total, counts.succeeded, counts.failed, counts.pending, counts.percent) == (None, 10, 1, None, None)
    check_counts(job)


def test_a_succeeded_vertex_job_has_nothing_pending_whatever_its_counts() -> None:
    """The documented sample with the state set to SUCCEEDED and a stale ``incompleteCount: "4"``."""
    raw = body("vertex/get_pending_with_counts.json")
    raw["state"] = "JOB_STATE_SUCCEEDED"
    raw["completionStats"]["incompleteCount"] = "4"
    counts = vertex.parse_job(raw).request_counts
    assert (counts.pending, counts.percent) == (0, 100.0)


def test_a_succeeded_vertex_row() -> None:
    (line,) = lines("vertex/predictions_succeeded_row.jsonl")
    result = parse_result_line(line, 0)
    assert result.ok and result.error is None
    assert result.text is not None and result.text.startswith("This video shows a Google Photos marketing campaign")


def test_a_failed_vertex_row_keeps_code_and_status() -> None:
    """Before: the error was ``JobError(message="Bad Request: {...}")`` with no code, so a 400 could not be told
    from a 429 or a 500."""
    (line,) = lines("vertex/predictions_failed_row.jsonl")
    result = parse_result_line(line, 0)
    assert not result.ok
    assert result.error is not None
    assert (result.error.code, result.error.status, result.error.message) == (
        400,
        "INVALID_ARGUMENT",
        "Please use a valid role: user, model.",
    )
    assert result.response is None  # the row's "response": {} is no answer (usage and writers must not read it)
    written = result.to_json()  # what GenAIBatchWriteResultsOperator writes
    assert (written["error"]["code"], written["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert "response" not in written


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'Bad Request: {"error": {"code": 400, "message": "m", "status": "INVALID_ARGUMENT"}}',
            (400, "INVALID_ARGUMENT", "m"),
        ),
        ("Too Many Requests: quota", (429, "RESOURCE_EXHAUSTED", "quota")),
        ("Internal Server Error: boom", (500, "INTERNAL", "boom")),
        ('Service Unavailable: {"error": {"code": 503, "message": "later"}}', (503, "UNAVAILABLE", "later")),
        ("something else entirely", (None, None, "something else entirely")),
        ("Bad Request: {not json", (400, "INVALID_ARGUMENT", "{not json")),
    ],
)
def test_row_status_strings(text: str, expected: tuple[int | None, str | None, str]) -> None:
    assert parse_row_status(text) == expected


# --- Error bodies -------------------------------------------------------------------------------------------

ERRORS = [
    ("errors/400_api_key_invalid.json", BadRequestError, 400, "INVALID_ARGUMENT", None),
    ("errors/400_api_key_invalid_with_debuginfo.json", BadRequestError, 400, "INVALID_ARGUMENT", None),
    ("errors/403_api_key_service_blocked.json", PermissionDeniedError, 403, "PERMISSION_DENIED", None),
    ("errors/403_caller_does_not_have_permission.json", PermissionDeniedError, 403, "PERMISSION_DENIED", None),
    ("errors/403_consumer_suspended.json", PermissionDeniedError, 403, "PERMISSION_DENIED", None),
    ("errors/404_model_not_found.json", NotFoundError, 404, "NOT_FOUND", None),
    ("errors/404_model_not_found_gemini_1_0_pro.json", NotFoundError, 404, "NOT_FOUND", None),
    ("errors/429_plain.json", RateLimitError, 429, "RESOURCE_EXHAUSTED", None),
    ("errors/429_retryinfo_53s.json", RateLimitError, 429, "RESOURCE_EXHAUSTED", 53.0),
    ("errors/429_quotafailure_help_retryinfo_15s.json", RateLimitError, 429, "RESOURCE_EXHAUSTED", 15.0),
    ("errors/429_vertex_rate_limit_exceeded.json", RateLimitError, 429, "RESOURCE_EXHAUSTED", None),
    ("errors/503_model_overloaded.json", ServiceUnavailableError, 503, "UNAVAILABLE", None),
    ("errors/503_model_overloaded_python_sdk.json", ServiceUnavailableError, 503, "UNAVAILABLE", None),
]


@pytest.mark.parametrize(("name", "cls", "code", "status", "retry_after"), ERRORS, ids=[e[0] for e in ERRORS])
@respx.mock
def test_error_bodies_keep_status_message_and_retry_delay(
    name: str, cls: type[APIStatusError], code: int, status: str, retry_after: float | None, sleeps: list[float]
) -> None:
    raw = body(name)
    route = respx.get(f"{BASE}/v1beta/batches/abc").mock(return_value=httpx.Response(code, json=raw))
    settings = ClientSettings(backend="gemini", api_key=KEY, base_url=BASE, max_retries=0)
    with GenAIBatchClient(settings) as client, pytest.raises(cls) as caught:
        client.batches.get(name="batches/abc")
    error = caught.value
    # Google's words stay readable; what looks like a credential (even a redacted one) is scrubbed.
    assert (error.status_code, error.google_status, error.message) == (code, status, scrub(raw["error"]["message"]))
    assert error.details == raw["error"].get("details")
    assert error.retry_after == retry_after
    assert route.call_count == 1 and not sleeps
    assert KEY not in str(error)


@respx.mock
def test_the_transport_waits_as_long_as_retry_info_says(sleeps: list[float]) -> None:
    """Before: a 429 whose only hint is ``RetryInfo`` was retried after the back-off's 1-2 s."""
    route = respx.get(f"{BASE}/v1beta/batches/abc").mock(
        side_effect=[
            httpx.Response(429, json=body("errors/429_quotafailure_help_retryinfo_15s.json")),
            httpx.Response(429, json=body("errors/429_retryinfo_53s.json")),
            httpx.Response(200, json={"name": "batches/abc", "metadata": {"state": "BATCH_STATE_RUNNING"}}),
        ]
    )
    with GenAIBatchClient(ClientSettings(backend="gemini", api_key=KEY, base_url=BASE, max_retries=3)) as client:
        job = client.batches.get(name="batches/abc")
    assert job.state is JobState.RUNNING and route.call_count == 3
    assert sleeps == [15.0, 53.0]


@respx.mock
async def test_the_async_transport_waits_as_long_as_retry_info_says(sleeps: list[float]) -> None:
    respx.get(f"{BASE}/v1beta/batches/abc").mock(
        side_effect=[
            httpx.Response(429, json=body("errors/429_retryinfo_53s.json")),
            httpx.Response(200, json={"name": "batches/abc", "metadata": {"state": "BATCH_STATE_RUNNING"}}),
        ]
    )
    settings = ClientSettings(backend="gemini", api_key=KEY, base_url=BASE, max_retries=3)
    async with AsyncGenAIBatchClient(settings) as client:
        await client.batches.get(name="batches/abc")
    assert sleeps == [53.0]


@respx.mock
def test_a_retry_header_wins_over_retry_info_and_a_delay_beyond_the_bound_gives_up(sleeps: list[float]) -> None:
    """``Retry-After`` is the HTTP answer and wins; a RetryInfo beyond ``max_retry_after`` (300 s) is not waited
    for (the call gives up at once, keeping the delay on the error)."""
    over = body("errors/429_retryinfo_53s.json")
    over["error"]["details"][0]["retryDelay"] = "3600s"  # changed: an hour, beyond our bound
    respx.get(f"{BASE}/v1beta/batches/abc").mock(
        side_effect=[
            httpx.Response(429, json=body("errors/429_retryinfo_53s.json"), headers={"Retry-After": "2"}),
            httpx.Response(429, json=over),
        ]
    )
    settings = ClientSettings(backend="gemini", api_key=KEY, base_url=BASE, max_retries=3)
    with GenAIBatchClient(settings) as client, pytest.raises(RateLimitError) as caught:
        client.batches.get(name="batches/abc")
    assert sleeps == [2.0]
    assert caught.value.retry_after == 3600.0


@pytest.mark.parametrize(
    ("details", "seconds"),
    [
        ([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "21s"}], 21.0),
        ([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.5s"}], 0.5),
        (
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": {"seconds": "3", "nanos": 500000000}}],
            3.5,
        ),
        ([{"@type": "type.googleapis.com/google.rpc.Help"}], None),
        ([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "soon"}], None),
        (None, None),
        ("not a list", None),
    ],
)
def test_retry_delays(details: Any, seconds: float | None) -> None:
    assert retry_delay_from_details(details) == seconds
