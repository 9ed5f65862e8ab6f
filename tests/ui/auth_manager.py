"""An auth manager with per-DAG rules, plugged into Airflow's ``[core] auth_manager`` for the UI tests.

Airflow's SimpleAuthManager has roles (viewer: read only; user and up: edit; op and up: connections) but no
per-DAG permissions (those need FAB, which this project does not install). This subclass keeps every
SimpleAuthManager rule and also denies the DAGs listed in ``DENIED`` for a user, so "no access to this DAG" and
"editor of DAG A, not of DAG B" are testable.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

#: DAG ids each user may not see at all.
DENIED: dict[str, set[str]] = {
    "outsider": {"ui_secret_dag", "ui_team_a"},
    "editor_a": {"ui_secret_dag", "ui_team_b"},
}
#: DAG ids each user may read but not edit (tests add to it for one test).
READ_ONLY: dict[str, set[str]] = {}


class PerDagAuthManager(SimpleAuthManager):
    """SimpleAuthManager plus a per-user list of DAGs without any access."""

    def is_authorized_dag(self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        dag_id = getattr(details, "id", None)
        if dag_id is not None and dag_id in DENIED.get(user.username, set()):
            return False
        if (
            dag_id is not None
            and str(method) not in ("GET", "HTTPMethod.GET")
            and dag_id in READ_ONLY.get(user.username, set())
        ):
            return False
        return bool(super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details))
