"""Which Airflow this is: features that arrived in 3.3 (trigger ``on_kill``, the task state store), and its config.

``conf`` is Airflow's configuration wherever this Airflow keeps it, so that operators can default
``deferrable`` as Airflow's own providers do::

    deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False)
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from packaging.version import Version

    AIRFLOW_V_3_3_PLUS: bool

__all__ = ["AIRFLOW_V_3_3_PLUS", "airflow_version", "conf", "default_deferrable"]

conf: Any
try:
    from airflow.sdk import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf


@cache
def airflow_version() -> Version:
    """The installed apache-airflow version (0 when unknown), read from its metadata once, when first asked."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    try:
        return Version(Version(version("apache-airflow")).base_version)
    except PackageNotFoundError:  # pragma: no cover - Airflow is a dependency
        return Version("0")


def __getattr__(name: str) -> Any:
    """``AIRFLOW_V_3_3_PLUS``, computed when first imported: reading the package metadata costs a DAG parse ~1 ms."""
    if name == "AIRFLOW_V_3_3_PLUS":
        from packaging.version import Version

        value = airflow_version() >= Version("3.3.0")
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read now."""
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
