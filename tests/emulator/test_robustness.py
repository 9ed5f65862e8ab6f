"""Arbitrary JSON bodies never make the emulator answer a 500: bad input is a Google-style 4xx naming a field."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_genai_batch.emulator import EmulatorHandle

KEYS = st.sampled_from(
    [
        "batch",
        "inputConfig",
        "input_config",
        "requests",
        "fileName",
        "file_name",
        "displayName",
        "request",
        "contents",
        "content",
        "parts",
        "text",
        "metadata",
        "model",
        "gcsSource",
        "uris",
        "bigquerySource",
        "inputUri",
        "outputConfig",
        "gcsDestination",
        "outputUriPrefix",
        "bigqueryDestination",
        "outputUri",
        "instancesFormat",
        "predictionsFormat",
        "labels",
        "outputDimensionality",
        "file",
        "mime_type",
        "final_state",
        "failed_requests",
        "count",
        "job_seconds",
        "match_display_name",
        "backend",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["", "x", "files/none", "gs://b/in.jsonl", "bq://p.d.t", "jsonl", "bigquery", "FAILED", "gemini"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)
ENDPOINTS = [
    ("/v1/models/gemini-2.5-flash:batchGenerateContent", {}),
    ("/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent", {}),
    ("/v1beta1/projects/p/locations/l/batchPredictionJobs", {"Authorization": "Bearer t"}),
    ("/upload/v1/files", {"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"}),
    ("/upload/storage/v1/b/bkt/o?uploadType=resumable", {"Authorization": "Bearer t"}),
    ("/_emulator/outcomes", {}),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON)
def test_no_body_makes_a_500(emu: EmulatorHandle, body: Any) -> None:
    emu.put_object("b", "in.jsonl", b'{"request": {"contents": [{"parts": [{"text": "x"}]}]}}\n')
    emu.put_table("bq://p.d.t", [{"request": {"contents": [{"parts": [{"text": "x"}]}]}}])
    payload = json.dumps(body).encode()
    with httpx.Client(base_url=emu.base_url, headers={"x-goog-api-key": emu.api_key}) as http:
        for path, headers in ENDPOINTS:
            response = http.post(path, content=payload, headers=headers)
            assert response.status_code in (200, 400, 404), (path, body, response.text)
            if response.status_code != 200:
                error = response.json()["error"]
                assert {"code", "message", "status"} <= set(error) <= {"code", "message", "status", "details"}
