"""The layer table of docs/ARCHITECTURE.md, checked against every module's imports.

The table is read from the document itself (the section "Layers and what each may import"), so the document and
this test cannot drift: a row says which layers a module of that layer may import at module level, and which only
inside functions (or under ``TYPE_CHECKING``). Every ``import`` of every module is read with ``ast``; an import of
another layer not in the row fails, naming the module, line and rule. ``airflow`` stands for Airflow (any
``airflow.*`` module); other third-party packages are not checked here. A new module belongs to the layer of its
package, so it is checked without touching this file; a new package fails until the table has its row.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_genai_batch"
PACKAGE_DIR = REPO / PACKAGE
DOC = REPO / "docs" / "ARCHITECTURE.md"
SECTION = "## Layers and what each may import"
HEADER = ("layer", "at module level", "only inside functions", "notes")
AIRFLOW = "airflow"


@dataclass(frozen=True)
class Rule:
    """One row of the table: what a layer may import, at module level and lazily."""

    module_level: frozenset[str]
    lazily: frozenset[str]


@dataclass(frozen=True)
class Import:
    """One import statement of a module of the package."""

    module: str  # the importing module, dotted
    line: int
    target: str  # the imported module, dotted
    where: str  # "module", "function" or "type-checking"


def layer_table(text: str) -> dict[str, Rule]:
    """The table under ``SECTION``: layer -> rule. Cells list backticked layer names, or ``—`` for none."""
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = tuple(cell.strip() for cell in rows[0].strip("|").split("|"))
    assert header == HEADER, f"the layer table's header must be {HEADER}, found {header}"
    table: dict[str, Rule] = {}
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        (layer,) = re.findall(r"`([^`]+)`", cells[0])
        table[layer] = Rule(*(frozenset(re.findall(r"`([^`]+)`", cell)) for cell in cells[1:3]))
    return table


TABLE = layer_table(DOC.read_text(encoding="utf-8"))


def layer_of(dotted: str) -> str:
    """The layer of a module: ``airflow`` for Airflow, else the table's most specific package or module."""
    if dotted == AIRFLOW or dotted.startswith(AIRFLOW + "."):
        return AIRFLOW
    parts = dotted.split(".")[1:]
    candidates = ["/".join(parts) + ".py"] if parts else []
    candidates += ["/".join(parts[:n]) + "/" for n in range(len(parts), 0, -1)]
    for candidate in [*candidates, "__init__.py"]:
        if candidate in TABLE:
            return candidate
    raise AssertionError(f"{dotted}: no row of the layer table in docs/ARCHITECTURE.md covers it; add one")


def module_name(path: Path) -> str:
    """The dotted name of a source file of the package."""
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[Import]:
    """Every import of a module: at module level, inside a function, or under ``if TYPE_CHECKING:``."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, "function" if where == "module" else where)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), "type-checking")
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), where)
            elif isinstance(child, ast.Import):
                found.extend(Import(module, child.lineno, alias.name, where) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: resolved against the package
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found.append(Import(module, child.lineno, base, where))
            else:
                visit(child, where)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), "module")
    return found


SOURCES = sorted(PACKAGE_DIR.rglob("*.py"))


def checked(imp: Import) -> str | None:
    """Why this import breaks the table, or None when it keeps it."""
    internal = imp.target == PACKAGE or imp.target.startswith(PACKAGE + ".")
    if not internal and not (imp.target == AIRFLOW or imp.target.startswith(AIRFLOW + ".")):
        return None  # the standard library and third-party packages other than Airflow
    own, target = layer_of(imp.module), layer_of(imp.target)
    if own == target:
        return None
    rule = TABLE[own]
    if target in rule.module_level:
        return None
    if target in rule.lazily:
        if imp.where == "module":
            return f"{own} may import {target} only inside functions"
        return None
    return f"{own} may not import {target} (not in its row)"


def test_the_layer_table_is_in_the_architecture_document() -> None:
    assert len(TABLE) >= 10, sorted(TABLE)
    for layer, rule in TABLE.items():
        for name in rule.module_level | rule.lazily:
            assert name == AIRFLOW or name in TABLE, f"row {layer}: {name} is no layer of the table"
        assert not rule.module_level & rule.lazily, f"row {layer}: a layer in both columns"


@pytest.mark.parametrize("layer", sorted(TABLE))
def test_each_layer_of_the_table_exists(layer: str) -> None:
    path = PACKAGE_DIR / layer
    assert path.is_dir() if layer.endswith("/") else path.is_file(), f"{layer} is in the table but not in the package"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_imports_keep_the_layer_table(path: Path) -> None:
    broken = [
        f"{imp.module}:{imp.line} imports {imp.target} ({imp.where}): {why}"
        for imp in imports_of(path)
        if (why := checked(imp)) is not None
    ]
    assert not broken, "\n".join(broken)


def test_the_checker_sees_a_breach() -> None:
    """The rules bite: a module-level import the table allows only lazily, and one it forbids, are reported."""
    lazy_only = Import(f"{PACKAGE}.operators.create", 1, f"{PACKAGE}.deployment", "module")
    forbidden = Import(f"{PACKAGE}.client.transport", 1, "airflow.sdk", "function")
    allowed_lazily = Import(f"{PACKAGE}.operators.create", 1, f"{PACKAGE}.deployment", "function")
    assert checked(lazy_only) == "operators/ may import deployment.py only inside functions"
    assert checked(forbidden) == "client/ may not import airflow (not in its row)"
    assert checked(allowed_lazily) is None


def test_imports_are_read_at_each_level() -> None:
    """Module level, inside a function and under TYPE_CHECKING are told apart; relative imports are resolved."""
    source = PACKAGE_DIR / "operators" / "create.py"
    found = {(imp.target, imp.where) for imp in imports_of(source)}
    assert (f"{PACKAGE}.compat", "module") in found
    assert (f"{PACKAGE}.operators._submission", "function") in found
    assert (f"{PACKAGE}.client.models", "type-checking") in found
