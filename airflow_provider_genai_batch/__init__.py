"""Apache Airflow provider for Google Gen AI batch jobs (Gemini Developer API and Vertex AI).

Importing this package is cheap: it imports neither Airflow, google-auth nor httpx.

The version has one source, ``pyproject.toml``; ``__version__`` reads it from the installed distribution's
metadata on first use.
"""

from __future__ import annotations

__all__ = ["__version__"]

DISTRIBUTION = "airflow-provider-genai-batch"


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed distribution (``pyproject.toml``'s ``version``)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree on sys.path without an install
        return "0+unknown"
