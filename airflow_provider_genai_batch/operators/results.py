"""Write a finished job's per-request results as JSONL to a local path or object storage, streamed."""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID, GenAIBatchBaseOperator
from airflow_provider_genai_batch.operators._inputs import OperatorInputError
from airflow_provider_genai_batch.operators.jobs import job_name_from

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["GenAIBatchWriteResultsOperator"]


@contextmanager
def _local_writer(path: Path) -> Iterator[IO[bytes]]:
    """Write to a temporary file beside ``path`` and move it into place only when everything was written.

    Temporary files an earlier try left when it was killed mid-write (``.<name>.*`` beside ``path``) are
    removed first: only one try of a task instance runs at a time, and this one rewrites everything.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        stale.unlink(missing_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)  # noqa: SIM115
    try:
        with handle:
            yield handle
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


@contextmanager
def _object_storage_writer(url: str, conn_id: str | None) -> Iterator[IO[bytes]]:
    from airflow.sdk import ObjectStoragePath

    target = ObjectStoragePath(url, conn_id=conn_id) if conn_id else ObjectStoragePath(url)
    with target.open("wb") as handle:  # type: ignore[no-untyped-call]
        yield handle


class GenAIBatchWriteResultsOperator(GenAIBatchBaseOperator):
    """Stream a finished job's results, one JSON object per line, to ``destination``; return counts.

    Each line is ``{"index", "key", "metadata", "response" | "error"}``. Memory stays bounded whatever the size
    of the job. A local path is written atomically (temporary file, then rename).

    :param name: the job name, or a create operator's manifest (templated).
    :param destination: a local path (written atomically) or an object-storage URL (``s3://``, ``gs://``,
        ``file://``..., written through ``airflow.sdk.ObjectStoragePath``) (templated).
    :param destination_conn_id: the connection for the object store, if it needs one.

    Example::

        GenAIBatchWriteResultsOperator(
            task_id="save", name="{{ ti.xcom_pull('summarise')['job_name'] }}",
            destination="/data/results/{{ ds }}.jsonl",
        )
    """

    template_fields: Sequence[str] = ("name", "destination", "genai_batch_conn_id", "destination_conn_id")

    def __init__(
        self,
        *,
        name: Any,
        destination: str,
        destination_conn_id: str | None = None,
        genai_batch_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(genai_batch_conn_id=genai_batch_conn_id, **kwargs)
        self.name = name
        self.destination = destination
        self.destination_conn_id = destination_conn_id

    def _writer(self, destination: str) -> Any:
        if "://" in destination:
            return _object_storage_writer(destination, self.destination_conn_id)
        return _local_writer(Path(destination).expanduser())

    def execute(self, context: Context) -> dict[str, Any]:
        """Write every result; return ``{"job_name", "destination", "results", "succeeded", "failed", "bytes"}``."""
        name = job_name_from(self.name)
        destination = self.destination
        if not isinstance(destination, str) or not destination.strip():
            raise OperatorInputError(
                "destination", f"must be a path or URL, got {destination!r}", "pass e.g. '/data/out.jsonl'"
            )
        job = self.hook.get_job(name)  # fails clearly (not found, not finished) before the target is opened
        counts = {"results": 0, "succeeded": 0, "failed": 0, "bytes": 0}
        with self._writer(destination.strip()) as handle:
            for result in self.hook.iter_results(job):
                line = json.dumps(result.to_json(), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                handle.write(line)
                counts["results"] += 1
                counts["succeeded" if result.ok else "failed"] += 1
                counts["bytes"] += len(line)
        self.log.info(
            "Wrote %d results of %s to %s (%d failed)", counts["results"], name, destination, counts["failed"]
        )
        return {"job_name": job.name, "destination": destination.strip(), **counts}
