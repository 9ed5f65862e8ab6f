"""The adapters on their own, against the emulator (and respx at transport level for a model that answers JSON)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import httpx
import pytest
import respx
from airflow.providers.common.ai.batch import dispatch
from airflow.providers.common.ai.batch.output_schema import build_output_spec, validate_extracted_output
from airflow.providers.common.ai.exceptions import (
    BatchProviderNotYetSupportedError,
    LLMBatchInputError,
    LLMBatchLimitExceededError,
    LLMBatchModelMismatchError,
)

from airflow_provider_genai_batch.client.errors import APIStatusError, InvalidInputError, NotFoundError
from airflow_provider_genai_batch.common_ai.adapter import (
    GeminiBatchAdapter,
    GeminiLegacyBatchAdapter,
    VertexBatchAdapter,
    VertexLegacyBatchAdapter,
)
from tests.common_ai.conftest import CommonAI
from tests.common_ai.dags import Review

KEY16 = "0123456789abcdef"
FINGERPRINT = "f" * 64
TEXT = build_output_spec(str)


def gemini(cai: CommonAI) -> GeminiBatchAdapter:
    return GeminiBatchAdapter(api_key=cai.emulator.api_key, base_url=cai.emulator.base_url)


def vertex(cai: CommonAI) -> VertexBatchAdapter:
    return VertexBatchAdapter(base_url=cai.emulator.base_url)


def submit(adapter: Any, prompts: list[str], **kwargs: Any) -> str:
    requests = [{"prompt": p} for p in prompts]
    adapter.validate_requests(requests, model="gemini-2.5-flash", output_spec=TEXT, idempotency_key=KEY16)
    result = adapter.submit(
        requests,
        model="gemini-2.5-flash",
        idempotency_key=kwargs.get("key16", KEY16),
        input_fingerprint=kwargs.get("fingerprint", FINGERPRINT),
        output_spec=TEXT,
    )
    assert result.provider_input_ref is None
    return str(result.batch_id)


# --- registration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "conn_type", "cls"),
    [
        ("google:gemini-2.5-flash", "pydanticai", GeminiBatchAdapter),
        ("google-gla:gemini-2.5-flash", "genai_batch", GeminiLegacyBatchAdapter),
        ("google-cloud:gemini-2.5-flash", "pydanticai_vertex", VertexBatchAdapter),
        ("google-vertex:gemini-2.5-flash", "google_cloud_platform", VertexLegacyBatchAdapter),
    ],
)
def test_common_ai_dispatch_finds_the_adapter_by_entry_point(model_id: str, conn_type: str, cls: type) -> None:
    assert dispatch.get_adapter_class(conn_type, model_id) is cls
    assert dispatch.resolve_adapter_name(conn_type, model_id) == model_id.split(":")[0]


def test_gemini_refuses_a_vertex_connection_type() -> None:
    with pytest.raises(BatchProviderNotYetSupportedError):
        dispatch.get_adapter_class("pydanticai_vertex", "google:gemini-2.5-flash")


# --- bad input, before any network call -----------------------------------------------------------


def requests_sent(cai: CommonAI) -> int:
    return sum(count for label, count in cai.emulator.stats()["requests"].items() if not label.startswith("admin"))


def test_too_many_requests_names_the_limit_and_expand(cai: CommonAI) -> None:
    adapter = vertex(cai)
    requests = [{"prompt": "x"}] * (VertexBatchAdapter.max_requests + 1)
    with pytest.raises(LLMBatchLimitExceededError) as info:
        adapter.validate_requests(requests, model="gemini-2.5-flash", output_spec=TEXT, idempotency_key=KEY16)
    assert isinstance(info.value, InvalidInputError)
    assert info.value.field == "requests"
    assert "200,001" in str(info.value) and ".expand()" in str(info.value)
    assert requests_sent(cai) == 0


class SmallVertex(VertexBatchAdapter):
    """The same adapter with a byte limit a test can reach."""

    max_payload_bytes = 1_000


def test_payload_bytes_counted_as_sent_including_the_schema(cai: CommonAI) -> None:
    adapter = SmallVertex(base_url=cai.emulator.base_url)
    requests = [{"prompt": "short"}] * 3
    adapter.validate_requests(requests, model="gemini-2.5-flash", output_spec=TEXT, idempotency_key=KEY16)
    with pytest.raises(LLMBatchLimitExceededError, match=r"at request \d of 3"):
        adapter.validate_requests(
            requests, model="gemini-2.5-flash", output_spec=build_output_spec(Review), idempotency_key=KEY16
        )
    assert requests_sent(cai) == 0


@pytest.mark.parametrize(
    ("request_", "error", "field"),
    [
        ({"prompt": "x", "model": "openai:gpt-5"}, LLMBatchModelMismatchError, "requests[1].model"),
        ({"prompt": "x", "model": "google:gemini-2.5-pro"}, LLMBatchModelMismatchError, "requests[1].model"),
        ({"prompt": "x", "params": {"temperature": object()}}, LLMBatchInputError, "requests[1].params.temperature"),
        ({"prompt": ""}, LLMBatchInputError, "requests[1].contents"),
    ],
)
def test_bad_request_names_its_field(cai: CommonAI, request_: dict[str, Any], error: type, field: str) -> None:
    adapter = gemini(cai)
    requests = [{"prompt": "fine", "model": "google-gla:gemini-2.5-flash"}, request_]
    with pytest.raises(error) as info:
        adapter.validate_requests(requests, model="gemini-2.5-flash", output_spec=TEXT, idempotency_key=KEY16)
    assert isinstance(info.value, InvalidInputError)
    assert info.value.field.startswith(field), info.value.field
    assert info.value.fix
    assert requests_sent(cai) == 0


def test_vertex_without_staging_prefix_says_which_variable(cai: CommonAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENAI_BATCH_GCS_STAGING_PREFIX")
    with pytest.raises(LLMBatchInputError, match="GENAI_BATCH_GCS_STAGING_PREFIX"):
        vertex(cai).validate_requests([{"prompt": "x"}], model="m", output_spec=TEXT, idempotency_key=KEY16)


def test_missing_project_and_key_fail_with_the_fix(cai: CommonAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    with pytest.raises(InvalidInputError, match="GOOGLE_CLOUD_PROJECT"):
        vertex(cai)
    with pytest.raises(InvalidInputError, match="password"):
        GeminiBatchAdapter(base_url=cai.emulator.base_url)


def test_api_key_never_in_repr_or_errors(cai: CommonAI) -> None:
    secret = "AIzaSy-very-secret-key-123"
    adapter = GeminiBatchAdapter(api_key=secret, base_url=cai.emulator.base_url)
    assert secret not in repr(adapter)
    with pytest.raises(APIStatusError) as info:
        adapter.get_batch("batches/nope")
    assert info.value.status_code == 400  # the emulator rejects the key
    assert secret not in str(info.value) and secret not in repr(info.value)


# --- status, results ------------------------------------------------------------------------------


def test_gemini_round_trip_and_counts(cai: CommonAI) -> None:
    adapter = gemini(cai)
    batch_id = submit(adapter, ["a b", "EMULATOR_FAIL", "c"])
    state = adapter.get_batch(batch_id)
    assert state.status == "completed"
    assert state.counts == {"succeeded": 2, "errored": 1, "expired": 0, "cancelled": 0}
    items = list(adapter.iter_results(batch_id))
    assert sorted((i.index, i.provider_status) for i in items) == [(0, "success"), (1, "errored"), (2, "success")]
    ok = next(i for i in items if i.index == 0)
    assert ok.custom_id == f"{KEY16}-0"
    assert adapter.extract_output(ok, TEXT).text == "echo: a b"


@pytest.mark.parametrize(
    ("final", "status", "expected_counts"),
    [
        ("PARTIALLY_SUCCEEDED", "completed", {"succeeded": 2, "errored": 1, "expired": 0, "cancelled": 0}),
        ("EXPIRED", "expired", {"succeeded": 0, "errored": 0, "expired": 3, "cancelled": 0}),
        ("CANCELLED", "cancelled", {"succeeded": 0, "errored": 0, "expired": 0, "cancelled": 3}),
        ("FAILED", "failed", None),
    ],
)
def test_vertex_states_map_onto_common_ais_five(
    cai: CommonAI, final: str, status: str, expected_counts: dict[str, int] | None
) -> None:
    cai.emulator.add_outcome(final, failed_requests=[1], error_message="quota gone", backend="vertex")
    adapter = vertex(cai)
    batch_id = submit(adapter, ["a", "b", "c"])
    state = adapter.get_batch(batch_id)
    assert state.status == status
    if expected_counts is not None:
        assert state.counts == expected_counts
    else:
        assert "quota gone" in (state.error_message or "")


@pytest.mark.parametrize("final", ["EXPIRED", "CANCELLED"])
def test_unfinished_requests_are_their_own_rows_not_errors(cai: CommonAI, final: str) -> None:
    cai.emulator.add_outcome(final, backend="gemini")
    adapter = gemini(cai)
    batch_id = submit(adapter, ["a", "b"])
    items = sorted(adapter.iter_results(batch_id), key=lambda i: i.index)
    assert [(i.index, i.provider_status, i.custom_id) for i in items] == [
        (0, final.lower(), f"{KEY16}-0"),
        (1, final.lower(), f"{KEY16}-1"),
    ]


def test_cancel_batch(cai: CommonAI) -> None:
    cai.emulator.add_outcome("STUCK_PENDING", backend="vertex")
    adapter = vertex(cai)
    batch_id = submit(adapter, ["a"])
    assert adapter.get_batch(batch_id).status == "in_progress"
    adapter.cancel_batch(batch_id)
    assert cai.emulator.stats()["cancels"]["vertex"] == 1


def test_iter_results_raises_at_call_time_for_an_unknown_batch(cai: CommonAI) -> None:
    with pytest.raises(NotFoundError):
        gemini(cai).iter_results("batches/unknown")


def test_gemini_input_over_20_mb_goes_through_an_uploaded_file(cai: CommonAI) -> None:
    adapter = gemini(cai)
    big = "word " * 1_100_000  # 5.5 MB per prompt, 22 MB in all
    batch_id = submit(adapter, [big, big, big, big])
    assert cai.emulator.stats()["requests"]["files.upload.start"] == 1
    job = adapter.client.batches.get(name=batch_id)
    assert job.src is not None and job.src.file_name
    assert adapter.get_batch(batch_id).counts == {"succeeded": 4, "errored": 0, "expired": 0, "cancelled": 0}


# --- orphans --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [gemini, vertex], ids=["gemini", "vertex"])
def test_find_orphaned_batch_needs_key_fingerprint_and_time(cai: CommonAI, make: Any) -> None:
    adapter = make(cai)
    before = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    submit(adapter, ["other"], fingerprint="0" * 64)
    batch_id = submit(adapter, ["mine"])
    assert adapter.find_orphaned_batch(KEY16, FINGERPRINT, before) == batch_id
    assert adapter.find_orphaned_batch(KEY16, "1" * 64, before) is None
    assert adapter.find_orphaned_batch("fedcba9876543210", FINGERPRINT, before) is None
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()
    assert adapter.find_orphaned_batch(KEY16, FINGERPRINT, later) is None


def test_find_orphaned_batch_in_an_oldest_first_list_skips_an_older_identical_submission(cai: CommonAI) -> None:
    """Issue 20: with a list that is not newest-first, the older submission of the same key and input (before
    the intent record) came first and ended the scan, so the orphan was reported absent and resubmitted."""
    cai.emulator.configure(gemini_list_order="oldest_first")
    adapter = gemini(cai)
    submit(adapter, ["mine"])  # an earlier submission of identical content, before this intent
    cai.emulator.advance_clock(3600)
    not_before = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).isoformat()
    orphan = submit(adapter, ["mine"])  # created after the intent record (the emulator's clock is 1 h ahead)
    assert adapter.find_orphaned_batch(KEY16, FINGERPRINT, not_before) == orphan


def test_find_orphaned_batch_raises_when_its_budget_is_spent(cai: CommonAI) -> None:
    """Issue 20: a look-up that read its budget without reaching the end of the list returned "absent", and
    common-ai resubmitted; it raises now, which common-ai treats as "unknown" (no resubmission)."""
    from airflow_provider_genai_batch.hooks.lookup import KeyLookupIncompleteError

    adapter = gemini(cai)
    before = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    for index in range(4):
        submit(adapter, [f"other {index}"], fingerprint=f"{index}" * 64)
    adapter.lookup_max_jobs = 3
    with pytest.raises(KeyLookupIncompleteError, match="read 3 jobs"):
        adapter.find_orphaned_batch(KEY16, FINGERPRINT, before)


# --- one pool per connection, across threads ------------------------------------------------------


def test_adapters_share_one_client_and_close_leaves_it_open(cai: CommonAI) -> None:
    first, second = gemini(cai), gemini(cai)
    batch_id = submit(first, ["a"])
    assert first.client is second.client
    first.close()
    assert second.get_batch(batch_id).status == "completed"
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            for _ in range(5):
                gemini(cai).get_batch(batch_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert gemini(cai).client is second.client


# --- structured output that parses (respx at transport level) -------------------------------------


def test_structured_answer_validates_into_the_output_type() -> None:
    base = "https://gemini.test"
    adapter = GeminiBatchAdapter(api_key="k", base_url=base)
    spec = build_output_spec(Review)
    assert adapter.build_output_directive(spec) == {
        "response_mime_type": "application/json",
        "response_json_schema": Review.model_json_schema(),
    }
    answer = json.dumps({"label": "good", "score": 0.9})
    job = {
        "name": "batches/b1",
        "metadata": {
            "state": "BATCH_STATE_SUCCEEDED",
            "displayName": f"llm_batch-{KEY16}--gbk-{'a' * 24}",
            "output": {
                "inlinedResponses": {
                    "inlinedResponses": [
                        {
                            "response": {"candidates": [{"content": {"parts": [{"text": answer}]}}]},
                            # the index stamp every inline request of ours carries (client/wire/stamp.py):
                            # a job named by the adapter ("--gbk-") whose results lack it is refused
                            "metadata": {"key": f"{KEY16}-0", "genai_batch_index": "0"},
                        },
                        {
                            "response": {"candidates": [{"content": {"parts": [{"text": "not json"}]}}]},
                            "metadata": {"key": f"{KEY16}-1", "genai_batch_index": "1"},
                        },
                    ]
                }
            },
        },
    }
    with respx.mock(base_url=base, assert_all_called=True) as mock:
        mock.get("/v1beta/batches/b1").mock(return_value=httpx.Response(200, json=job))
        items = list(adapter.iter_results("batches/b1"))
    outcomes = [validate_extracted_output(adapter.extract_output(item, spec), spec) for item in items]
    assert outcomes[0].ok and outcomes[0].value == {"label": "good", "score": 0.9}
    assert not outcomes[1].ok and outcomes[1].raw_text == "not json"
    adapter.close()


def test_structured_request_body_on_the_wire() -> None:
    base = "https://gemini.test"
    adapter = GeminiBatchAdapter(api_key="k", base_url=base)
    with respx.mock(base_url=base) as mock:
        route = mock.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent").mock(
            return_value=httpx.Response(200, json={"name": "batches/b2", "metadata": {"state": "BATCH_STATE_PENDING"}})
        )
        adapter.submit(
            [{"prompt": "hi", "system_prompt": "own", "max_tokens": 9, "params": {"top_k": 3}}],
            model="gemini-2.5-flash",
            idempotency_key=KEY16,
            input_fingerprint=FINGERPRINT,
            output_spec=build_output_spec(Review),
            system_prompt="shared",
            max_tokens=100,
            request_params={"temperature": 0.1, "max_output_tokens": 1},
        )
    body = json.loads(route.calls.last.request.content)["batch"]
    assert body["displayName"].startswith(f"llm_batch-{KEY16}--gbk-")
    (item,) = body["inputConfig"]["requests"]["requests"]
    assert item["metadata"] == {"key": f"{KEY16}-0", "genai_batch_index": "0"}
    assert item["request"]["systemInstruction"] == {"role": "user", "parts": [{"text": "own"}]}
    assert item["request"]["generationConfig"] == {
        "temperature": 0.1,
        "topK": 3,
        "maxOutputTokens": 9,
        "responseMimeType": "application/json",
        "responseJsonSchema": Review.model_json_schema(),
    }


# --- one look-up with the operators --------------------------------------------------------------


def test_the_adapter_and_the_hook_answer_a_look_up_alike(cai: CommonAI, monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter's orphan look-up and the operators' (``GenAIBatchHook.scan_jobs_by_key``) are one function,
    ``hooks.lookup.scan_listed_jobs``: on the same oldest-first list, with an older identical submission before
    the intent and a finished orphan after it, both pick the orphan, read it again (the list entry is sparse)
    and make the same calls. Only the choice among several
    candidates differs by design (newest for common-ai, earliest for the operators' survivor of duplicates)."""
    from airflow_provider_genai_batch.common_ai.items import batch_key
    from airflow_provider_genai_batch.deployment import deployment_digest_from_config
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from tests.conftest import set_connection

    emulator = cai.emulator
    emulator.configure(gemini_list_order="oldest_first")
    conn = {"conn_type": "genai_batch", "host": emulator.base_url, "password": emulator.api_key}
    set_connection(monkeypatch, "lookup_alike", conn)
    adapter, hook = gemini(cai), GenAIBatchHook(genai_batch_conn_id="lookup_alike")
    submit(adapter, ["mine"])  # an earlier submission of identical content, before this intent
    emulator.advance_clock(3600)
    not_before = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    orphan = submit(adapter, ["mine"])
    key = batch_key(KEY16, FINGERPRINT, deployment_digest_from_config())

    def calls() -> tuple[int, int]:
        requests = emulator.stats()["requests"]
        return requests.get("gemini.batches.list", 0), requests.get("gemini.batches.get", 0)

    before = calls()
    found = adapter.find_orphaned_batch(KEY16, FINGERPRINT, not_before.isoformat())
    adapter_calls = tuple(now - then for now, then in zip(calls(), before, strict=True))
    before = calls()
    scan = hook.scan_jobs_by_key(key, not_before=not_before - dt.timedelta(minutes=2))
    hook_calls = tuple(now - then for now, then in zip(calls(), before, strict=True))
    assert found == orphan
    assert scan.best is not None and scan.best.name == orphan
    assert scan.best.dest is not None  # read again: the list entry says nothing of its results
    assert adapter_calls == hook_calls == (1, 2)  # one page; the two keyed entries read again
