"""What a follow-up is cut from (``operators/_completion.FollowupInput``): inputs accepted and refused before any
call, lines re-stamped with their positions in the follow-up, and a shard checked against its split's hash."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.operators._completion import FollowupInput, cut_rows, followup_object_uri, source_rows
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.operators._shard_refs import shard_ref


def _line(n: int, stamp: int | None = None) -> bytes:
    metadata: dict[str, Any] = {"key": f"k{n}"}
    if stamp is not None:
        metadata["genai_batch_index"] = str(stamp)
    body = {"request": {"contents": [{"role": "user", "parts": [{"text": f"p{n}"}]}]}, "metadata": metadata}
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("src", "kind"),
    [
        ([{"contents": "a"}], "list"),
        ("/data/in.jsonl", "local"),
        ("files/abc", "file"),
        ("gs://b/in/requests.jsonl", "gcs"),
        (shard_ref(2, "gs://b/in/r.shards/r.run-0123456789abcdef.shard-00002.jsonl", md5="eA=="), "gcs"),
        (shard_ref(0, "/data/in.shards/in.run-0123456789abcdef.shard-00000.jsonl", sha256="ab"), "local"),
    ],
)
def test_inputs_a_follow_up_is_cut_from(src: Any, kind: str) -> None:
    given = FollowupInput.of(src)
    assert given.kind == kind
    assert (given.shard is not None) == isinstance(src, dict)


@pytest.mark.parametrize(
    ("src", "text"),
    [
        ("bq://p.d.t", "BigQuery table (bq://p.d.t)"),
        ("gs://b/in/*.jsonl", "one gs:// JSONL object"),
        ("gs://b/in/table.csv", "one gs:// JSONL object"),
        (["gs://b/a.jsonl", "gs://b/b.jsonl"], None),  # a list is requests: accepted (the client checks them)
        ("s3://b/in.jsonl", "not 's3://b/in.jsonl'"),
    ],
)
def test_inputs_refused_before_any_call_name_the_field_and_the_fix(src: Any, text: str | None) -> None:
    if text is None:
        FollowupInput.of(src)
        return
    with pytest.raises(OperatorInputError) as caught:
        FollowupInput.of(src)
    assert caught.value.field == "completion"
    assert text in str(caught.value)
    assert "completion=None" in str(caught.value)


def test_cut_rows_keeps_the_open_rows_in_order_and_restamps_them(tmp_path: Path) -> None:
    """Shard lines carry stamps 0..4; rows 1 and 3 become positions 0 and 1 of the follow-up. Blank lines are
    not requests."""
    lines = [_line(0, 0), _line(1, 1), b"", _line(2, 2), _line(3, 3), _line(4, 4)]
    out = io.BytesIO()
    sha256, md5 = cut_rows(iter(lines), [1, 3], out, always_stamp=False)
    cut = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(c["metadata"]["key"], c["metadata"]["genai_batch_index"]) for c in cut] == [("k1", "0"), ("k3", "1")]
    whole = b"".join(line + b"\n" for line in lines)
    assert sha256.hexdigest() == hashlib.sha256(whole).hexdigest()
    assert base64.b64encode(md5.digest()) == base64.b64encode(hashlib.md5(whole).digest())


def test_an_unstamped_line_is_kept_for_the_client_to_stamp_or_stamped_for_gcs() -> None:
    lines = [_line(0), _line(1)]
    kept, stamped = io.BytesIO(), io.BytesIO()
    cut_rows(iter(lines), [1], kept, always_stamp=False)
    cut_rows(iter(lines), [1], stamped, always_stamp=True)
    assert kept.getvalue() == lines[1] + b"\n"  # a local or files/ input: the client stamps it when it uploads
    assert json.loads(stamped.getvalue())["metadata"] == {"key": "k1", "genai_batch_index": "0"}


def test_a_rewritten_shard_fails_before_any_create(tmp_path: Path) -> None:
    from airflow_provider_genai_batch.operators._completion import _subset

    shard = tmp_path / "in.run-0123456789abcdef.shard-00000.jsonl"
    shard.write_bytes(b"".join(_line(n, n) + b"\n" for n in range(3)))
    ref = shard_ref(0, str(shard), sha256=hashlib.sha256(shard.read_bytes()).hexdigest())
    with _subset(None, FollowupInput.of(ref), [1], attempt=2, token="t") as (src, check):  # type: ignore[arg-type]
        assert check is None and json.loads(Path(src).read_text())["metadata"]["key"] == "k1"
    shard.write_bytes(b"".join(_line(n + 10, n) + b"\n" for n in range(3)))  # someone rewrote it
    with (
        pytest.raises(OperatorInputError, match="changed after the split wrote it"),
        _subset(
            None,
            FollowupInput.of(ref),
            [1],
            attempt=2,
            token="t",  # type: ignore[arg-type]
        ),
    ):
        pass
    assert source_rows(ref) == 3


def test_follow_up_objects_are_named_for_the_shard_or_the_run_and_the_attempt() -> None:
    shard = FollowupInput.of(shard_ref(1, "gs://b/in/r.shards/r.run-aaaa.shard-00001.jsonl", md5="eA=="))
    plain = FollowupInput.of("gs://b/in/requests.jsonl")
    assert (
        followup_object_uri(shard, attempt=2, token="t") == "gs://b/in/r.shards/r.run-aaaa.shard-00001.attempt-02.jsonl"
    )
    assert followup_object_uri(plain, attempt=3, token="0123") == "gs://b/in/requests.run-0123.attempt-03.jsonl"


def test_a_retry_that_finds_its_follow_up_reads_nothing_of_the_input(emulator: Any) -> None:
    """A try that finds attempt 2's job by its key (an earlier try made it) cuts nothing: a ``files/`` input is not
    downloaded again. Here the file is gone before the retry, so a cut would fail with 404."""
    import logging
    from types import SimpleNamespace

    from airflow_provider_genai_batch.client import ClientSettings, GenAIBatchClient
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook
    from airflow_provider_genai_batch.operators._completion import submit_followup
    from airflow_provider_genai_batch.operators._submission import CreateRequest
    from tests.conftest import GEMINI_CONN_ID

    requests = [{"contents": f"prompt {i}", "metadata": {"key": f"k{i}"}} for i in range(4)]
    settings = ClientSettings(backend="gemini", api_key=emulator.api_key, base_url=emulator.base_url)
    with GenAIBatchClient(settings) as client:
        uploaded = client.files.upload(requests).name
    ti = SimpleNamespace(dag_id="d", task_id="create", run_id="r", map_index=-1)
    request = CreateRequest(model="gemini-2.5-flash", src=uploaded, config=None, display_name=None)

    def followup() -> Any:
        return submit_followup(
            GenAIBatchHook(genai_batch_conn_id=GEMINI_CONN_ID),
            {"ti": ti},
            request,
            parent_key="0123456789abcdef01234567",
            attempt=2,
            rows=[1, 3],
            log=logging.getLogger("completion.retry"),
            lookup_max_jobs=100,
        )

    first = followup()  # try 1: the rows cut from the downloaded file, uploaded, created
    assert emulator.stats()["requests"]["files.download"] == 1
    with GenAIBatchClient(settings) as client:
        client.files.delete(name=uploaded)
    again = followup()  # try 2: the look-up finds attempt 2; nothing is cut
    assert again.name == first.name
    stats = emulator.stats()
    assert stats["jobs_created"] == 1 and stats["requests"]["files.download"] == 1
