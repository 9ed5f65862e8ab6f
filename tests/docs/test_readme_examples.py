"""README.md's code, run as a reader would: every fenced block is extracted from README.md (never copied here) and
either run or marked as not runnable with a reason.

Each fenced block is preceded by an HTML comment saying what it is:

- ``<!-- test: shell -->``: a step of the "Your first DAG" walkthrough; all of them run in order in one bash
  session, in an empty folder, with the commands exactly as shown (only the port 8085 becomes a free one);
- ``<!-- test: dag PATH -->``: a DAG file of the walkthrough (written to PATH first), also run in-process with
  ``dag.test()`` against the emulator fixture;
- ``<!-- test: file PATH -->``: another file of the walkthrough (written to PATH first);
- ``<!-- test: output -->``: what the walkthrough prints (each line, up to a ``...``, must appear in its output);
- ``<!-- test: python -->``: a snippet run in-process against the emulator (``GEMINI_API_KEY``,
  ``GENAI_BATCH_BASE_URL`` set);
- ``<!-- test: env -->``: ``export AIRFLOW_CONN_...`` lines: each must define a connection this provider accepts;
- ``<!-- test: skip (reason) -->``: not run, for the reason given.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.example_dags.test_example_dags import states, xcom

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
KINDS = {"shell", "dag", "file", "output", "python", "env", "skip"}
MARK = re.compile(r"^<!-- test: (?P<kind>[a-z]+)(?: (?P<arg>.+?))? -->$")
WALKTHROUGH = {"shell", "dag", "file"}
EMULATOR_PORT = "8085"


@dataclass(frozen=True)
class Block:
    """One fenced block of README.md and the mark before it."""

    line: int
    lang: str
    code: str
    kind: str | None
    arg: str | None

    @property
    def where(self) -> str:
        return f"README.md:{self.line}"


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block, with the ``<!-- test: ... -->`` mark on the closest non-blank line before it."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("```"):
            i += 1
            continue
        start, lang = i, lines[i][3:].strip()
        j = i + 1
        while not lines[j].startswith("```"):
            j += 1
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        mark = MARK.match(lines[before].strip()) if before >= 0 else None
        blocks.append(
            Block(
                line=start + 1,
                lang=lang,
                code="\n".join(lines[start + 1 : j]) + "\n",
                kind=mark["kind"] if mark else None,
                arg=mark["arg"] if mark else None,
            )
        )
        i = j + 1
    return blocks


BLOCKS = readme_blocks(README.read_text())
DAG_BLOCKS = [b for b in BLOCKS if b.kind == "dag"]


def _only(kind: str) -> list[Block]:
    return [b for b in BLOCKS if b.kind == kind]


# --- every block is marked ------------------------------------------------------------------------------------------


def test_every_fenced_block_is_marked_run_or_skipped_with_a_reason() -> None:
    unmarked = [b.where for b in BLOCKS if b.kind is None]
    assert unmarked == [], f"fenced blocks without a <!-- test: ... --> mark: {unmarked}"
    unknown = [(b.where, b.kind) for b in BLOCKS if b.kind not in KINDS]
    assert unknown == []
    no_reason = [b.where for b in BLOCKS if b.kind == "skip" and not re.fullmatch(r"\(.{8,}\)", b.arg or "")]
    assert no_reason == [], f"skipped blocks must say why, in parentheses: {no_reason}"
    # Python and shell blocks are code a reader runs: they are run, or skipped for a stated reason.
    for block in BLOCKS:
        if block.lang in ("python", "bash", "sh", "shell"):
            assert block.kind in {"shell", "dag", "file", "python", "env", "skip"}, block.where


def test_the_first_dag_comes_before_guarantees_scale_and_benchmarks() -> None:
    text = README.read_text()
    first_dag = text.index("## Your first DAG")
    for later in ("## Guarantees, and their limits", "## Running at scale", "## Benchmarks"):
        assert first_dag < text.index(later), later
    assert DAG_BLOCKS and "from airflow_provider_genai_batch.operators import" in DAG_BLOCKS[0].code
    assert "GenAIBatchWriteResultsOperator" in DAG_BLOCKS[0].code and "@task" in DAG_BLOCKS[0].code


def test_terms_are_defined_before_their_first_use() -> None:
    text = README.read_text()
    glossary = text.index("## Words used below")
    for term in ("**Manifest**", "**Reattach**", "**Express mode**", "**`gcs_staging_prefix`**", "**`run_after`**"):
        defined = text.index(term)
        assert glossary < defined, term
        word = term.strip("*`").lower()
        first_use = text.lower().index(word)
        assert first_use >= glossary, f"{word!r} is used before it is defined"


# --- the DAG blocks, in-process with dag.test() ---------------------------------------------------------------------


def _prompts_jsonl() -> str:
    """The Vertex input the walkthrough writes (a heredoc in a shell block)."""
    for block in _only("shell"):
        match = re.search(r"cat > prompts\.jsonl <<'JSONL'\n(.*?)\nJSONL\n", block.code, re.S)
        if match:
            return match.group(1) + "\n"
    raise AssertionError("no prompts.jsonl heredoc in README's shell blocks")


def _gs_input(code: str) -> tuple[str, str]:
    match = re.search(r'src="gs://([^/]+)/([^"]+)"', code)
    assert match, "the Vertex DAG reads a gs:// object"
    return match.group(1), match.group(2)


@pytest.mark.parametrize("block", DAG_BLOCKS, ids=[b.arg or b.where for b in DAG_BLOCKS])
def test_dag_block_runs_with_dag_test(
    block: Block, emulator: Any, dags_folder: Path, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_genai_batch.client.wire.stamp import STAMP_KEY

    assert block.arg
    path = dags_folder / f"readme_{Path(block.arg).name}"
    path.write_text(block.code)
    if "gs://" in block.code:
        bucket, name = _gs_input(block.code)
        emulator.put_object(bucket, name, _prompts_jsonl().encode())
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()

    run = dag.test(logical_date=None)

    assert run.state == "success", states(run)
    assert set(states(run).values()) == {"success"}
    assert emulator.stats()["jobs_created"] == 1
    last = dag.leaves[0].task_id
    if dag.dag_id == "first_batch":
        assert xcom(run, last) == {
            "france": "echo: What is the capital of France?",
            "sum": "echo: What is 17 + 25?",
            "colour": "echo: Name a colour.",
        }
        manifest = xcom(run, "create")
        assert manifest["state"] == "JOB_STATE_SUCCEEDED" and manifest["request_counts"]["succeeded"] == 3
    elif dag.dag_id == "vertex_batch":
        assert xcom(run, last) == len(_prompts_jsonl().splitlines())
        written = xcom(run, "write")
        rows = [json.loads(line) for line in Path(written["destination"]).read_text().splitlines()]
        assert [r["index"] for r in rows] == [0, 1]
        assert "good morning" in json.dumps(rows[0]["response"]) and STAMP_KEY not in rows[0].get("metadata", {})
    else:
        assert dag.dag_id == "embeddings"
        assert xcom(run, last) == 2


# --- the other runnable blocks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", _only("python"), ids=[b.where for b in _only("python")])
def test_python_block_runs_against_the_emulator(
    block: Block, genai_batch_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", genai_batch_emulator.api_key)
    monkeypatch.setenv("GENAI_BATCH_BASE_URL", genai_batch_emulator.base_url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.code, block.where, "exec"), {"__name__": "__readme__"})
    assert genai_batch_emulator.stats()["jobs_created"] == 1
    assert "q1 echo: What is 1+1?" in out.getvalue()


@pytest.mark.parametrize("block", _only("env"), ids=[b.where for b in _only("env")])
def test_env_block_defines_connections_the_provider_accepts(block: Block, tmp_path: Path) -> None:
    from airflow.sdk import Connection

    from airflow_provider_genai_batch.hooks.connection import settings_from_connection

    script = f"set -eu\n{block.code}\nenv -0\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    done = subprocess.run(["bash", "-c", script], capture_output=True, env=env, cwd=tmp_path, check=True)
    defined = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    connections = {k: v for k, v in defined.items() if k.startswith("AIRFLOW_CONN_")}
    assert connections, f"{block.where} defines no connection"
    for variable, value in connections.items():
        conn = Connection.from_json(value, conn_id=variable.removeprefix("AIRFLOW_CONN_").lower())
        assert conn.conn_type == "genai_batch"
        settings = settings_from_connection(conn)  # raises on an unknown extra or a bad value
        assert settings.backend in ("gemini", "vertex")


# --- the walkthrough, exactly as a reader runs it ----------------------------------------------------------------


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def _reader_env() -> dict[str, str]:
    """A reader's shell: the project's venv first on PATH, and none of this test session's Airflow or pytest set-up."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTEST", "GENAI_BATCH")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.slow
