"""Airflow's providers manager discovers the provider, its hook, connection form, sensitive fields and link."""

from __future__ import annotations

import pytest
from packaging.version import Version

from airflow_provider_genai_batch.compat import airflow_version
from airflow_provider_genai_batch.get_provider_info import get_provider_info


@pytest.fixture(scope="module")
def manager() -> object:
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_provider_is_discovered(manager: object) -> None:
    assert get_provider_info()["package-name"] in manager.providers  # type: ignore[attr-defined]


def test_connection_type_and_hook(manager: object) -> None:
    try:  # Airflow 3.2+: hooks are the task runtime's business
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        runtime: object = ProvidersManagerTaskRuntime()
    except ImportError:
        runtime = manager
    hook = runtime.hooks["genai_batch"]  # type: ignore[attr-defined]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_genai_batch.hooks.genai_batch.GenAIBatchHook"
    assert hook.connection_id_attribute_name == "genai_batch_conn_id"


@pytest.mark.skipif(airflow_version() < Version("3.2"), reason="declarative conn-fields arrived in Airflow 3.2")
def test_form_fields_and_sensitivity(manager: object) -> None:
    widgets = manager.connection_form_widgets  # type: ignore[attr-defined]
    assert widgets["extra__genai_batch__access_token"].is_sensitive
    assert widgets["extra__genai_batch__service_account_key"].is_sensitive
    assert not widgets["extra__genai_batch__project"].is_sensitive
    behaviour = manager.field_behaviours["genai_batch"]  # type: ignore[attr-defined]
    assert behaviour["relabeling"]["password"] == "API key"


def test_extra_link_is_registered(manager: object) -> None:
    assert "airflow_provider_genai_batch.links.genai_batch.GenAIBatchJobLink" in manager.extra_links_class_names  # type: ignore[attr-defined]


def test_hook_class_attributes() -> None:
    from airflow_provider_genai_batch.hooks.genai_batch import GenAIBatchHook

    assert GenAIBatchHook.conn_type == "genai_batch"
    assert GenAIBatchHook.default_conn_name == "genai_batch_default"
    assert GenAIBatchHook.conn_name_attr == "genai_batch_conn_id"
