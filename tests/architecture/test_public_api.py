"""The public API, pinned: each public package's ``__all__`` equals the names written here (as httpx's
``tests/test_exported_members.py`` does), so adding or removing an exported name is a decision this file records.

Public: what a DAG, a script or a test of a user imports: the operators, the sensor, the trigger, the hook, the
link, the client (its package names, and ``client.errors`` / ``client.models``, whose types those names return),
the completion policy a user passes to the create operator, and the emulator's entry points (``run_emulator``,
the app, the control client, the ``pytest11`` plugin and the ``genai-batch-emulator`` script). Every other module
of ``client/`` (``plans``, ``transport``, ``creation``, ``sources``, ``jsonl``, ``validation``, ``wire/`` ...) is
internal: the hooks use it, it may change in any release.
"""

from __future__ import annotations

import ast
import importlib
import tomllib
import types
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_genai_batch"
REPO = Path(__file__).resolve().parents[2]

PINNED: dict[str, frozenset[str]] = {
    "client": frozenset(
        {
            "APIConnectionError",
            "APIStatusError",
            "APITimeoutError",
            "AsyncGenAIBatchClient",
            "AuthenticationError",
            "BadRequestError",
            "BatchJob",
            "BatchJobDestination",
            "BatchJobSource",
            "BatchResult",
            "BatchStats",
            "ClientSettings",
            "CompletionStats",
            "ConflictError",
            "CreateBatchJobConfig",
            "EmbedContentBatch",
            "File",
            "GenAIBatchClient",
            "GenAIBatchError",
            "InlinedRequest",
            "InlinedResponse",
            "InternalServerError",
            "InvalidInputError",
            "InvalidResponseError",
            "JobError",
            "JobState",
            "NotFoundError",
            "OutputInfo",
            "PermissionDeniedError",
            "RateLimitError",
            "RequestCounts",
            "ResultsLocation",
            "ServiceUnavailableError",
            "TERMINAL_STATES",
            "UnsupportedOperationError",
            "is_transient",
            "results_location",
        }
    ),
    "client.errors": frozenset(
        {
            "APIConnectionError",
            "APIStatusError",
            "APITimeoutError",
            "AuthenticationError",
            "BadRequestError",
            "ConflictError",
            "GenAIBatchError",
            "InternalServerError",
            "InvalidInputError",
            "InvalidResponseError",
            "NotFoundError",
            "PermissionDeniedError",
            "RateLimitError",
            "RequestTimeoutError",
            "ServiceUnavailableError",
            "UnsupportedOperationError",
            "error_for_status",
            "google_status_for",
            "is_transient",
            "parse_row_status",
            "retry_delay_from_details",
        }
    ),
    "client.models": frozenset(
        {
            "BatchJob",
            "BatchJobDestination",
            "BatchJobSource",
            "BatchStats",
            "CompletionStats",
            "CreateBatchJobConfig",
            "EmbedContentBatch",
            "FAILURE_STATES",
            "File",
            "InlinedRequest",
            "InlinedResponse",
            "JobError",
            "JobState",
            "OutputInfo",
            "RequestCounts",
            "SUCCESS_STATES",
            "TERMINAL_STATES",
        }
    ),
    "hooks": frozenset({"GenAIBatchHook"}),
    "operators": frozenset(
        {
            "GenAIBatchCancelJobOperator",
            "GenAIBatchCombineResultsOperator",
            "GenAIBatchCreateEmbeddingsJobOperator",
            "GenAIBatchCreateJobOperator",
            "GenAIBatchDeleteJobOperator",
            "GenAIBatchGetJobOperator",
            "GenAIBatchListJobsOperator",
            "GenAIBatchReapOrphansOperator",
            "GenAIBatchSplitOperator",
            "GenAIBatchWebhooksOperator",
            "GenAIBatchWriteResultsOperator",
        }
    ),
    "sensors": frozenset({"GenAIBatchJobSensor"}),
    "triggers": frozenset({"GenAIBatchJobTrigger"}),
    "links": frozenset({"GenAIBatchJobLink", "JOB_URL_XCOM_KEY"}),
    "policy.completion": frozenset(
        {
            "ATTEMPTS_XCOM_KEY",
            "CompletionPolicy",
            "NextStep",
            "RETRYABLE_CODES",
            "RowLedger",
            "Spend",
            "StuckWatch",
            "followup_key",
            "is_retryable_row_error",
        }
    ),
    "emulator": frozenset(
        {
            "EmulatorApp",
            "EmulatorClient",
            "EmulatorConfig",
            "EmulatorControls",
            "EmulatorError",
            "EmulatorHandle",
            "EmulatorStats",
            "FAIL_MARKER",
            "JobSummary",
            "create_app",
            "embed_content_response",
            "embedding_values",
            "generate_content_response",
            "prompt_text",
            "run_emulator",
        }
    ),
}

