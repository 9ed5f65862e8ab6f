"""Batch jobs in the Airflow UI: a task-instance view, a jobs page and a dashboard card (api-server only).

The plugin (``ui.plugin.GenAIBatchUIPlugin``) is registered through the provider info; nothing here is imported
by the operators, hooks or triggers.
"""
