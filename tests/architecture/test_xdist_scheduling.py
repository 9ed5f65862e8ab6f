"""The unit layer's xdist scheduler (``tests/xdist_scheduling.py``): the listed modules go whole to one worker."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.xdist_scheduling import ONE_WORKER_MODULES, work_unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", sorted(ONE_WORKER_MODULES))
def test_each_grouped_module_exists_and_has_a_module_scoped_fixture(module: str) -> None:
    """A renamed module would silently be spread again; one without a module-scoped fixture needs no group."""
    tree = ast.parse((ROOT / module).read_text())
    scopes = [
        keyword.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "scope" and isinstance(keyword.value, ast.Constant)
    ]
    assert "module" in scopes, f"{module} has no module-scoped fixture"


def test_a_grouped_modules_tests_share_one_unit_and_the_rest_are_one_each() -> None:
    modules = {"tests/a/test_grouped.py"}
    grouped = ["tests/a/test_grouped.py::test_one", "tests/a/test_grouped.py::TestIt::test_two[x::1]"]
    spread = ["tests/a/test_spread.py::test_one", "tests/a/test_spread.py::test_two"]
    assert {work_unit(nodeid, modules) for nodeid in grouped} == {"tests/a/test_grouped.py"}
    assert [work_unit(nodeid, modules) for nodeid in spread] == spread
