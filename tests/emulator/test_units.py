"""Pure parts of the emulator: deterministic outputs, the job timeline, routing, filters, paging, settings."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_genai_batch.emulator import EmulatorConfig, EmulatorError
from airflow_provider_genai_batch.emulator.common import page
from airflow_provider_genai_batch.emulator.jobs import create_job, job_status
from airflow_provider_genai_batch.emulator.responses import (
    embed_content_response,
    embedding_values,
    generate_content_response,
    prompt_text,
    request_problem,
)
from airflow_provider_genai_batch.emulator.routing import Route, Router, normalize_path
from airflow_provider_genai_batch.emulator.state import Backend, Job, Outcome, RequestItem, Store
from airflow_provider_genai_batch.emulator.vertex_routes import parse_filter


def test_prompt_text_joins_text_parts_only() -> None:
    request = {
        "systemInstruction": {"parts": [{"text": "ignored"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "first"}, {"inlineData": {"data": "AA=="}}, {"text": "second"}]},
            {"role": "model", "parts": [{"text": "third"}]},
        ],
    }
    assert prompt_text(request) == "first\nsecond\nthird"
    assert prompt_text({"content": {"parts": [{"text": "embed me"}]}}) == "embed me"
    assert prompt_text({"contents": "plain"}) == "plain"
    assert prompt_text({}) == ""


def test_generate_content_response_formula() -> None:
    response = generate_content_response({"contents": [{"parts": [{"text": "one two\nthree"}]}]}, "models/m-1")
    assert response == {
        "candidates": [
            {
                "content": {"parts": [{"text": "echo: one two\nthree"}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7},
        "modelVersion": "m-1",
    }


def test_embedding_values_formula() -> None:
    stream = hashlib.sha256(b"0:text").digest() + hashlib.sha256(b"1:text").digest()
    expected = [round(int.from_bytes(stream[4 * i : 4 * i + 4], "big") / 2**31 - 1, 6) for i in range(12)]
    assert embedding_values("text", 12) == expected
    assert embedding_values("text") == expected[:8]
    assert all(-1 <= v < 1 for v in embedding_values("x", 64))
    assert embed_content_response({"content": "text", "output_dimensionality": 3}) == {
        "embedding": {"values": expected[:3]}
    }
    assert len(embed_content_response({"content": "t", "outputDimensionality": True})["embedding"]["values"]) == 8


def test_request_problems() -> None:
    assert request_problem("generate", {"contents": [{"parts": [{"text": "ok"}]}]}) is None
    assert "contents" in (request_problem("generate", {}) or "")
    assert "content" in (request_problem("embed", {"contents": []}) or "")
    assert "EMULATOR_FAIL" in (request_problem("embed", {"content": "x EMULATOR_FAIL"}) or "")


def _job(store: Store, backend: Backend = "gemini", texts: tuple[str, ...] = ("a", "b", "c", "d")) -> Job:
    items = [RequestItem({"contents": t}) for t in texts]
    return create_job(
        store,
        backend=backend,
        job_id="j",
        name="batches/j",
        kind="generate",
        source="inline",
        model="models/m",
        display_name="name",
        items=items,
        input_error=None,
        input_config={},
    )


@pytest.fixture
def store() -> Store:
    return Store(EmulatorConfig(pending_seconds=10, job_seconds=100, cancel_seconds=5))


def test_timeline_of_a_successful_job(store: Store) -> None:
    job = _job(store, texts=("a", "EMULATOR_FAIL", "c", "d"))
    t0 = job.create_time
    assert job_status(job, t0 + 9.9, 5).state == "PENDING"
    running = job_status(job, t0 + 10 + 60, 5)
    assert (running.state, running.succeeded, running.failed, running.pending) == ("RUNNING", 1, 1, 2)
    assert running.start_time == t0 + 10 and running.end_time is None
    done = job_status(job, t0 + 110, 5)
    assert (done.state, done.succeeded, done.failed, done.end_time, done.produced) == (
        "SUCCEEDED",
        3,
        1,
        t0 + 110,
        True,
    )


def test_cancel_freezes_progress(store: Store) -> None:
    gemini, vertex = _job(store), _job(store, "vertex")
    for job in (gemini, vertex):
        job.cancel_time = job.create_time + 10 + 50
    assert job_status(gemini, gemini.create_time + 61, 5).state == "CANCELLED"
    cancelling = job_status(vertex, vertex.create_time + 61, 5)
    assert (cancelling.state, cancelling.succeeded, cancelling.pending) == ("CANCELLING", 2, 2)
    cancelled = job_status(vertex, vertex.create_time + 66, 5)
    assert (cancelled.state, cancelled.succeeded, cancelled.produced) == ("CANCELLED", 2, False)


@pytest.mark.parametrize(
    ("outcome", "backend", "state", "counts"),
    [
        (Outcome("FAILED"), "gemini", "FAILED", (0, 0)),
        (Outcome("EXPIRED"), "vertex", "EXPIRED", (0, 0)),
        (Outcome("PARTIALLY_SUCCEEDED"), "vertex", "PARTIALLY_SUCCEEDED", (3, 1)),
        (Outcome("PARTIALLY_SUCCEEDED"), "gemini", "SUCCEEDED", (3, 1)),
        (Outcome(failed_requests=(0, 1, 2, 3, 99)), "vertex", "FAILED", (0, 4)),
        (Outcome(failed_requests=(2,)), "vertex", "PARTIALLY_SUCCEEDED", (3, 1)),
    ],
)
def test_outcomes(store: Store, outcome: Outcome, backend: Backend, state: str, counts: tuple[int, int]) -> None:
    store.outcomes.append(outcome)
    job = _job(store, backend)
    mid = job_status(job, job.create_time + 60, 5)
    assert mid.state == "RUNNING"
    done = job_status(job, job.create_time + 1000, 5)
    assert (done.state, done.succeeded, done.failed) == (state, *counts)
    assert store.outcomes == []


def test_outcome_matching_and_timing(store: Store) -> None:
    store.outcomes.append(Outcome("STUCK_PENDING", match_display_name="other", count=None))
    store.outcomes.append(Outcome(job_seconds=0, pending_seconds=0, backend="vertex"))
    gemini = _job(store)
    assert (gemini.pending_seconds, gemini.job_seconds, gemini.final_state) == (10, 100, "SUCCEEDED")
    vertex = _job(store, "vertex")
    assert job_status(vertex, vertex.create_time, 5).state == "SUCCEEDED"
    assert len(store.outcomes) == 1


def test_input_error_fails_when_the_job_would_start(store: Store) -> None:
    job = _job(store)
    job.input_error = "gs://b/x line 2: bad"
    assert job_status(job, job.create_time + 5, 5).state == "PENDING"
    failed = job_status(job, job.create_time + 10, 5)
    assert (failed.state, failed.end_time, failed.start_time) == ("FAILED", job.create_time + 10, None)


def test_router_prefixes_and_encoded_names() -> None:
    async def handler(ctx: object) -> object:
        raise AssertionError

    router = Router(
        [
            Route("GET", r"/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<object>.+)", "gcs.get", handler),
            Route("GET", r"/v1/batches/(?P<id>[^/:]+)", "get", handler, query={"alt": "media"}),
        ]
    )
    path = normalize_path(b"/storage/v1/b/bkt/o/a%2Fb%20c%25d", "")
    match = router.match("GET", path, {})
    assert match is not None and match.params == {"bucket": "bkt", "object": "a/b c%d"} and match.prefix == ""
    prefixed = router.match("GET", "/x/y/v1/batches/abc", {"alt": "media"})
    assert prefixed is not None and (prefixed.prefix, prefixed.params) == ("/x/y", {"id": "abc"})
    assert router.match("GET", "/v1/batches/abc", {}) is None
    assert router.match("GET", "/a/b/c/d/v1/batches/abc", {"alt": "media"}) is None


def test_filter_parsing() -> None:
    assert len(parse_filter('state=JOB_STATE_RUNNING AND display_name="a b" AND labels.k-1=v')) == 3
    for bad in ("state!=X", "create_time>1", "foo=bar", 'display_name="x" OR state=X'):
        with pytest.raises(EmulatorError) as info:
            parse_filter(bad)
        assert info.value.code == 400 and info.value.message.startswith("filter:")


def test_paging_is_stable_while_items_are_added() -> None:
    items = [5, 4, 3, 2, 1]
    first, token = page(items, int, "2", None, default=10, maximum=100)
    assert (list(first), token) == ([5, 4], "3")
    second, token = page([7, 6, *items], int, "2", token, default=10, maximum=100)
    assert (list(second), token) == ([3, 2], "1")
    last, token = page(items, int, "2", token, default=10, maximum=100)
    assert (list(last), token) == ([1], None)
    for size, token in (("x", None), ("-1", None), ("2", "abc")):
        with pytest.raises(EmulatorError):
            page(items, int, size, token, default=10, maximum=100)


def test_settings_are_validated() -> None:
    with pytest.raises(EmulatorError, match="job_seconds"):
        EmulatorConfig(job_seconds=-1)
    with pytest.raises(EmulatorError, match="vertex_shard_rows"):
        EmulatorConfig(vertex_shard_rows=0)
    with pytest.raises(EmulatorError, match="api_key"):
        EmulatorConfig(api_key="")
    with pytest.raises(EmulatorError, match="unknown setting"):
        EmulatorConfig().updated(speed=2)
    assert EmulatorConfig().updated(accepted_tokens=["t"]).accepted_tokens == ("t",)


@pytest.mark.parametrize("module", ["errors", "jobs", "responses", "routing", "faults", "state"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"airflow_provider_genai_batch.emulator.{module}"))
    assert result.attempted > 0 and result.failed == 0
