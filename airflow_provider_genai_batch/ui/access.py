"""Who may see and cancel what: Airflow's auth manager decides (the api-server's own one).

Example::

    @app.get("/x")
    async def x(user: UserDep) -> None:          # 401 when not signed in (Airflow's own resolution)
        require(can_read_dag(user, "my_dag"), "read DAG my_dag")   # 403 without read access
"""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException

#: The signed-in user, resolved by the api-server's own dependency (JWT cookie or bearer token); else 401.
UserDep = Annotated[Any, Depends(get_user)]


def auth_manager() -> Any:
    """The api-server's auth manager."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def can_read_dag(user: Any, dag_id: str) -> bool:
    """Read access to one DAG."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return bool(auth_manager().is_authorized_dag(method="GET", details=DagDetails(id=dag_id), user=user))


def can_edit_dag(user: Any, dag_id: str) -> bool:
    """Edit access to one DAG (what cancelling its job needs)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return bool(auth_manager().is_authorized_dag(method="PUT", details=DagDetails(id=dag_id), user=user))


def can_edit_some_dag(user: Any) -> bool:
    """Edit access to DAGs in general (what the reaping action needs; each job is checked against its DAG)."""
    return bool(auth_manager().is_authorized_dag(method="PUT", user=user))


def can_read_connection(user: Any, conn_id: str) -> bool:
    """Read access to one connection (what the per-connection list needs)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails

    return bool(
        auth_manager().is_authorized_connection(method="GET", details=ConnectionDetails(conn_id=conn_id), user=user)
    )


def require(allowed: bool, what: str) -> None:
    """403 unless ``allowed``."""
    if not allowed:
        raise HTTPException(status_code=403, detail=f"Forbidden: {what}")
