"""Which jobs the provider's tasks created, read from Airflow's metadata DB (XCom, rendered fields, triggers).

Synchronous ORM reads: the app runs them in a worker thread, never on the api-server's loop.

Example::

    records = read_records(since=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    records[0].job_name   # 'batches/abc'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.links.genai_batch import (
    JOB_NAME_XCOM_KEY,
    KEY_PROOF_XCOM_KEY,
    REATTACHED_XCOM_KEY,
)
from airflow_provider_genai_batch.policy.completion import ATTEMPTS_XCOM_KEY
from airflow_provider_genai_batch.policy.defaults import DEFAULT_CONN_ID
from airflow_provider_genai_batch.policy.wait_settings import WaitSettings

_KEYS = (JOB_NAME_XCOM_KEY, REATTACHED_XCOM_KEY, KEY_PROOF_XCOM_KEY, ATTEMPTS_XCOM_KEY, "return_value")
#: Attempts of one task read at most (a completion policy allows 100).
MAX_ATTEMPTS = 100
MAX_RECORDS = 500


@dataclass
class JobRecord:
    """One task instance's job: who owns it and what the task stored about it.

    Everything read from XCom (the job name, URL, manifest, key proof) is a claim: an editor of the DAG can
    write it. ``ui.binding.verify`` decides whether the job really is this task's.
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    job_name: str
    conn_id: str = DEFAULT_CONN_ID
    reattached: bool | None = None
    manifest: dict[str, Any] | None = None
    ti_state: str | None = None
    ti_start: dt.datetime | None = None
    #: The deferred wait, from its trigger's kwargs (``None`` when the task is not deferred on this job, or the
    #: kwargs do not make valid wait settings).
    wait: WaitSettings | None = None
    #: The trigger was told a webhook receiver is armed for the job: polling is only its fallback.
    webhook_armed: bool = False
    started_at: float | None = None
    deadline: float | None = None
    created: dt.datetime | None = None
    key_proof: list[Any] | None = None
    dag_run_state: str | None = None
    #: A completion policy's attempts (job names, attempt 1 first): claims, verified one by one
    #: (``ui.binding.verify_followup``).
    attempts: list[str] | None = None

    @property
    def ti_key(self) -> tuple[str, str, str, int]:
        """(dag_id, run_id, task_id, map_index)."""
        return (self.dag_id, self.run_id, self.task_id, self.map_index)


def _value(row: Any) -> Any:
    from airflow.models.xcom import XComModel

    try:
        return XComModel.deserialize_value(row)
    except (ValueError, TypeError):
        return None


