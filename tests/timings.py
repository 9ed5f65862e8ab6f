"""The suite's scaled-down timings, written once: emulator jobs that end in well under a second, and the poll
settings of the operators, sensors and triggers that wait for them.

A module without side effects (unlike ``tests/conftest.py``, which sets ``AIRFLOW_HOME`` on import), so DAG files
run in another process may import it.
"""

from __future__ import annotations

#: Emulator settings of the ``fast_emulator`` fixture: a job is PENDING, then RUNNING, for well under a second.
FAST_JOB = {"job_seconds": 0.2, "pending_seconds": 0.05}
#: Poll settings scaled to ``FAST_JOB`` (the defaults, 5 s and more, are for real jobs).
FAST = {"poll_interval": 0.1, "min_poll_interval": 0.05}
#: ``FAST`` for a wait armed for webhook deliveries (the job names a receiver): its fallback poll scaled down too.
FAST_ARMED = {**FAST, "webhook_fallback_interval": 0.1}
