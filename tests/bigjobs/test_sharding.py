"""Inputs beyond one job: split into shards, one mapped create each, one combined results file and manifest."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.emulator import EmulatorHandle
from airflow_provider_genai_batch.operators._cutting import ShardLimits, split_requests
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.operators.sharding import split_jsonl
from tests.bigjobs.test_usage import expected_usage
from tests.conftest import GEMINI_CONN_ID, VERTEX_CONN_ID

PROMPTS = [f"prompt number {i} " + "word " * (i % 3) for i in range(10)]


def request_line(text: str, key: str) -> bytes:
    body = {"request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}, "metadata": {"key": key}}
    return json.dumps(body).encode() + b"\n"


def test_split_requests_respects_count_and_bytes() -> None:
    requests = [{"contents": "x" * 10}] * 7
    assert [len(s) for s in split_requests(requests, ShardLimits.of("gemini", max_requests=3))] == [3, 3, 1]
    size = len(json.dumps(requests[0], separators=(",", ":")))
    by_bytes = split_requests(requests, ShardLimits.of("gemini", max_bytes=2 * size))
    assert [len(s) for s in by_bytes] == [2, 2, 2, 1]
    with pytest.raises(OperatorInputError) as caught:
        split_requests([{"contents": "small"}, {"contents": "y" * 100}], ShardLimits.of("gemini", max_bytes=50))
    assert caught.value.field == "src[1]"
    assert "more than one gemini job takes (50 bytes per shard)" in str(caught.value)
    assert "max_shard_bytes" in caught.value.fix


def test_split_jsonl_writes_stable_shard_files(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(request_line(f"p{i}", f"k{i}") for i in range(5)) + b"\n")
    limits = ShardLimits.of("vertex", max_requests=2)
    files = split_jsonl(source, tmp_path / "shards", limits, "0123456789abcdef")
    assert [(f.name, n) for f, n, _ in files] == [
        ("in.run-0123456789abcdef.shard-00000.jsonl", 2),
        ("in.run-0123456789abcdef.shard-00001.jsonl", 2),
        ("in.run-0123456789abcdef.shard-00002.jsonl", 1),
    ]
    assert [digest for _, _, digest in files] == [hashlib.sha256(f.read_bytes()).hexdigest() for f, _, _ in files]
    first = files[0][0].read_bytes()
    again = split_jsonl(source, tmp_path / "shards", limits, "0123456789abcdef")  # a retry: same names, same bytes
    assert again == files and files[0][0].read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [f.name for f, _, _ in files]  # no leftovers
    other = split_jsonl(source, tmp_path / "shards", limits, "fedcba9876543210")  # another run: other names
    assert {f.name for f, _, _ in other}.isdisjoint(f.name for f, _, _ in files)
    assert files[0][0].read_bytes() == first


def test_a_failed_split_leaves_no_temporary_file(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(request_line("fine", "k0") + request_line("fine too", "k1") + b"[not an object]\n")
    with pytest.raises(OperatorInputError, match="src line 3"):
        split_jsonl(source, tmp_path / "shards", ShardLimits.of("vertex", max_requests=5), "0123456789abcdef")
    assert list((tmp_path / "shards").iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limits": "openai"}, "limits"),
        ({"max_requests": 0}, "max_shard_requests"),
        ({"max_bytes": 1.5}, "max_shard_bytes"),
    ],
)
def test_bad_limits_name_the_setting(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(OperatorInputError) as caught:
        ShardLimits.of(kwargs.pop("limits", "gemini"), kwargs.get("max_requests"), kwargs.get("max_bytes"))
    assert caught.value.field == field


def check_combined(out: Path, manifest: dict[str, Any], prompts: list[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(len(prompts)))  # every request once, in order
    texts = [line["response"]["candidates"][0]["content"]["parts"][0]["text"] for line in lines]
    assert texts == [f"echo: {p}" for p in prompts]
    assert [line["key"] for line in lines] == [f"k{i}" for i in range(len(prompts))]
    assert manifest["results"] == manifest["succeeded"] == len(prompts) and manifest["failed"] == 0
    assert sum(shard["results"] for shard in manifest["shards"]) == len(prompts)
    assert manifest["usage"]["total"] == expected_usage(prompts)
    assert (
        sum(shard["usage"]["total_tokens"] for shard in manifest["shards"]) == expected_usage(prompts)["total_tokens"]
    )
    return lines


def test_gemini_list_in_three_shards_with_a_lost_create_response(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    # the second create is applied, then its connection dropped: the shard's retry must not submit again
    fast_emulator.add_fault("apply_then_drop", method="POST", path=r":batchGenerateContent$", skip=1, count=1)
    out = tmp_path / "combined.jsonl"
    src = [{"contents": p, "metadata": {"key": f"k{i}"}} for i, p in enumerate(PROMPTS)]
    result = run_built_dag(
        "sharded",
        "sharded_gemini",
        src=src,
        conn_id=GEMINI_CONN_ID,
        destination=str(out),
        max_shard_requests=4,
        retries=2,
        prices={"gemini-2.5-flash": {"input": 1.0, "output": 4.0}},
    )
    assert result.state == "success", result.output[-3000:]
    stats = fast_emulator.stats()
    assert stats["faults_fired"]["total"] == 1
    assert stats["jobs_created"] == 3
    manifest = result.value("combine")
    assert [(s["shard"], s["first_index"], s["requests"]) for s in manifest["shards"]] == [
        (0, 0, 4),
        (1, 4, 4),
        (2, 8, 2),
    ]
    assert len({s["job_name"] for s in manifest["shards"]}) == 3
    check_combined(out, manifest, PROMPTS)
    usage = expected_usage(PROMPTS)
    cost = (usage["prompt_tokens"] * 1.0 + usage["candidates_tokens"] * 4.0) / 1e6
    assert manifest["estimated_cost"]["total"] == pytest.approx(cost)


@pytest.mark.parametrize("conn_id", [GEMINI_CONN_ID, VERTEX_CONN_ID], ids=["gemini", "vertex"])
def test_local_jsonl_in_three_shards(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path, conn_id: str
) -> None:
    """Shard files are stamped, so the (shuffling) emulator's result order does not matter on either backend."""
    source = tmp_path / "requests.jsonl"
    source.write_bytes(b"".join(request_line(p, f"k{i}") for i, p in enumerate(PROMPTS)))
    out = tmp_path / "combined.jsonl"
    result = run_built_dag(
        "sharded",
        f"sharded_file_{conn_id}",
        src=str(source),
        conn_id=conn_id,
        limits="vertex" if conn_id == VERTEX_CONN_ID else "gemini",
        destination=str(out),
        max_shard_requests=4,
        max_active=1,
    )
    assert result.state == "success", result.output[-3000:]
    assert fast_emulator.stats()["jobs_created"] == 3
    manifest = result.value("combine")
    assert [s["requests"] for s in manifest["shards"]] == [4, 4, 2]
    check_combined(out, manifest, PROMPTS)
    names = sorted(p.name for p in (tmp_path / "requests.shards").iterdir())
    assert len(names) == 3 and re.fullmatch(r"requests\.run-[0-9a-f]{16}\.shard-00000\.jsonl", names[0])
    refs = result.value("split")
    assert [ref["src"] for ref in refs] == [str(tmp_path / "requests.shards" / name) for name in names]
    assert [ref["sha256"] for ref in refs] == [
        hashlib.sha256((tmp_path / "requests.shards" / name).read_bytes()).hexdigest() for name in names
    ]


