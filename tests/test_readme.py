"""The README stays true: its quick-start commands are the ones CI runs, its config snippets compile, and
its fact and operator tables list what the code declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from claude_any.compiler import compile_text
from claude_any.runtime.route.facts import FACTS
from claude_any.runtime.route.operators import OPERATORS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
COMPLETE_CONFIGS = [block for block in YAML_BLOCKS if "providers:" in block and "model_categories" in block]


def test_quick_start_has_the_two_commands_ci_runs() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick_start, flags=re.S)
    assert commands[:2] == [
        "pip install -e . && claude-any run examples/quickstart.yaml",
        "pip install -e '.[test]' && pytest",
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().splitlines()[-1] == commands[1]
    assert (ROOT / "examples" / "quickstart.yaml").is_file()


@pytest.mark.parametrize("block", COMPLETE_CONFIGS, ids=lambda b: b.splitlines()[1].strip()[:40])
def test_config_snippets_compile(block: str) -> None:
    result = compile_text(block, "README.md")
    errors = [d.render() for d in result.diagnostics if d.level == "error"]
    assert result.table is not None and not errors, errors


def test_there_are_snippets_to_check() -> None:
    assert len(COMPLETE_CONFIGS) >= 5


def test_the_sections_users_look_for_are_there() -> None:
    headings = set(re.findall(r"^#+ (.+)$", README, flags=re.M))
    for wanted in (
        "Quick start",
        "Using it with Claude Code",
        "Commands",
        "The config file",
        "Rule language",
        "Pointing it at your provider",
        "What is translated, dropped or degraded",
        "Token counts",
        "Performance",
        "Reliability and security",
    ):
        assert wanted in headings, wanted


def _table_after(heading_row: str) -> list[list[str]]:
    """The rows of the markdown table whose header row is `heading_row`, cells stripped."""
    lines = README.split(heading_row + "\n", 1)[1].split("\n")[1:]  # skip the |---| line
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_the_fact_table_lists_exactly_the_declared_facts() -> None:
    rows = [row for row in _table_after("| fact | type | meaning |") if not row[0].startswith("`header(")]
    assert rows == [[f"`{f.name}`", f.type.name, f.about] for f in FACTS.values()]


def test_the_operator_table_lists_exactly_the_declared_operators() -> None:
    listed = {
        sym for row in _table_after("| operator | example |") for sym in re.findall(r"`([^`]+)`", row[0])
    }
    assert listed - {"and", "or", "not", "( )"} == set(OPERATORS)
