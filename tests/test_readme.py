"""The README stays true: its quick-start commands are the ones CI runs, and its config snippets compile."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from claude_any.compiler import compile_text

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
        "Use it with Claude Code",
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
