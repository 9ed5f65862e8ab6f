"""Which Airflow deployment this is: the identity every idempotency key carries, so two installations apart.

Two Airflow installations (staging and production) that run the same DAG ids against one Google project (or
one Gemini API key) would compute the same key for the same task instance and input, and reattach to, wait on
and cancel each other's jobs. The key therefore includes a *deployment identity*, read here in the worker:

1. ``[genai_batch] deployment_id`` (environment: ``AIRFLOW__GENAI_BATCH__DEPLOYMENT_ID``), when set: any
   string, the same on every component of the deployment (workers, triggerers, the api-server) and different
   between deployments. Recommended.
2. Otherwise the URL of the deployment's Execution API, resolved as Airflow's executors resolve it:
   ``[core] execution_api_server_url``, else ``[api] base_url`` + ``/execution/`` (``http://localhost:8080`` when
   no base URL is set), without userinfo, query or fragment (``policy.idempotency.url_identity``). Every
   worker of one deployment calls that one URL, and the api-server serves it, so they agree; two deployments
   reachable at the same URL from their own workers (two Helm releases of the same name in two namespaces, two
   copies of one docker-compose file on two hosts) must set ``deployment_id``.

The metadata DB's address is not used: Airflow 3 replaces ``[database] sql_alchemy_conn`` with a blocked
placeholder in every task process (``airflow-db-not-allowed:///``), so it would name every deployment alike.

Only a digest (``deployment_digest``, 16 hex characters) leaves this module: the database address is never
logged or put in a key, a name or an error.

Upgrade: a job created by a version before the deployment was part of the key carries the *legacy* key.
``[genai_batch] accept_legacy_keys`` (default ``True``) lets a retry (``try_number > 1``) of a task instance
still find such a job, so a task retried across the upgrade reattaches instead of paying for a second job; a
first try never accepts a legacy key, so another deployment's first try cannot reattach to it. Set it to
``False`` once every task instance started before the upgrade has ended.

Example::

    digest = deployment_digest_from_config()   # e.g. '3f2a9c0d1b4e5f60'
"""

from __future__ import annotations

from typing import Any

from airflow_provider_genai_batch.policy.idempotency import deployment_digest, url_identity

__all__ = [
    "CONFIG_SECTION",
    "accept_legacy_keys",
    "deployment_digest_from_config",
    "deployment_source",
]

CONFIG_SECTION = "genai_batch"


def _conf() -> Any:
    """Airflow's configuration: the core parser (it knows ``[database]``), else the task SDK's."""
    config: Any
    try:
        from airflow.configuration import conf as config
    except ImportError:  # a worker with the task SDK only
        from airflow.sdk import conf as config
    return config


def deployment_source() -> tuple[str, str]:
    """``(where, identity)``: which setting names this deployment, and its (never logged) value."""
    conf = _conf()
    explicit = conf.get(CONFIG_SECTION, "deployment_id", fallback=None)
    if isinstance(explicit, str) and explicit.strip():
        return "[genai_batch] deployment_id", explicit.strip()
    url = conf.get("core", "execution_api_server_url", fallback=None)
    if isinstance(url, str) and url.strip():
        return "[core] execution_api_server_url", url_identity(url)
    base_url = conf.get("api", "base_url", fallback=None)
    base = base_url.strip() if isinstance(base_url, str) else ""
    if not base or base.startswith("/"):
        base = f"http://localhost:8080{base}"
    return "[api] base_url", url_identity(f"{base.rstrip('/')}/execution/")


def deployment_digest_from_config() -> str:
    """The digest of this deployment's identity (empty when none is configured: the legacy key)."""
    _, identity = deployment_source()
    return deployment_digest(identity) if identity else ""


def accept_legacy_keys() -> bool:
    """``[genai_batch] accept_legacy_keys`` (default True): whether a retry may reattach to a legacy-keyed job."""
    return bool(_conf().getboolean(CONFIG_SECTION, "accept_legacy_keys", fallback=True))
