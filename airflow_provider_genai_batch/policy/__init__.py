"""The provider's policies, each decided once: the idempotency key, polling, waiting, progress lines, the trigger's
event, the XCom manifest and the shared defaults. No Airflow, no network; client value types only."""
