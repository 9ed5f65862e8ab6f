"""Defaults shared by the hook, the operators, the sensor and the trigger, each defined once (no imports: cheap).

Example::

    from airflow_provider_genai_batch.policy.defaults import DEFAULT_CONN_ID   # 'genai_batch_default'
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_CONN_ID",
    "DEFAULT_MAX_CONSECUTIVE_POLL_ERRORS",
    "DEFAULT_MAX_FAILURE_RATIO",
    "DEFAULT_MAX_SCANNED",
    "DEFAULT_MIN_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_WEBHOOK_FALLBACK_INTERVAL",
    "DEFER_TIMEOUT_MARGIN",
]

# The Airflow connection id used when none is given.
DEFAULT_CONN_ID = "genai_batch_default"
# The deferral's own timeout exceeds the trigger's deadline (plus one poll interval) by this much, so the trigger's
# clean "timeout" event (which may cancel the job) arrives before Airflow's generic TaskDeferralTimeout.
DEFER_TIMEOUT_MARGIN = 300.0
# Jobs a Gemini look-up by idempotency key reads before it gives up as incomplete (100 list calls of 100 jobs).
DEFAULT_MAX_SCANNED = 10_000

# The wait settings (``policy.wait_settings.WaitSettings``, shared by the create operators, the sensor and the
# trigger). The longest wait between two polls, seconds: the adaptive schedule's cap (``policy.polling``).
DEFAULT_POLL_INTERVAL = 600.0
# The first and shortest wait between two polls, seconds: the schedule's floor.
DEFAULT_MIN_POLL_INTERVAL = 5.0
# Failed/total requests tolerated in a finished job: 0 fails the task on any failed request.
DEFAULT_MAX_FAILURE_RATIO = 0.0
# Transient poll errors (429, 5xx, connection) in a row before a wait gives up.
DEFAULT_MAX_CONSECUTIVE_POLL_ERRORS = 5
# With a webhook receiver armed for the job, polling is only the fallback for a lost delivery: at least this many
# seconds between polls (the deadline still shortens a wait). Why 30 min: docs/WEBHOOKS.md, "Fallback polling".
DEFAULT_WEBHOOK_FALLBACK_INTERVAL = 1800.0
