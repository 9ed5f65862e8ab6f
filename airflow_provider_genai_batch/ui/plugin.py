"""The Airflow plugin: the FastAPI app, a jobs page in the navigation, a task-instance tab and a dashboard card.

Registered through the provider info (``plugins``), so installing the package is enough; the api-server loads it.
The dashboard card is a React app (Airflow 3.1+ ``react_apps``): a tiny hand-written bundle, no build step.
Airflow (3.1 to 3.3) shows a ``task_instance`` external view on every task: its UI filters plugin views by
``destination`` only, so the "Gen AI batch job" tab cannot be limited to this provider's operators; on other tasks
it says that the task has no Gen AI batch job.

Example::

    GenAIBatchUIPlugin.fastapi_apps[0]["url_prefix"]   # '/genai-batch'
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_genai_batch.ui.app import URL_PREFIX, create_app

_TI_QUERY = "dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}"


class GenAIBatchUIPlugin(AirflowPlugin):
    """Batch jobs in the Airflow UI.

    Example::

        [v["name"] for v in GenAIBatchUIPlugin.external_views]   # ['Gen AI batch jobs', 'Gen AI batch job']
    """

    name = "genai_batch_ui"
    fastapi_apps: list[Any] = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Gen AI batch jobs"}]
    external_views: list[Any] = [
        {
            "name": "Gen AI batch jobs",
            "href": f"{URL_PREFIX}/jobs",
            "destination": "nav",
            "category": "browse",
            "url_route": "genai-batch-jobs",
        },
        {
            "name": "Gen AI batch job",
            "href": f"{URL_PREFIX}/ti?{_TI_QUERY}",
            "destination": "task_instance",
            "url_route": "genai-batch-job",
        },
    ]
    react_apps: list[Any] = [
        {
            "name": "Gen AI batch jobs (24 h)",
            "bundle_url": f"{URL_PREFIX}/static/card.js",
            "destination": "dashboard",
            "url_route": "genai-batch-card",
        }
    ]