# The packages whose every public name must be exported (a package's own namespace, as httpx checks its own).
PACKAGES = ("client", "hooks", "operators", "sensors", "triggers", "links", "emulator")
# Names a module gets from ``from __future__ import annotations`` and ``typing``: not API, never exported.
NOT_API = frozenset({"annotations", "TYPE_CHECKING", "Any"})

# Entry points of pyproject.toml: installed names users (and Airflow, pytest, common-ai) reach the package by.
ENTRY_POINTS = {
    "apache_airflow_provider": {"provider_info": "get_provider_info:get_provider_info"},
    "airflow.plugins": {
        "genai_batch_ui": "ui.plugin:GenAIBatchUIPlugin",
        "genai_batch_webhooks": "webhooks.plugin:GenAIBatchWebhooksPlugin",
    },
    "airflow.providers.common.ai.batch_adapters": {
        "google": "common_ai.adapter:GeminiBatchAdapter",
        "google-cloud": "common_ai.adapter:VertexBatchAdapter",
        "google-gla": "common_ai.adapter:GeminiLegacyBatchAdapter",
        "google-vertex": "common_ai.adapter:VertexLegacyBatchAdapter",
    },
    "pytest11": {"genai_batch_emulator": "emulator.pytest_plugin"},
}
SCRIPTS = {"genai-batch-emulator": "emulator.__main__:main"}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_exported_names_are_pinned(name: str) -> None:
    module = importlib.import_module(f"{PACKAGE}.{name}")
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    added, removed = set(exported) - PINNED[name], PINNED[name] - set(exported)
    assert not added and not removed, f"{name}.__all__ changed: added {sorted(added)}, removed {sorted(removed)}"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_exported_name_resolves(name: str) -> None:
    module = importlib.import_module(f"{PACKAGE}.{name}")
    missing = [attr for attr in module.__all__ if not hasattr(module, attr)]
    assert not missing, f"{name}.__all__ names what the module lacks: {missing}"


@pytest.mark.parametrize("name", PACKAGES)
def test_a_package_exports_every_public_name_it_holds(name: str) -> None:
    """No public name of a package's namespace escapes ``__all__`` (submodules aside): what is there is API."""
    module = importlib.import_module(f"{PACKAGE}.{name}")
    held = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType) and attr not in NOT_API
    }
    assert held <= set(module.__all__), (
        f"{name} holds public names not in __all__: {sorted(held - set(module.__all__))}"
    )


def _defines(module: str, attr: str) -> bool:
    """Whether the module's source defines ``attr`` at top level (read with ``ast``: no import of the module)."""
    path = REPO / Path(*f"{PACKAGE}.{module}".split("."))
    source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    return attr in defined


def test_entry_points_are_pinned_and_name_what_exists() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = {group: dict(points) for group, points in project["entry-points"].items()}
    expected = {
        group: {key: f"{PACKAGE}.{target}" for key, target in points.items()} for group, points in ENTRY_POINTS.items()
    }
    assert found == expected
    assert project["scripts"] == {key: f"{PACKAGE}.{target}" for key, target in SCRIPTS.items()}
    for target in [*(t for points in ENTRY_POINTS.values() for t in points.values()), *SCRIPTS.values()]:
        module, _, attr = target.partition(":")
        path = REPO / Path(*f"{PACKAGE}.{module}".split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), target
        assert not attr or _defines(module, attr), f"{target}: {attr} is not defined in {module}"
