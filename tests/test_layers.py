"""Imports go one way (docs/ARCHITECTURE.md): the runtime never imports the compiler or the grammar, and the
grammar takes only the rule language's declarations (facts, compare operators) from the runtime."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "claude_any"


def imports(folder: str) -> dict[str, set[str]]:
    """Module file -> the claude_any modules it imports (`from claude_any.x import y` counts as x and x.y)."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(PACKAGE))] = {n for n in names if n.startswith("claude_any")}
    return found


def test_the_runtime_never_imports_the_compiler_or_the_grammar() -> None:
    for module, names in imports("runtime").items():
        wrong = {n for n in names if n.startswith(("claude_any.compiler", "claude_any.grammar"))}
        assert not wrong, (module, wrong)


def test_the_grammar_takes_only_the_declarations_from_the_runtime() -> None:
    allowed = {"claude_any.runtime.route.facts", "claude_any.runtime.route.operators"}
    for module, names in imports("grammar").items():
        runtime = [n for n in names if n.startswith("claude_any.runtime.") and n.count(".") >= 3]
        modules = {".".join(n.split(".")[:4]) for n in runtime}
        assert modules <= allowed, (module, modules - allowed)
        assert not {n for n in names if n.startswith("claude_any.compiler")}, module