def test_vertex_list_in_three_shards(run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path) -> None:
    out = tmp_path / "combined.jsonl"
    src = [{"contents": p, "metadata": {"key": f"k{i}"}} for i, p in enumerate(PROMPTS)]
    result = run_built_dag(
        "sharded",
        "sharded_vertex",
        src=src,
        conn_id=VERTEX_CONN_ID,
        destination=str(out),
        limits="vertex",
        max_shard_requests=4,
    )
    assert result.state == "success", result.output[-3000:]
    assert fast_emulator.stats()["jobs_created_by_backend"]["vertex"] == 3
    check_combined(out, result.value("combine"), PROMPTS)


def test_unsplittable_input_fails_before_any_call(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    result = run_built_dag(
        "sharded", "sharded_bad", src="bq://p.d.t", conn_id=VERTEX_CONN_ID, destination=str(tmp_path / "x.jsonl")
    )
    assert result.task_states["split"] == "failed"
    assert "cannot be split" in result.output and "BigQuery table is one Vertex job" in result.output
    assert fast_emulator.stats()["jobs_created"] == 0


def test_combine_keeps_a_users_key_that_looks_like_an_index(
    run_built_dag: Any, fast_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A user's key "1" at index 1 of shard 1 stays "1"; only keys the client made (requests without a key of
    their own) become the global index."""
    keys: list[str | None] = [f"k{i}" for i in range(10)]
    keys[6] = "1"  # shard 1 (5 requests a shard), index 1 within it: the key the client would have generated
    keys[7] = "2"
    keys[2] = keys[8] = None  # no key of their own: the client numbers them, and combine renumbers them
    lines = []
    for prompt, key in zip(PROMPTS, keys, strict=True):
        line: dict[str, Any] = {"request": {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}}
        if key is not None:
            line["key"] = key  # the Gemini JSONL form: the key beside the request, echoed beside its response
        lines.append(json.dumps(line))
    source = tmp_path / "keys.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "combined.jsonl"
    result = run_built_dag(
        "sharded", "sharded_user_keys", src=str(source), conn_id=GEMINI_CONN_ID, destination=str(out),
        max_shard_requests=5, max_active=1,
    )  # fmt: skip
    assert result.state == "success", result.output[-3000:]
    combined = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["index"] for line in combined] == list(range(10))
    assert [line["key"] for line in combined] == [key if key is not None else str(i) for i, key in enumerate(keys)]


def test_the_split_modules_import_one_way() -> None:
    """``sharding`` -> ``_gcs_shards`` -> ``_cutting``, never back (before: ``_gcs_shards`` imported ``sharding``
    for the cutting code, and ``sharding`` imported ``_gcs_shards``: a cycle)."""
    import ast

    import airflow_provider_genai_batch.operators as package

    folder = Path(package.__file__).parent

    def imported(module: str) -> set[str]:
        tree = ast.parse((folder / f"{module}.py").read_text())
        return {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package.__name__ + ".")
        }

    assert "_gcs_shards" in imported("sharding") and "_cutting" in imported("sharding")
    assert "sharding" not in imported("_gcs_shards")
    assert not {"sharding", "_gcs_shards"} & imported("_cutting")
