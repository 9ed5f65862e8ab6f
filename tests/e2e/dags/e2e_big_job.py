"""The example DAG file ``example_dags/big_job.py`` itself (producer ``genai_batch_big_job`` and its asset
consumer ``genai_batch_big_job_report``), served by the e2e deployment with settings for a fast run.

The example reads its settings from the environment when it is imported; importing it here registers its two
DAGs under this file (Airflow's DAG auto-registration), so the scheduler, the dag-processor and the workers all
run the example's own code. ``tests/e2e/test_big_job_assets.py`` creates the connection ``genai_batch_big_job``
(an emulator of its own) before it triggers the producer.
"""

from __future__ import annotations

import os

os.environ["GENAI_BATCH_CONN_ID"] = "genai_batch_big_job"
os.environ["GENAI_BATCH_FIRST_POLL_SECONDS"] = "0.5"
os.environ["GENAI_BATCH_SHARD_REQUESTS"] = "4"
# AIRFLOW_HOME is the deployment's own temporary directory: no clash with another deployment on the machine.
os.environ["GENAI_BATCH_RESULTS_DIR"] = os.path.join(os.environ.get("AIRFLOW_HOME", "/tmp"), "big-job-results")

import example_dags.big_job  # noqa: F401  (its DAGs register under this file)
