"""A real Airflow 3 deployment on one machine, split by concern (``scripts/local_airflow.py`` is the entry point).

``processes`` (process groups, no orphans), ``env`` (the ``AIRFLOW__*`` settings), ``database`` (SQLite or a
PostgreSQL server), ``broker`` (Redis for Celery), ``rest`` (the REST API and waits), ``inspect`` (SQL, triggers,
logs), ``core`` (``LocalAirflow``'s life cycle), ``cli`` (``up``, ``status``, ``run-dag``).
"""
