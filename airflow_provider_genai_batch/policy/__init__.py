"""Pure helpers shared by the hook, operators, sensor and trigger (no Airflow, no network)."""
