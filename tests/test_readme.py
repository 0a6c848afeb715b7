"""The README stays true: its quick-start commands are the ones CI runs, every command in it and in the
examples' comments works as written, its config snippets compile, and its fact and operator tables list
what the code declares."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_process import Running, assert_no_traceback, claude_any, free_port, wait_until_listening

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


# --- every command in the README and the examples works as written -----------------------------------------

# Programs named in the README or the examples that this test does not run, and why; any other program is a
# test failure, so a new kind of command is looked at rather than skipped unnoticed.
NOT_RUN_HERE = {
    "pip": "installs claude-any: CI does, before the tests",
    "pytest": "this test suite",
    "npm": "installs Claude Code",
    "ollama": "a local model server",
    "vllm": "a local model server",
    "python": "the benchmarks: tests/test_bench_smoke.py runs them",
    "curl": "tests/runtime/test_web_guard.py sends the README's curl",
}
# A README span like `claude-any run ROUTES_OR_CONFIG [--host H]` describes a command; it is not one.
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_.]+\b(?!=)|[\[\]…|]")
SHELL_WORDS = 'set -f; printf "%s\\0"'  # bash reads the words; printf hands them back without running them


def _commands_in_readme() -> list[str]:
    """The README's commands in document order: every line of its shell blocks, and every inline
    `claude-any …` or `VAR=… claude` span that is a whole command (no placeholders)."""
    found: list[tuple[int, str]] = []
    for block in re.finditer(r"```(?:bash|sh|shell)\n(.*?)```", README, flags=re.S):
        text = block.group(1).replace("\\\n", " ")
        found += [(block.start(), line) for line in text.splitlines() if line.strip()]
    for span in re.finditer(r"`((?:[A-Z_]+=\S+ )*claude(?:-any)? [^`]+)`", README):
        command = span.group(1)
        words = command.split()
        output = words[1].endswith(":")  # `claude-any code: error: …` is what the command prints
        if (
            not PLACEHOLDER.search(command)
            and not output
            and len(words) > (2 if words[0] == "claude-any" else 1)
        ):
            found.append((span.start(), command))
    return [command for _, command in sorted(found, key=lambda item: item[0])]  # a block keeps its order


def _commands_in_example(path: Path) -> list[str]:
    """The commands an example's comment tells the user to type (`#   command  # note`)."""
    return [m.group(1) for m in re.finditer(r"^#\s{2,}(\S.*)$", path.read_text(encoding="utf-8"), flags=re.M)]


SCRIPTS = {"README.md": _commands_in_readme()} | {
    f"examples/{path.name}": _commands_in_example(path) for path in sorted((ROOT / "examples").glob("*.yaml"))
}


def _words(command: str) -> list[str]:
    """`command` split into words the way bash splits it (quotes, `$'…'`, a trailing `# comment`)."""
    split = subprocess.run(
        ["bash", "-c", f"{SHELL_WORDS} {command}"], capture_output=True, text=True, timeout=10, check=True
    )
    return split.stdout.split("\0")[:-1]


@pytest.mark.skipif(shutil.which("bash") is None, reason="reading shell commands needs bash")
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_command_works_as_written(script: str, tmp_path: Path) -> None:
    """Each command of the README (or of an example's comment) is run in order, in a fresh directory that
    holds `examples/` and a `config.yaml` copied from the quick start (the README's "copy the example for
    your provider"): `claude-any` itself (`run` on a free port, then stopped; `code` with a stand-in for
    Claude Code), and the environment a `claude` command line gives Claude Code is checked."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    shutil.copy(ROOT / "examples" / "quickstart.yaml", tmp_path / "config.yaml")
    fake_claude = tmp_path / "claude"
    fake_claude.write_text('#!/bin/sh\ntest -n "$ANTHROPIC_BASE_URL" && test -n "$ANTHROPIC_AUTH_TOKEN"\n')
    fake_claude.chmod(0o755)
    env: dict[str, str] = {}
    ran = 0
    for line in SCRIPTS[script]:
        for command in line.split("&&"):
            words = _words(command)
            given = dict(w.split("=", 1) for w in itertools.takewhile(lambda w: re.match(r"\w+=", w), words))
            program, *args = words[len(given) :]
            if program == "export":
                env |= dict(arg.split("=", 1) for arg in args)
            elif program == "claude":
                # Without a token, Claude Code stops at Anthropic's login instead of using the gateway.
                assert "ANTHROPIC_BASE_URL" in given, command
                assert {"ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY"} & set(given), f"no token in: {command}"
            elif program == "claude-any" and args[:1] == ["run"]:
                _run_and_stop(args[1:], tmp_path, env)
            elif program == "claude-any":
                extra = {"CLAUDE_ANY_CLAUDE": str(fake_claude)} if args[:1] == ["code"] else {}
                result = claude_any(*args, home=tmp_path, cwd=tmp_path, env=env | extra)
                assert_no_traceback(result)
                assert result.returncode == 0, f"{command}\n{result.stderr}"
            else:
                assert program in NOT_RUN_HERE, f"{script}: no check for {command!r}; add one or say why not"
                continue
            ran += 1
    assert ran, f"{script}: no command was checked"


def _run_and_stop(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    port = free_port()  # the port written (8082) may be taken on this machine
    server = Running([*args, "--port", str(port)], cwd, cwd=cwd, env=env)
    try:
        server.wait_for_line(r"serving http://")
        wait_until_listening(f"http://127.0.0.1:{port}")
    finally:
        status, stderr = server.interrupt()
    assert status in (0, 130) and "Traceback" not in stderr, stderr


def test_the_commands_are_found() -> None:
    assert "claude-any compile config.yaml" in SCRIPTS["README.md"]
    assert any(line.startswith("ANTHROPIC_BASE_URL=") for line in SCRIPTS["examples/quickstart.yaml"])
    assert sum(len(commands) for commands in SCRIPTS.values()) >= 20
