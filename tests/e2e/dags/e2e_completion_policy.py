"""The example DAG file ``example_dags/completion_policy.py`` itself (``genai_batch_completion_policy``), served by
the e2e deployment with settings for a fast run on a Vertex AI connection of its own.

Importing the example registers its DAG under this file, so the scheduler, the dag-processor, the triggerer and the
workers run the example's own code. ``tests/e2e/test_completion_policy.py`` creates the connection
``genai_batch_completion`` (the in-process emulator) before it triggers the DAG.
"""

from __future__ import annotations

import os

os.environ["GENAI_BATCH_CONN_ID"] = "genai_batch_completion"
os.environ["GENAI_BATCH_FIRST_POLL_SECONDS"] = "0.5"
# AIRFLOW_HOME is the deployment's own temporary directory: no clash with another deployment on the machine.
os.environ["GENAI_BATCH_RESULTS_DIR"] = os.path.join(os.environ.get("AIRFLOW_HOME", "/tmp"), "completion-results")

import example_dags.completion_policy  # noqa: F401  (its DAG registers under this file)
