"""The built-in routes' ASTs are written out (compiler/rules.py, so that a config without rules never loads
lark): each must be exactly what the parser makes of its source, and a valid rule."""

from __future__ import annotations

import pytest

from claude_any import grammar
from claude_any.compiler.rules import DEFAULT_RULES, DefaultRule


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda rule: rule.name)
def test_written_ast_is_the_parsed_source(rule: DefaultRule) -> None:
    expr = grammar.parse(rule.source)
    assert grammar.check(expr) == []
    assert rule.when == grammar.to_json(expr)
