"""``deferrable`` defaults to ``[operators] default_deferrable``, as in Airflow's own providers: the signature
shows the configured value, the source shows where it comes from, and the docstring says what a deferred task
needs (a running triggerer) and what a user sees without one (issue 23)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest

from airflow_provider_genai_batch.operators import GenAIBatchCreateEmbeddingsJobOperator, GenAIBatchCreateJobOperator
from airflow_provider_genai_batch.sensors import GenAIBatchJobSensor

PROBE = """
import inspect, json
from airflow_provider_genai_batch.operators import GenAIBatchCreateJobOperator, GenAIBatchCreateEmbeddingsJobOperator
from airflow_provider_genai_batch.sensors import GenAIBatchJobSensor
out = {}
for cls, kwargs in ((GenAIBatchCreateJobOperator, {"model": "m", "src": ["x"]}),
                    (GenAIBatchCreateEmbeddingsJobOperator, {"model": "m", "src": ["x"]}),
                    (GenAIBatchJobSensor, {"name": "batches/x"})):
    default = inspect.signature(cls).parameters["deferrable"].default
    out[cls.__name__] = [default, cls(task_id="t", **kwargs).deferrable]
print(json.dumps(out))
"""


@pytest.mark.parametrize(("configured", "expected"), [(None, False), ("True", True), ("False", False)])
def test_the_default_is_the_configured_one_in_the_signature_and_the_operator(
    configured: str | None, expected: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"}
    if configured is not None:
        env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] = configured
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {name: [expected, expected] for name in result} and len(result) == 3


@pytest.mark.parametrize("cls", [GenAIBatchCreateJobOperator, GenAIBatchJobSensor])
def test_the_source_shows_where_the_default_comes_from(cls: type) -> None:
    source = inspect.getsource(cls.__init__)  # type: ignore[misc]
    assert 'deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False)' in source


@pytest.mark.parametrize(
    "cls", [GenAIBatchCreateJobOperator, GenAIBatchCreateEmbeddingsJobOperator, GenAIBatchJobSensor]
)
def test_the_docstring_says_a_deferred_task_needs_a_triggerer(cls: type) -> None:
    doc = " ".join(inspect.getdoc(cls).split()) if inspect.getdoc(cls) else ""
    doc = doc or " ".join((inspect.getdoc(GenAIBatchCreateJobOperator) or "").split())
    assert "[operators] default_deferrable" in doc
    assert "airflow triggerer" in doc and "stays *deferred*" in doc


@pytest.mark.parametrize("cls", [GenAIBatchCreateJobOperator, GenAIBatchJobSensor])
def test_parameters_come_first_in_the_docstring(cls: type) -> None:
    doc = inspect.getdoc(cls) or ""
    paragraphs = doc.split("\n\n")
    assert paragraphs[1].startswith(":param "), paragraphs[1][:80]
