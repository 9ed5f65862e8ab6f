"""Defaults shared by the hook, the operators, the sensor and the trigger, each defined once (no imports: cheap).

Example::

    from airflow_provider_genai_batch.policy.defaults import DEFAULT_CONN_ID   # 'genai_batch_default'
"""

from __future__ import annotations

__all__ = ["DEFAULT_CONN_ID", "DEFAULT_MAX_SCANNED", "DEFER_TIMEOUT_MARGIN"]

# The Airflow connection id used when none is given.
DEFAULT_CONN_ID = "genai_batch_default"
# The deferral's own timeout exceeds the trigger's deadline (plus one poll interval) by this much, so the trigger's
# clean "timeout" event (which may cancel the job) arrives before Airflow's generic TaskDeferralTimeout.
DEFER_TIMEOUT_MARGIN = 300.0
# Jobs a Gemini look-up by idempotency key reads before it gives up as incomplete (100 list calls of 100 jobs).
DEFAULT_MAX_SCANNED = 10_000
