"""Multimodal batch: caption a folder of images, on the Gemini Developer API or on Vertex AI.

The first task writes a few small PNGs into a folder (point ``GENAI_BATCH_IMAGES_DIR`` at your own images instead);
the next turns each image into one request (the image as inline data plus a prompt) keyed by its file name. The
create operator sends them as one batch job (inline on Gemini; staged to GCS as JSONL on Vertex, which needs
``gcs_staging_prefix`` on the connection), waits deferred, and the results are written to a local JSONL file.

Connections: ``genai_batch_default`` (Gemini, API key as password) and ``genai_batch_vertex`` (Vertex, with
``gcs_staging_prefix`` in its extra). Pointed at the local emulator (``make demo``) it runs offline; the emulator
answers ``echo: <prompt> [image/png <n> bytes sha256:<hash>]`` so each caption names its image.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchWriteResultsOperator

FIRST_POLL_SECONDS = float(os.environ.get("GENAI_BATCH_FIRST_POLL_SECONDS", "5"))
RESULTS_DIR = os.environ.get("GENAI_BATCH_RESULTS_DIR", "/tmp/genai-batch-results")
IMAGES_DIR = os.environ.get("GENAI_BATCH_IMAGES_DIR", "/tmp/genai-batch-images")
PROMPT = "Write a one-sentence caption for this image."
COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 70, 220)}


def solid_png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A ``size`` x ``size`` PNG of one colour (8-bit RGB, no interlace)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b"")
    )


def multimodal_dag(dag_id: str, conn_id: str, backend: str) -> None:
    """One captioning DAG for one connection."""

    @dag(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["genai-batch", backend, "multimodal"],
    )
    def captions_dag() -> None:
        @task
        def make_images() -> list[str]:
            """Write the sample images (kept if already there) and list the folder's PNGs."""
            folder = Path(IMAGES_DIR) / dag_id
            folder.mkdir(parents=True, exist_ok=True)
            for name, rgb in COLOURS.items():
                path = folder / f"{name}.png"
                if not path.exists():
                    path.write_bytes(solid_png(rgb))
            return sorted(str(p) for p in folder.glob("*.png"))

        @task
        def build_requests(paths: list[str]) -> list[dict[str, object]]:
            """One request per image: inline image bytes (base64 in XCom, which carries JSON) and the prompt."""
            requests: list[dict[str, object]] = []
            for path in map(Path, paths):
                image = {
                    "inline_data": {"data": base64.b64encode(path.read_bytes()).decode(), "mime_type": "image/png"}
                }
                requests.append({"contents": [{"parts": [image, {"text": PROMPT}]}], "metadata": {"key": path.stem}})
            return requests

        caption = GenAIBatchCreateJobOperator(
            task_id="caption_images",
            genai_batch_conn_id=conn_id,
            model="gemini-2.5-flash",
            src=build_requests(make_images()),
            display_name="example-multimodal",
            deferrable=True,
            min_poll_interval=FIRST_POLL_SECONDS,
        )
        save = GenAIBatchWriteResultsOperator(
            task_id="save_results",
            genai_batch_conn_id=conn_id,
            name="{{ ti.xcom_pull(task_ids='caption_images')['job_name'] }}",
            destination=RESULTS_DIR + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') }}.jsonl",
        )

        @task
        def captions(written: dict[str, object]) -> dict[str, str]:
            """Image name -> caption, read from the results file."""
            found: dict[str, str] = {}
            with Path(str(written["destination"])).open() as handle:
                for line in handle:
                    row = json.loads(line)
                    candidates = (row.get("response") or {}).get("candidates") or [{}]
                    parts = (candidates[0].get("content") or {}).get("parts") or [{}]
                    found[row["key"]] = parts[0].get("text", row.get("error"))
            return found

        caption >> save
        captions(save.output)

    captions_dag()


multimodal_dag("genai_batch_multimodal_gemini", "genai_batch_default", "gemini")
multimodal_dag("genai_batch_multimodal_vertex", "genai_batch_vertex", "vertex")
