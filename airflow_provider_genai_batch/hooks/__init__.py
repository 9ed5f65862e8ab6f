"""Airflow hooks: a connection turned into one shared batch client."""
