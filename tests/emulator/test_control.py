"""The control API: ``EmulatorClient`` over HTTP mirrors the in-process handle; the pytest plugin isolates tests;
importing the plugin stays cheap."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_genai_batch.emulator import EmulatorClient, EmulatorControls, EmulatorError, EmulatorHandle


@pytest.fixture
def admin(emu: EmulatorHandle) -> Iterator[EmulatorClient]:
    with EmulatorClient(emu.base_url + "/") as client:
        yield client


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_client_has_the_same_methods_and_signatures_as_the_handle() -> None:
    client = _public(EmulatorClient)
    client.pop("close")
    assert client == _public(EmulatorControls)


def test_plugin_fixture_starts_each_test_empty(genai_batch_emulator: EmulatorHandle) -> None:
    stats = genai_batch_emulator.stats()
    assert stats["jobs_created"] == 0 and stats["jobs"] == [] and stats["requests"] == {}
    assert genai_batch_emulator.configure()["job_seconds"] == 1.0  # settings were restored too
    assert genai_batch_emulator.list_objects("in-bucket") == [] and genai_batch_emulator.list_tables() == []


def test_settings_outcomes_and_stats_over_http(admin: EmulatorClient, emu: EmulatorHandle) -> None:
    assert admin.api_key == emu.api_key
    settings = admin.configure(job_seconds=0.1, vertex_shard_rows=3)
    assert settings["job_seconds"] == 0.1 and settings["vertex_shard_rows"] == 3
    with pytest.raises(EmulatorError) as unknown:
        admin.configure(job_secs=1)
    assert unknown.value.code == 400 and "job_secs" in unknown.value.message
    with pytest.raises(EmulatorError):
        admin.configure(job_seconds=-1)

    admin.add_outcome("STUCK_PENDING", backend="gemini")
    with pytest.raises(EmulatorError) as bad:
        admin.add_outcome("DONE")
    assert "final_state" in bad.value.message
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": emu.api_key}) as http:
        body = {
            "batch": {
                "displayName": "d",
                "inputConfig": {"requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "x"}]}]}}]}},
            }
        }
        name = http.post("/v1/models/m:batchGenerateContent", json=body).json()["name"]
        admin.advance_clock(3600)
        assert http.get(f"/v1/{name}").json()["metadata"]["state"] == "BATCH_STATE_PENDING"
        summary = admin.finish_job(name, "FAILED", error_message="forced")
        assert summary == {
            "name": name,
            "backend": "gemini",
            "display_name": "d",
            "labels": {},
            "state": "JOB_STATE_FAILED",
            "model": "models/m",
            "request_count": 1,
        }
        assert http.get(f"/v1/{name}").json()["error"] == {"code": 13, "message": "forced"}
    with pytest.raises(EmulatorError) as ended:
        admin.finish_job(name)
    assert ended.value.status == "FAILED_PRECONDITION"
    with pytest.raises(EmulatorError) as missing:
        admin.finish_job("batches/nope")
    assert missing.value.code == 404

    stats = admin.stats()
    assert stats == json.loads(json.dumps(emu.stats()))
    assert stats["jobs_created"] == 1 and stats["jobs_created_by_backend"] == {"gemini": 1, "vertex": 0}
    assert stats["requests"] == {"gemini.batches.create": 1, "gemini.batches.get": 2}
    admin.reset()
    assert admin.stats()["jobs"] == [] and admin.configure()["job_seconds"] == emu.app.store.initial_config.job_seconds


def test_objects_and_tables_over_http(admin: EmulatorClient, emu: EmulatorHandle) -> None:
    admin.put_object("bkt", "dir/a b.jsonl", b"\x00bytes", "application/jsonl")
    assert emu.get_object("bkt", "dir/a b.jsonl") == b"\x00bytes"
    assert admin.get_object("bkt", "dir/a b.jsonl") == b"\x00bytes"
    assert admin.list_objects("bkt", "dir/") == ["dir/a b.jsonl"] and admin.list_objects("bkt", "x") == []
    with pytest.raises(EmulatorError) as missing:
        admin.get_object("bkt", "nope")
    assert missing.value.code == 404

    rows = [{"request": {"contents": [{"parts": [{"text": "x"}]}]}, "n": 1}]
    admin.put_table("bq://p.d.t", rows)
    assert emu.get_table("p.d.t") == rows and admin.get_table("bq://p.d.t") == rows
    assert admin.list_tables() == ["bq://p.d.t"]
    with pytest.raises(EmulatorError) as bad_uri:
        admin.put_table("bq://p.d", rows)
    assert bad_uri.value.code == 400
    with pytest.raises(EmulatorError) as bad_rows:
        admin.put_table("bq://p.d.t", ["not a row"])
    assert bad_rows.value.code == 400
    with pytest.raises(EmulatorError) as no_table:
        admin.get_table("bq://p.d.none")
    assert no_table.value.code == 404


def test_faults_over_http(admin: EmulatorClient, emu: EmulatorHandle) -> None:
    admin.add_fault("status", method="GET", status=503, count=None)
    with httpx.Client(base_url=emu.base_url) as raw:
        assert raw.get("/v1/batches").status_code == 503
        admin.clear_faults()
        assert raw.get("/v1/batches", params={"key": emu.api_key}).status_code == 200
    assert admin.stats()["faults_fired"] == {"total": 1, "status": 1}
    with pytest.raises(EmulatorError):
        admin.add_fault("status", status=302)
    unknown = httpx.post(f"{emu.base_url}/_emulator/faults", json={"kind": "drop", "bogus": 1})
    assert unknown.status_code == 400 and "bogus" in unknown.json()["error"]["message"]


def test_importing_the_plugin_and_package_is_cheap() -> None:
    code = (
        "import sys, airflow_provider_genai_batch.emulator.pytest_plugin, airflow_provider_genai_batch.emulator;"
        "heavy = sorted(m for m in ('uvicorn', 'starlette', 'httpx', 'google.genai', 'airflow') if m in sys.modules);"
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


async def test_the_app_mounts_in_any_asgi_server() -> None:
    from airflow_provider_genai_batch.emulator import create_app

    app = create_app(api_key="mounted", job_seconds=0, pending_seconds=0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as client:
        body = {
            "batch": {
                "inputConfig": {"requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "hi"}]}]}}]}}
            }
        }
        created = await client.post(
            "/v1/models/gemini-2.5-flash:batchGenerateContent", json=body, params={"key": "mounted"}
        )
        assert created.json()["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
        start = await client.post(
            "/upload/v1/files",
            params={"key": "mounted"},
            headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
        )
        assert start.headers["x-goog-upload-url"].startswith("http://emulator.test/upload/v1/files?upload_id=")
    assert app.controls.stats()["jobs_created"] == 1
