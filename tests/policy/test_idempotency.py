"""Idempotency keys: deterministic, input-sensitive, and recognisable in display names and labels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_genai_batch.policy.idempotency import (
    KEY_LENGTH,
    MAX_DISPLAY_NAME_LENGTH,
    VERTEX_KEY_LABEL,
    display_name_with_key,
    fingerprint_input,
    idempotency_key,
    job_carries_key,
    key_from_display_name,
    key_from_labels,
    labels_with_key,
    vertex_key_filter,
)

BASE = {
    "dag_id": "dag",
    "task_id": "task",
    "run_id": "manual__2025-01-01",
    "map_index": -1,
    "model": "gemini-2.5-flash",
    "src": [{"contents": "hi", "metadata": {"key": "a"}}],
    "config": {"display_name": "x", "dest": "gs://b/out"},
}


def key(**changes: object) -> str:
    return idempotency_key(**{**BASE, **changes})  # type: ignore[arg-type]


class TestKey:
    def test_is_deterministic_lowercase_hex(self) -> None:
        assert key() == key()
        assert re.fullmatch(rf"[0-9a-f]{{{KEY_LENGTH}}}", key())

    @pytest.mark.parametrize(
        "change",
        [
            {"dag_id": "other"},
            {"task_id": "other"},
            {"run_id": "other"},
            {"map_index": 3},
            {"model": "gemini-2.5-pro"},
            {"src": [{"contents": "hello", "metadata": {"key": "a"}}]},
            {"config": {"dest": "gs://b/elsewhere"}},
        ],
    )
    def test_changes_with_every_input(self, change: dict[str, object]) -> None:
        assert key(**change) != key()

    def test_none_map_index_is_the_unmapped_index(self) -> None:
        assert key(map_index=None) == key(map_index=-1)

    def test_stable_across_key_order(self) -> None:
        a = fingerprint_input("m", [{"contents": "x", "config": {"a": 1, "b": 2}}], {"x": 1, "y": 2})
        b = fingerprint_input("m", [{"config": {"b": 2, "a": 1}, "contents": "x"}], {"y": 2, "x": 1})
        assert a == b

    def test_display_name_does_not_change_the_fingerprint(self) -> None:
        assert key(config={"dest": "gs://b/out"}) == key(config={"display_name": "y", "dest": "gs://b/out"})

    def test_pydantic_models_fingerprint_like_dicts(self) -> None:
        from airflow_provider_genai_batch.client.models import InlinedRequest

        as_model = fingerprint_input("m", [InlinedRequest(contents="hi")], None)
        as_dict = fingerprint_input("m", [{"contents": "hi"}], None)
        assert as_model == as_dict

    def test_paths_streams_and_bytes_are_fingerprinted(self, tmp_path: Path) -> None:
        assert fingerprint_input("m", tmp_path / "a.jsonl", None) != fingerprint_input("m", tmp_path / "b", None)
        assert fingerprint_input("m", iter([1]), None) == fingerprint_input("m", iter([2]), None)
        assert fingerprint_input("m", b"a", None) != fingerprint_input("m", b"b", None)

    @given(st.dictionaries(st.text(max_size=5), st.integers(), max_size=6))
    def test_any_dict_order_gives_the_same_key(self, config: dict[str, int]) -> None:
        reversed_config = dict(reversed(list(config.items())))
        assert fingerprint_input("m", "gs://b/x", config) == fingerprint_input("m", "gs://b/x", reversed_config)


class TestDisplayName:
    def test_user_name_plus_suffix(self) -> None:
        k = key()
        assert display_name_with_key("nightly", task_id="t", key=k) == f"nightly--gbk-{k}"

    def test_task_id_when_no_name(self) -> None:
        k = key()
        assert display_name_with_key(None, task_id="summarise", key=k) == f"summarise--gbk-{k}"

    def test_long_names_are_trimmed_under_the_limit(self) -> None:
        k = key()
        name = display_name_with_key("x" * 500, task_id="t", key=k)
        assert len(name) <= MAX_DISPLAY_NAME_LENGTH
        assert key_from_display_name(name) == k

    def test_existing_key_is_not_stacked(self) -> None:
        k = key()
        once = display_name_with_key("n", task_id="t", key=k)
        assert display_name_with_key(once, task_id="t", key=k) == once
        other = key(run_id="other")
        assert display_name_with_key(once, task_id="t", key=other) == f"n--gbk-{other}"

    def test_recognise(self) -> None:
        k = key()
        assert key_from_display_name(f"anything--gbk-{k}") == k
        assert key_from_display_name("no key here") is None
        assert key_from_display_name(None) is None
        assert key_from_display_name(f"x--gbk-{k.upper()}") is None

    def test_bad_key_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="idempotency key"):
            display_name_with_key("n", task_id="t", key="NOT-A-KEY")

    @given(st.text(max_size=300), st.text(min_size=1, max_size=300))
    def test_any_name_round_trips(self, name: str, task_id: str) -> None:
        k = key()
        built = display_name_with_key(name, task_id=task_id, key=k)
        assert len(built) <= MAX_DISPLAY_NAME_LENGTH
        assert key_from_display_name(built) == k


class TestLabels:
    def test_label_is_added_and_valid(self) -> None:
        k = key()
        labels = labels_with_key({"team": "ml"}, k)
        assert labels == {"team": "ml", VERTEX_KEY_LABEL: k}
        assert re.fullmatch(r"[a-z0-9_-]{1,63}", labels[VERTEX_KEY_LABEL])
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", VERTEX_KEY_LABEL)
        assert key_from_labels(labels) == k
        assert key_from_labels(None) is None
        assert key_from_labels({VERTEX_KEY_LABEL: "junk"}) is None

    def test_filter(self) -> None:
        k = key()
        assert vertex_key_filter(k) == f'labels.genai-batch-key="{k}"'

    def test_job_carries_key(self) -> None:
        k = key()
        assert job_carries_key(f"a--gbk-{k}", None, k)
        assert job_carries_key(None, {VERTEX_KEY_LABEL: k}, k)
        assert not job_carries_key("a", {}, k)


def test_content_identity_changes_the_key_and_none_keeps_it() -> None:
    base = {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": None, "model": "m", "src": "gs://b/x.jsonl"}
    plain = idempotency_key(**base, config=None)
    assert idempotency_key(**base, config=None, content=None) == plain
    first = idempotency_key(**base, config=None, content={"gcs": [["gs://b/x.jsonl", "1", "md5", "crc"]]})
    second = idempotency_key(**base, config=None, content={"gcs": [["gs://b/x.jsonl", "2", "md5", "crc"]]})
    assert len({plain, first, second}) == 3
