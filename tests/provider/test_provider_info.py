"""Provider metadata: valid against Airflow's schemas, every path importable, secrets marked sensitive."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from airflow_provider_genai_batch.get_provider_info import get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent


def schema(name: str) -> dict[str, Any]:
    return json.loads((AIRFLOW_DIR / name).read_text())


def test_valid_against_the_provider_info_schema() -> None:
    jsonschema.validate(get_provider_info(), schema("provider_info.schema.json"))


def test_connection_type_valid_against_the_provider_yaml_schema() -> None:
    yaml_schema = schema("provider.yaml.schema.json")
    connection_schema = yaml_schema["properties"]["connection-types"]["items"]
    for connection in get_provider_info()["connection-types"]:
        jsonschema.validate(connection, connection_schema)


def test_ui_field_behaviour_valid_against_the_form_schema() -> None:
    form_schema = schema("customized_form_field_behaviours.schema.json")
    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    jsonschema.validate(
        {
            "hidden_fields": behaviour["hidden-fields"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        },
        form_schema,
    )


def test_sensitive_fields_are_passwords() -> None:
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    sensitive = {name for name, field in fields.items() if field["schema"].get("format") == "password"}
    assert sensitive == {"service_account_key", "access_token"}


def test_conn_fields_match_what_the_connection_parser_reads() -> None:
    from airflow_provider_genai_batch.hooks.connection import EXTRA_FIELDS

    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert set(fields) == set(EXTRA_FIELDS)


def _dotted_paths() -> list[str]:
    info = get_provider_info()
    paths = [
        m for kind in ("hooks", "operators", "sensors", "triggers") for e in info[kind] for m in e["python-modules"]
    ]
    paths += info["extra-links"]
    paths += [c["hook-class-name"] for c in info["connection-types"]]
    return paths


@pytest.mark.parametrize("dotted", _dotted_paths())
def test_every_path_imports(dotted: str) -> None:
    try:
        importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, attribute = dotted.rpartition(".")
        assert getattr(importlib.import_module(module), attribute)