def read_records(
    *, since: dt.datetime | None = None, ti: tuple[str, str, str, int] | None = None, limit: int = MAX_RECORDS
) -> list[JobRecord]:
    """The jobs recorded in XCom since ``since`` (or of one task instance ``ti``), newest first, at most
    ``limit``."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(XComModel).where(XComModel.key.in_(_KEYS))
    if ti is not None:
        query = query.where(
            XComModel.dag_id == ti[0],
            XComModel.run_id == ti[1],
            XComModel.task_id == ti[2],
            XComModel.map_index == ti[3],
        )
    if since is not None:
        query = query.where(XComModel.timestamp >= since)
    query = query.order_by(XComModel.timestamp.desc()).limit(limit * len(_KEYS))
    with create_session() as session:
        by_ti: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        stamps: dict[tuple[str, str, str, int], dt.datetime] = {}
        for row in session.scalars(query):
            key = (row.dag_id, row.run_id, row.task_id, row.map_index)
            by_ti.setdefault(key, {})[row.key] = _value(row)
            stamps.setdefault(key, row.timestamp)
        if since is not None:
            _complete_followup_records(session, by_ti, XComModel)
        records: list[JobRecord] = []
        for key, values in by_ti.items():
            manifest = values.get("return_value")
            manifest = manifest if isinstance(manifest, dict) and isinstance(manifest.get("job_name"), str) else None
            name = values.get(JOB_NAME_XCOM_KEY) or (manifest or {}).get("job_name")
            if not isinstance(name, str):
                continue
            record = JobRecord(*key, job_name=name, manifest=manifest, created=stamps.get(key))
            proof = values.get(KEY_PROOF_XCOM_KEY)
            record.key_proof = proof if isinstance(proof, list) else None
            attempts = values.get(ATTEMPTS_XCOM_KEY)
            if isinstance(attempts, list) and all(isinstance(a, str) for a in attempts):
                record.attempts = attempts[:MAX_ATTEMPTS]
            reattached = values.get(REATTACHED_XCOM_KEY)
            record.reattached = bool(reattached) if reattached is not None else None
            _add_task_details(session, record, TaskInstance, RTIF, Trigger)
            records.append(record)
    records.sort(key=lambda r: r.created or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)
    return records[:limit]


def _complete_followup_records(
    session: Any, by_ti: dict[tuple[str, str, str, int], dict[str, Any]], model: Any
) -> None:
    """A task whose recent XComs name follow-up attempts: its job name and key proof, pushed when attempt 1 was
    made (possibly before ``since``), are read too, so its follow-ups can be verified."""
    from sqlalchemy import select

    for key, values in by_ti.items():
        if ATTEMPTS_XCOM_KEY not in values or (JOB_NAME_XCOM_KEY in values and KEY_PROOF_XCOM_KEY in values):
            continue
        rows = session.scalars(
            select(model).where(
                model.key.in_((JOB_NAME_XCOM_KEY, KEY_PROOF_XCOM_KEY)),
                model.dag_id == key[0],
                model.run_id == key[1],
                model.task_id == key[2],
                model.map_index == key[3],
            )
        )
        for row in rows:
            values.setdefault(row.key, _value(row))


def _add_task_details(session: Any, record: JobRecord, ti_model: Any, rtif_model: Any, trigger_model: Any) -> None:
    """The connection (rendered field), the task's state and start, and the trigger's polling numbers."""
    from sqlalchemy import select

    dag_id, run_id, task_id, map_index = record.ti_key
    rtif = session.scalar(
        select(rtif_model).where(
            rtif_model.dag_id == dag_id,
            rtif_model.run_id == run_id,
            rtif_model.task_id == task_id,
            rtif_model.map_index == map_index,
        )
    )
    fields = getattr(rtif, "rendered_fields", None) or {}
    conn_id = fields.get("genai_batch_conn_id")
    if isinstance(conn_id, str) and conn_id:
        record.conn_id = conn_id
    ti = session.scalar(
        select(ti_model).where(
            ti_model.dag_id == dag_id,
            ti_model.run_id == run_id,
            ti_model.task_id == task_id,
            ti_model.map_index == map_index,
        )
    )
    if ti is None:
        return
    record.ti_state = _state_text(ti.state)
    record.ti_start = ti.start_date
    dag_run = getattr(ti, "dag_run", None)
    record.dag_run_state = _state_text(getattr(dag_run, "state", None))
    if ti.trigger_id is not None:
        trigger = session.get(trigger_model, ti.trigger_id)
        kwargs = getattr(trigger, "kwargs", None) or {}
        if isinstance(kwargs, dict):
            apply_trigger_kwargs(record, kwargs)


def apply_trigger_kwargs(record: JobRecord, kwargs: dict[str, Any]) -> None:
    """What the task's trigger says of its wait (its settings, armed or not, start, deadline, connection), when the
    trigger waits on the record's job; a value of the wrong type is left out.

    Example::

        apply_trigger_kwargs(record, trigger.serialize()[1])
        record.wait.poll_interval   # 600.0
    """
    if kwargs.get("job_name") != record.job_name:
        return
    record.wait = _wait_settings(kwargs)
    record.webhook_armed = kwargs.get("webhook_armed") is True
    record.started_at = _number(kwargs.get("started_at"))
    record.deadline = _number(kwargs.get("deadline"))
    conn = kwargs.get("genai_batch_conn_id")
    if isinstance(conn, str) and conn:
        record.conn_id = conn


def _state_text(state: Any) -> str | None:
    """A task or DAG run state as its lowercase text (``None`` when unset)."""
    return str(state.value if hasattr(state, "value") else state) if state else None


def _wait_settings(kwargs: dict[str, Any]) -> WaitSettings | None:
    """The wait settings a trigger was given, checked as the trigger checks them (``None`` if they are not valid:
    the kwargs are written by the task, which a DAG's editor controls)."""
    try:
        return WaitSettings.from_kwargs(kwargs)
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def genai_connection_ids() -> list[str]:
    """Connection ids of type ``genai_batch`` stored in the metadata DB."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(session.scalars(select(Connection.conn_id).where(Connection.conn_type == "genai_batch")))


def env_connection_ids(environ: dict[str, str]) -> list[str]:
    """Ids of ``genai_batch`` connections given as ``AIRFLOW_CONN_<ID>`` (JSON or URI); only ids are kept."""
    import json

    found: list[str] = []
    for name, value in environ.items():
        if not name.startswith("AIRFLOW_CONN_"):
            continue
        text = value.strip()
        kind = ""
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                continue
            kind = str(parsed.get("conn_type", "")) if isinstance(parsed, dict) else ""
        else:
            kind = text.partition("://")[0]
        if kind.replace("-", "_") == "genai_batch":
            found.append(name.removeprefix("AIRFLOW_CONN_").lower())
    return found