def test_first_dag_walkthrough_as_a_reader_runs_it(tmp_path: Path) -> None:
    """Every walkthrough block in README order in one bash session, in an empty folder: the files written where
    README says, the commands run as shown; then what README says the reader sees is in the output."""
    port = _free_port()
    script = ["set -euo pipefail"]
    for block in BLOCKS:
        if block.kind in ("dag", "file"):
            assert block.arg
            target = tmp_path / block.arg
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code)
        elif block.kind == "shell":
            script.append(block.code.replace(EMULATOR_PORT, port))
    assert any(EMULATOR_PORT in b.code for b in _only("shell")), "the walkthrough starts the emulator on 8085"
    process = subprocess.Popen(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=_reader_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=900)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the emulator, if a step failed before the walkthrough's kill
            os.killpg(process.pid, signal.SIGTERM)
    text = output.decode(errors="replace")
    logs = "".join(f"\n--- {log.name}:\n{log.read_text()[-3000:]}" for log in sorted(tmp_path.glob("*.log")))
    assert process.returncode == 0, text[-4000:] + logs
    for expected in _only("output"):
        for line in expected.code.splitlines():
            shown = line.split("...")[0]
            assert shown in text, f"README says the reader sees {shown!r}; the output was:\n{text[-4000:]}"
    assert (tmp_path / "results" / "first_batch.jsonl").read_text().count("\n") == 3
    assert "1 passed" in text  # the pytest example in "Using the emulator in your own tests"
