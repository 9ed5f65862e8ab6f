"""Gemini and Vertex AI batch adapters for Airflow's common-ai ``@task.llm_batch`` / ``LLMBatchOperator``.

common-ai finds these adapters through the ``airflow.providers.common.ai.batch_adapters`` entry point group by
the ``model_id`` prefix (``google:`` and ``google-cloud:``, plus the pre-v2 pydantic-ai names ``google-gla:`` and
``google-vertex:``). This package imports nothing at import time; only :mod:`.adapter` imports common-ai.

Example::

    @task.llm_batch(llm_conn_id="pydanticai_default", model_id="google:gemini-2.5-flash",
                    result_path="s3://bucket/batches")
    def summarize(docs):
        return [f"Summarize: {doc}" for doc in docs]
"""
