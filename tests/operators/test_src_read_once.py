"""A create operator's list of requests is read in full once on its way to the HTTP request, against the emulator.

Before the create is sent, the requests are checked for depth, converted to wire form and hashed into the
idempotency key in one pass (``operators/_submission._OnePass`` over ``client/sources``); the key is the one the
separate passes gave (``policy.idempotency.fingerprint_input``), and a request nested too deep is refused before any
call, naming its path. A list that counts how often it is read in full observes the first; the emulator's request
counts the last.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.deployment import deployment_digest_from_config
from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
from airflow_provider_genai_batch.operators._submission import CreateRequest, submit_create, task_key
from airflow_provider_genai_batch.policy.idempotency import key_from_display_name
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID

BACKENDS = [pytest.param(GEMINI_CONN_ID, id="gemini"), pytest.param(VERTEX_CONN_ID, id="vertex")]


class CountingList(list[Any]):
    """A list that records, for each iteration over it, how many items that iteration read."""

    def __init__(self, items: list[Any]) -> None:
        super().__init__(items)
        self.reads: list[int] = []

    def __iter__(self) -> Iterator[Any]:
        self.reads.append(0)
        slot = len(self.reads) - 1
        for item in super().__iter__():
            self.reads[slot] += 1
            yield item

    @property
    def full_reads(self) -> int:
        return sum(1 for count in self.reads if count == len(self))


def _requests(count: int) -> list[dict[str, Any]]:
    return [
        {"contents": f"question {i}", "config": {"temperature": 0.1 * (i % 3)}, "metadata": {"key": f"k{i}"}}
        for i in range(count)
    ]


@pytest.mark.parametrize("conn_id", BACKENDS)
def test_a_list_of_requests_is_read_in_full_once_and_keyed_as_before(emulator: EmulatorHandle, conn_id: str) -> None:
    src = CountingList(_requests(25))
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="read-once", map_index=-1, try_number=1)
    request = CreateRequest(model="gemini-2.5-flash", src=src, config=None, display_name="nightly")
    hook = GenAIBatchHook(genai_batch_conn_id=conn_id)

    submission = submit_create(hook, {"ti": ti}, request, log=logging.getLogger("read-once"))

    # One full read (check depth + convert + hash); the only other look is the source kind's peek at item 0.
    assert src.full_reads == 1, src.reads
    assert sorted(src.reads)[:-1] == [1] * (len(src.reads) - 1), src.reads
    expected = task_key(
        {"ti": ti}, request, None, force_rerun=False, deployment=deployment_digest_from_config()
    )  # the key the separate passes computed: unchanged
    assert key_from_display_name(submission.job.display_name) == expected
    assert emulator.stats()["jobs_created"] == 1


@pytest.mark.parametrize("conn_id", BACKENDS)
def test_a_request_nested_too_deep_is_refused_by_path_before_any_call(emulator: EmulatorHandle, conn_id: str) -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"parts": [deep]}
    src = [{"contents": "fine"}, {"contents": [deep]}]
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="deep", map_index=-1, try_number=1)
    hook = GenAIBatchHook(genai_batch_conn_id=conn_id)
    hook.get_conn()
    before = sum(emulator.stats()["requests"].values())

    with pytest.raises(InvalidInputError, match="nested more than 100 levels deep") as caught:
        submit_create(
            hook,
            {"ti": ti},
            CreateRequest(model="gemini-2.5-flash", src=src, config=None, display_name=None),
            log=logging.getLogger("deep"),
        )

    assert caught.value.field.startswith("src[1].contents[0].parts[0].parts[0]")
    assert "flatten it" in caught.value.fix
    assert sum(emulator.stats()["requests"].values()) == before


def test_the_display_name_is_checked_once_naming_the_parameter(emulator: EmulatorHandle) -> None:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="name", map_index=-1, try_number=1)
    hook = GenAIBatchHook(genai_batch_conn_id=GEMINI_CONN_ID)
    hook.get_conn()
    before = sum(emulator.stats()["requests"].values())
    with pytest.raises(InvalidInputError) as caught:
        submit_create(
            hook,
            {"ti": ti},
            CreateRequest(model="gemini-2.5-flash", src=["hi"], config=None, display_name="night\nly"),
            log=logging.getLogger("name"),
        )
    assert caught.value.field == "display_name"
    assert "position 5" in caught.value.problem
    assert sum(emulator.stats()["requests"].values()) == before


def test_a_list_of_texts_to_embed_is_read_in_full_once_and_keyed_as_before(emulator: EmulatorHandle) -> None:
    src = CountingList([f"text {i}" for i in range(12)])
    ti = SimpleNamespace(dag_id="d", task_id="embed", run_id="read-once", map_index=-1, try_number=1)
    request = CreateRequest(model="gemini-embedding-001", src=src, config=None, display_name=None, embeddings=True)

    submission = submit_create(
        GenAIBatchHook(genai_batch_conn_id=GEMINI_CONN_ID), {"ti": ti}, request, log=logging.getLogger("embed")
    )

    assert src.reads == [len(src)]  # checked, shown to the key's hash and converted in one pass
    expected = task_key({"ti": ti}, request, None, force_rerun=False, deployment=deployment_digest_from_config())
    assert key_from_display_name(submission.job.display_name) == expected
