"""The plugin is registered (entry point and provider info) and Airflow's plugins manager loads it."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

from airflow_provider_genai_batch.get_provider_info import get_provider_info

PLUGIN_CLASS = "airflow_provider_genai_batch.ui.plugin.GenAIBatchUIPlugin"

WEBHOOKS_PLUGIN_CLASS = "airflow_provider_genai_batch.webhooks.plugin.GenAIBatchWebhooksPlugin"


def test_provider_info_and_entry_point_name_the_plugin() -> None:
    assert get_provider_info()["plugins"] == [
        {"name": "genai_batch_ui", "plugin-class": PLUGIN_CLASS},
        {"name": "genai_batch_webhooks", "plugin-class": WEBHOOKS_PLUGIN_CLASS},
    ]
    points = importlib.metadata.entry_points(group="airflow.plugins")
    assert any(p.value == PLUGIN_CLASS.rsplit(".", 1)[0] + ":GenAIBatchUIPlugin" for p in points)
    assert any(p.value == WEBHOOKS_PLUGIN_CLASS.rsplit(".", 1)[0] + ":GenAIBatchWebhooksPlugin" for p in points)


def test_airflows_plugins_manager_loads_the_views_the_app_and_the_card() -> None:
    code = (
        "from airflow import plugins_manager as pm\n"
        "plugins = {p.name: p for p in pm._get_plugins()[0]}\n"
        "views, apps = pm._get_ui_plugins()\n"
        "fastapi_apps, _ = pm.get_fastapi_plugins()\n"
        "print(sorted(v['url_route'] for v in views if v['href'].startswith('/genai-batch/')))\n"
        "print(sorted(a['url_route'] for a in apps if a['bundle_url'].startswith('/genai-batch/')))\n"
        "print([a['url_prefix'] for a in fastapi_apps if a['name'] == 'Gen AI batch jobs'])\n"
        "print(pm.get_import_errors())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    lines = out.stdout.strip().splitlines()[-4:]
    assert lines == [
        "['genai-batch-job', 'genai-batch-jobs']",
        "['genai-batch-card']",
        "['/genai-batch']",
        "{}",
    ], out.stdout + out.stderr


def test_importing_the_operators_does_not_import_the_ui() -> None:
    code = (
        "import sys, airflow_provider_genai_batch.operators, airflow_provider_genai_batch.sensors\n"
        "print(sorted(m for m in sys.modules if m.startswith('airflow_provider_genai_batch.ui')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"
