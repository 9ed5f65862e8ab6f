"""Names parsed once (``client/names.py``): a model, a ``gs://`` URI, a job's naming; the code that receives the type
does not check it again, and what is sent is byte for byte what the separate checks sent."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.client.creation import _inline_input, prepare_create
from airflow_provider_genai_batch.client.errors import InvalidInputError
from airflow_provider_genai_batch.client.names import KEY_LABEL, GcsUri, JobNaming, ModelName, check_labels
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.sources import InlineSource, resolve_source
from airflow_provider_genai_batch.client.wire import gemini, vertex
from airflow_provider_genai_batch.client.wire.common import compact_json

KEY = "0123456789abcdef01234567"
GEMINI = ClientSettings(backend="gemini", api_key="k", base_url="http://127.0.0.1:9")
VERTEX = ClientSettings(
    backend="vertex", project="p", location="us-central1", access_token="t", gcs_staging_prefix="gs://b/staging"
)


@pytest.mark.parametrize("bad", ["", " ", "gemini 2.5", "../etc", "m?x=1", 5, None])
def test_a_bad_model_is_refused_naming_the_field(bad: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ModelName.parse(bad, "model")
    assert caught.value.field == "model"


def test_a_model_name_is_checked_once_then_carried() -> None:
    model = ModelName.parse("gemini-2.5-flash")
    assert ModelName.parse(model) is model and model == "gemini-2.5-flash"
    prepared = prepare_create(GEMINI, model=model, src=["hi"], config=None)
    assert prepared.model is model and prepared.resource == "models/gemini-2.5-flash"
    # The wire builders take the resource path built once; they do not check the model again.
    assert gemini.model_path(model) == "models/gemini-2.5-flash"
    assert vertex.model_path(ModelName.parse("google/gemini-2.5-flash")) == "publishers/google/models/gemini-2.5-flash"


def test_a_gcs_uri_is_parsed_once_and_sent_as_given() -> None:
    uri = GcsUri.parse("gs://bucket/in/part.jsonl", "src")
    assert (uri.bucket, uri.name, str(uri)) == ("bucket", "in/part.jsonl", "gs://bucket/in/part.jsonl")
    assert GcsUri.parse(uri, "other") is uri
    assert str(GcsUri.parse("gs://bucket", "src")) == "gs://bucket"  # no slash added to what is sent
    assert GcsUri.parse("gs://bucket/in/*.jsonl", "src").has_wildcard
    source = resolve_source(["gs://bucket/a.jsonl", "gs://bucket/b.jsonl"], target=gemini_target())
    assert [str(u) for u in source.uris] == ["gs://bucket/a.jsonl", "gs://bucket/b.jsonl"]  # type: ignore[union-attr]
    with pytest.raises(InvalidInputError) as caught:
        resolve_source(["gs://bucket/a.jsonl", "gs://B!/b.jsonl"], target=gemini_target())
    assert caught.value.field == "src[1]"


def gemini_target() -> Any:
    from airflow_provider_genai_batch.client.wire.generation import GEMINI as TARGET

    return TARGET


def test_a_derived_destination_is_built_from_the_parsed_source() -> None:
    prepared = prepare_create(VERTEX, model="gemini-2.5-flash", src="gs://bucket/in/req.jsonl", config=None)
    from airflow_provider_genai_batch.client.creation import output_config

    assert output_config(VERTEX, prepared) == vertex.gcs_output("gs://bucket/in/req/dest")


def test_one_naming_builds_the_keyed_names_on_both_backends() -> None:
    naming = JobNaming.parse("  nightly  ", field="display_name")
    assert naming.config(KEY, backend="gemini") == {"display_name": f"nightly--gbk-{KEY}"}
    assert naming.config(KEY, backend="vertex", labels={"team": "ml"}) == {
        "display_name": f"nightly--gbk-{KEY}",
        "labels": {"team": "ml", KEY_LABEL: KEY},
    }
    long = JobNaming.parse("x" * 300, field="display_name").display_name(KEY)
    assert len(long) == 128 and long.endswith(KEY)
    assert JobNaming.parse(f"again--gbk-{KEY}", field="display_name").display_name(KEY) == f"again--gbk-{KEY}"
    with pytest.raises(InvalidInputError) as caught:
        JobNaming.parse("a\tb", field="config.display_name")
    assert (caught.value.field, "position 1" in caught.value.problem) == ("config.display_name", True)


def test_labels_are_checked_once_with_room_for_the_key_label() -> None:
    own = {f"l{i}": "v" for i in range(63)}
    check_labels(own, keyed=True)
    with pytest.raises(InvalidInputError) as caught:
        check_labels({**own, "one-more": "v"}, keyed=True)
    assert "64 given plus the operators' genai-batch-key label" in caught.value.problem
    naming = JobNaming.parse("n", field="display_name")
    prepared = prepare_create(
        VERTEX, model="gemini-2.5-flash", src=["hi"], config={"labels": {"team": "ml"}}, naming=naming
    )
    prepared.key(KEY)
    assert prepared.display_name == f"n--gbk-{KEY}"
    assert prepared.config.labels == {"team": "ml", KEY_LABEL: KEY}
    with pytest.raises(InvalidInputError) as too_many:
        prepare_create(
            VERTEX, model="gemini-2.5-flash", src=["hi"], config={"labels": {**own, "x": "v"}}, naming=naming
        )
    assert too_many.value.field == "config.labels"


@pytest.mark.parametrize("count", [1, 2, 7])
def test_the_inline_input_is_stamped_and_measured_in_one_pass_exactly(count: int) -> None:
    prepared = prepare_create(
        GEMINI,
        model="gemini-2.5-flash",
        src=[{"contents": f"q{i} é", "metadata": {"a": "b"}} for i in range(count)],
        config=None,
    )
    assert isinstance(prepared.source, InlineSource)
    whole = gemini.inline_input(prepared.source.requests)
    size = len(compact_json(whole))
    assert _inline_input(prepared.source, size) == whole  # exactly at the limit: inline, the same body
    assert _inline_input(prepared.source, size - 1) is None  # one byte over: uploaded as a file, as before


def test_a_bucket_named_like_a_file_derives_no_destination_in_another_bucket() -> None:
    """``gs://inputs.jsonl`` names a bucket, not an object: the destination derived from the URI's text was
    ``gs://inputs/dest``, another bucket. From the parsed URI no destination can be derived."""
    with pytest.raises(InvalidInputError) as caught:
        prepare_create(VERTEX, model="gemini-2.5-flash", src="gs://inputs.jsonl", config=None)
    assert caught.value.field == "config.dest"
