"""How the xdist workers share the unit layer: test by test, except the modules whose tests share one costly
module-scoped fixture, each of which goes whole to one worker.

Spread test by test, every worker that draws one of those modules' tests makes the fixture again: the secret scan
(every example DAG run in both modes, ~48 s) was made by two to four workers. pytest-xdist's ``--dist loadgroup``
would group them by an ``xdist_group`` mark, but it passes the group by rewriting node ids, which pytest 9.2 no
longer reads, so it silently groups nothing (pytest-dev/pytest-xdist#1386). This scheduler groups by module path,
which the controller sees in every node id.

Example (``tests/conftest.py``)::

    def pytest_xdist_make_scheduler(config, log):
        return ModuleGroupScheduling(config, log, modules=ONE_WORKER_MODULES)
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

#: Modules run whole on one worker, each for the module-scoped fixture all its tests read.
ONE_WORKER_MODULES = frozenset(
    {
        "tests/reliability/test_secret_scan.py",  # ``scan``: every example DAG run in both modes
        "tests/reliability/test_bad_input_corpus.py",  # ``operator_run``: every hostile value through dag.test()
    }
)


def work_unit(nodeid: str, modules: Collection[str]) -> str:
    """The unit a test is scheduled in: its module's path if the module is listed, else the test's own node id."""
    module = nodeid.split("::", 1)[0]
    return module if module in modules else nodeid


class ModuleGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no type hints
    """Each test is its own work unit, except that a listed module's tests form one unit (run by one worker).

    Units are handed out largest first (xdist's ``loadscopereorder``), so a grouped module starts at once rather
    than becoming the run's tail.

    Example::

        scheduler = ModuleGroupScheduling(config, log, modules={"tests/reliability/test_secret_scan.py"})
    """

    def __init__(self, config: pytest.Config, log: Any = None, *, modules: Collection[str]) -> None:
        super().__init__(config, log)
        self.modules = frozenset(modules)

    def _split_scope(self, nodeid: str) -> str:
        return work_unit(nodeid, self.modules)
