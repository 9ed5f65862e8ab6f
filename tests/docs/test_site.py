"""The user guide (``make docs``, docs/site/): every example on its pages is run by the test suite, and the build is
as strict as it says.

What counts as a page: every Markdown file the Sphinx configuration includes (its ``include_patterns``), read from
docs/site/conf.py itself. Each fenced block of each page is accounted for here:

- README.md: every block is marked and run by tests/docs/test_readme_examples.py;
- the guide's own pages (docs/site/): code comes only through ``literalinclude`` of a file that a test runs (an
  example DAG whose DAG ids a test runs, or a test module); any other fenced block is marked
  ``<!-- test: skip (reason) -->``;
- the other pages (docs/*.md, SECURITY.md, RELIABILITY.md, ...): each Python block is run (below); any other block
  is listed in ``NOT_RUN`` with the reason, so a new block fails this test until it is run or given a reason.
"""

from __future__ import annotations

import ast
import asyncio
import fnmatch
import importlib
import inspect
import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pendulum
import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs" / "site"
FENCE = re.compile(r"^(?P<fence>```+|~~~+)(?P<info>[^\n]*)\n(?P<code>.*?)^(?P=fence)[ \t]*$", re.S | re.M)
MARK = re.compile(r"<!-- test: (?P<kind>[a-z]+)(?: (?P<arg>.+?))? -->\s*$")
SPHINX = (sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-n", "-q", "-b", "html")
DIRECTIVE = re.compile(r"^\{(?P<name>[a-z-]+)\}\s*(?P<arg>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: str
    line: int
    info: str
    code: str
    mark: str | None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _conf_value(name: str) -> Any:
    """A literal assignment of docs/site/conf.py, read without running it."""
    tree = ast.parse((SITE / "conf.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return ast.literal_eval(node.value) if node.value is not None else None
    raise AssertionError(f"docs/site/conf.py has no {name}")


def site_pages() -> list[str]:
    """Every Markdown page of the site, as paths relative to the repository."""
    include, exclude = _conf_value("include_patterns"), _conf_value("exclude_patterns")
    pages = set()
    for pattern in include:
        for path in ROOT.glob(pattern + "/*.md" if pattern.endswith("**") else pattern):
            rel = path.relative_to(ROOT).as_posix()
            if path.suffix == ".md" and not any(fnmatch.fnmatch(rel, f"{x}*") for x in exclude):
                pages.add(rel)
    return sorted(pages)


def blocks(page: str) -> list[Block]:
    text = (ROOT / page).read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        found.append(
            Block(
                page=page,
                line=text[: match.start()].count("\n") + 1,
                info=match["info"].strip(),
                code=match["code"],
                mark=mark.group(0) if mark else None,
            )
        )
    return found


PAGES = site_pages()
OWN = [p for p in PAGES if p.startswith("docs/site/")]
OTHERS = [p for p in PAGES if p not in OWN and p != "README.md"]

#: Blocks of the other pages that are not Python, and why they are not run. Keyed by page and the block's first line.
NOT_RUN = {
    ("docs/ARCHITECTURE.md", "airflow_provider_genai_batch/"): "the module map: a listing, not code",
    ("docs/BIG_JOBS.md", '{"destination": "...", "results": 10, "succeeded": 10, "failed": 0, "bytes": 2310,'): (
        "an abridged manifest (output, with elisions); tests/bigjobs check the real one"
    ),
    ("docs/COMMON_AI.md", "pip install 'airflow-provider-genai-batch[common-ai]'"): (
        "installs from the package index, where the package is not published yet; the extra is checked by "
        "tests/provider/test_built_wheel.py"
    ),
    (
        "RELIABILITY.md",
        ".venv/bin/python -m pytest tests/reliability -q                 # everything: about 3 min 20 s on 2 cores",
    ): ("commands that run the reliability suite, which make test runs"),
}

#: What runs after a Python block of the other pages, when the block only defines things (the calls make tasks).
AFTER = {
    (
        "docs/COMMON_AI.md",
        "from airflow.sdk import dag, task",
    ): "classify_one('great shoes')\nclassify_all(['great shoes', 'too small'])\n",
}


def _first_line(block: Block) -> str:
    return block.code.split("\n", 1)[0]


# --- every page is a page of the site, every block accounted for ---------------------------------------------------


def test_the_site_has_the_pages_the_issue_asks_for() -> None:
    for page in (
        "README.md",
        "SECURITY.md",
        "RELIABILITY.md",
        "docs/site/connections.md",
        "docs/site/testing.md",
        "docs/site/migrating.md",
        "docs/site/troubleshooting.md",
        "docs/site/reference.md",
    ):
        assert page in PAGES, page
    from airflow_provider_genai_batch import operators, sensors, triggers

    documented = " ".join((ROOT / p).read_text() for p in OWN if p.startswith("docs/site/operators/"))
    for package in (operators, sensors, triggers):
        for name in package.__all__:  # a page with the class's reference for each operator, the sensor, the trigger
            assert re.search(rf"\.\. autoclass:: airflow_provider_genai_batch\.[\w.]+\.{name}\n", documented), name


def test_the_guides_own_pages_show_code_only_from_files_the_suite_runs() -> None:
    unmarked, includes = [], []
    for page in OWN:
        for block in blocks(page):
            directive = DIRECTIVE.match(block.info)
            if directive is None:
                if not (block.mark and re.fullmatch(r"<!-- test: skip \(.{8,}\) -->", block.mark)):
                    unmarked.append(block.where)
            elif directive["name"] in ("literalinclude", "include"):
                includes.append((block.where, directive["arg"].strip()))
            elif directive["name"] == "eval-rst":  # autodoc only: its docstrings' examples are run below
                other = [x for x in block.code.splitlines() if x.strip() and not AUTODOC.match(x + "\n")]
                assert all(x.startswith("   :") for x in other), (block.where, other)
    assert unmarked == [], (
        f"code blocks that are neither included from a tested file nor skipped with a reason: {unmarked}"
    )
    assert includes, "the guide includes no example"
    tests_text = "\n".join(
        p.read_text()
        for p in (ROOT / "tests").rglob("*.py")
        if p.name != "test_secret_scan.py" and p.name != Path(__file__).name
    )
    for where, target in includes:
        path = ROOT / target.lstrip("/")
        assert path.is_file(), (where, target)
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("tests/"):
            assert path.name.startswith("test_"), (where, rel)  # a test module: pytest runs it
            continue
        assert rel.startswith("example_dags/"), (where, rel)
        source = path.read_text()
        dag_ids = re.findall(r"^def (genai_batch_\w+)\(", source, re.M) + re.findall(
            r'^with DAG\(\s*"(\w+)"', source, re.M
        )
        assert dag_ids, (where, rel)
        for dag_id in dag_ids:  # each DAG of the file is run by a test (the secret scan aside)
            assert f'"{dag_id}"' in tests_text, (where, dag_id)


def test_every_block_of_the_other_pages_is_run_or_has_a_reason() -> None:
    unaccounted = []
    for page in OTHERS:
        for block in blocks(page):
            if block.info == "python":
                continue  # run by test_python_blocks_of_the_other_pages_run
            if (page, _first_line(block)) not in NOT_RUN:
                unaccounted.append((block.where, block.info, _first_line(block)))
    assert unaccounted == []
    known = {(b.page, _first_line(b)) for p in OTHERS for b in blocks(p)}
    assert set(NOT_RUN) <= known, set(NOT_RUN) - known  # no stale reasons
    assert set(AFTER) <= known, set(AFTER) - known
    assert set(PYTHON_NOT_RUN) <= known, set(PYTHON_NOT_RUN) - known


# --- the Python blocks of the other pages, run ------------------------------------------------------------------


#: Python blocks of the other pages that are not run, and why.
PYTHON_NOT_RUN = {
    ("docs/ARCHITECTURE.md", "from airflow_provider_genai_batch.client import ("): (
        "the client's verbs listed in one block, not a program (it deletes the job before reading its results); "
        "README's client example runs against the emulator, and each verb in tests/client"
    ),
}
PYTHON_BLOCKS = [
    b for p in OTHERS for b in blocks(p) if b.info == "python" and (p, _first_line(b)) not in PYTHON_NOT_RUN
]


def _namespace() -> dict[str, Any]:
    """What a page's fragment may use without importing it: the provider's operators, sensor and policy."""
    from airflow_provider_genai_batch import operators, sensors
    from airflow_provider_genai_batch.policy.completion import CompletionPolicy

    names = {name: getattr(operators, name) for name in operators.__all__}
    names.update({name: getattr(sensors, name) for name in sensors.__all__})
    names["CompletionPolicy"] = CompletionPolicy
    return names


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.where for b in PYTHON_BLOCKS])
def test_python_blocks_of_the_other_pages_run(block: Block) -> None:
    """A fragment of operators runs inside a DAG (each operator is built, its arguments checked); an outline of an
    interface is defined and compared with the package's."""
    from airflow.sdk import DAG

    code = block.code + AFTER.get((block.page, _first_line(block)), "")
    if "Protocol)" in code:  # an interface's outline: defined, and its methods are the ones the code has
        namespace = {"Protocol": __import__("typing").Protocol}
        exec(compile(code, block.where, "exec"), namespace)
        from airflow_provider_genai_batch.client import auth

        protocol = next(v for k, v in namespace.items() if isinstance(v, type) and k != "Protocol")
        real = getattr(auth, protocol.__name__)
        for method in ("headers", "aheaders"):
            assert hasattr(protocol, method) and hasattr(real, method), method
        return
    namespace = _namespace()
    with DAG(f"docs_block_{block.line}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        exec(compile(code, block.where, "exec"), namespace)
    assert dag.tasks, f"{block.where} made no task"


# --- the examples in the docstrings the reference shows, run ---------------------------------------------------


AUTODOC = re.compile(r"^\.\. (?P<kind>auto\w+):: (?P<path>\S+)\n(?P<options>(?:   :[^\n]*\n)*)", re.M)


def _documented(path: str) -> Any:
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)


def _docstring_examples(doc: str) -> list[str]:
    """The literal blocks (``...::`` then an indented block) of a docstring."""
    lines, found, i = inspect.cleandoc(doc).splitlines(), [], 0
    while i < len(lines):
        if not lines[i].rstrip().endswith("::"):
            i += 1
            continue
        j, block = i + 1, []
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith("    ")):
            block.append(lines[j])
            j += 1
        found.append(textwrap.dedent("\n".join(block)).strip("\n") + "\n")
        i = j
    return found


def docstring_examples() -> list[tuple[str, str]]:
    """(where, code) of every example in a docstring that a page of the guide renders with autodoc."""
    examples: dict[str, str] = {}
    for page in OWN:
        for block in blocks(page):
            for match in AUTODOC.finditer(block.code if block.info == "{eval-rst}" else ""):
                documented = _documented(match["path"])
                objects = [(match["path"], documented)]
                members = re.search(r":members:(.*)", match["options"])
                if members is not None:
                    names = [n.strip() for n in members[1].split(",") if n.strip()] or [
                        n for n in (getattr(documented, "__all__", None) or dir(documented)) if not n.startswith("_")
                    ]
                    objects += [(f"{match['path']}.{n}", getattr(documented, n)) for n in names]
                for name, obj in objects:
                    doc = (obj.fget if isinstance(obj, property) else obj).__doc__ or ""
                    for n, code in enumerate(_docstring_examples(doc)):
                        examples.setdefault(f"{name}[{n}]", code)
    return sorted(examples.items())


DOCSTRING_EXAMPLES = docstring_examples()
#: What a docstring's example takes as given: names a DAG author would have defined before it.
GIVEN = {
    "requests": "requests = [{'contents': f'question {n}'} for n in range(3)]\n",
    "split.output_shards": (
        "split = GenAIBatchSplitOperator(task_id='split', src=[{'contents': 'hi'}], limits='gemini')\n"
        "create = GenAIBatchCreateJobOperator.partial(task_id='create', model='gemini-2.5-flash')"
        ".expand(src=split.output)\n"
    ),
}


def test_the_reference_has_docstring_examples() -> None:
    assert len(DOCSTRING_EXAMPLES) >= 10, DOCSTRING_EXAMPLES


@pytest.mark.parametrize(("where", "code"), DOCSTRING_EXAMPLES, ids=[w for w, _ in DOCSTRING_EXAMPLES])
def test_docstring_examples_shown_by_the_reference_run(
    where: str, code: str, genai_batch_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each runs inside a DAG (operators are built, their arguments checked), with the connections it names pointed
    at the emulator (the hook's and the trigger's calls are made); top-level ``async for`` runs in an event loop."""
    import time

    import httpx
    from airflow.sdk import DAG
    from google import genai

    from airflow_provider_genai_batch.emulator import run_emulator
    from airflow_provider_genai_batch.hooks import GenAIBatchHook
    from airflow_provider_genai_batch.triggers import GenAIBatchJobTrigger

    connection = json.dumps(
        {"conn_type": "genai_batch", "host": genai_batch_emulator.base_url, "password": genai_batch_emulator.api_key}
    )
    for conn_id in ("genai_batch_default", "c"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection)
    prelude = "".join(given for name, given in GIVEN.items() if name in code)
    namespace = _namespace() | {
        "GenAIBatchHook": GenAIBatchHook,
        "GenAIBatchJobTrigger": GenAIBatchJobTrigger,
        "run_emulator": run_emulator,
        "genai": genai,
        "httpx": httpx,
        "time": time,
    }
    compiled = compile(prelude + code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    with DAG("docstring_example", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        result = eval(compiled, namespace)
        if inspect.iscoroutine(result):
            asyncio.run(result)


# --- the build is strict -----------------------------------------------------------------------------------------


def _build(tmp_path: Path, page: str) -> subprocess.CompletedProcess[str]:
    """Build a one-page site with the guide's own configuration (its strictness included)."""
    source = tmp_path / "src"
    (source / "docs" / "site").mkdir(parents=True)
    (source / "docs" / "site" / "index.md").write_text(page)
    return subprocess.run(
        [*SPHINX, "-c", str(SITE), str(source), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_broken_internal_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    good = "# Title\n\n## A section\n\nSee [the section](#a-section).\n"
    assert _build(tmp_path / "good", good).returncode == 0
    broken = (
        "See [nowhere](#no-such-section) and [a page](missing.md).\n\n"
        "```{genai-batch-model} airflow_provider_genai_batch.client.models.RequestCounts\ntotal: all\n```\n"
    )
    result = _build(tmp_path / "bad", good + broken)  # --keep-going: every warning is reported, then it fails
    assert result.returncode != 0
    assert "no-such-section" in result.stderr, result.stderr
    assert "missing.md" in result.stderr, result.stderr
    assert "field 'failed' of" in result.stderr and "is not described" in result.stderr, result.stderr


def test_the_docs_target_is_strict_and_runs_in_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    docs = re.search(r"^docs:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert docs is not None
    assert all(flag in docs[1].split() for flag in ("-W", "-n", "-E", "--keep-going")), docs[1]
    test = re.search(r"^test:(.*)$", makefile, re.M)
    assert test is not None and "docs" in test[1].split()


def test_the_dev_group_has_the_docs_tools_and_the_runtime_does_not() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = " ".join(project["dependency-groups"]["dev"])
    runtime = " ".join(project["project"]["dependencies"])
    for tool in ("sphinx", "myst-parser", "furo"):
        assert tool in dev and tool not in runtime, tool
