"""Rule expressions: text -> AST (parser), AST -> errors (checker), AST -> JSON for routes.json."""

from claude_any.grammar.ast import Expr, Span
from claude_any.grammar.checker import (
    ExprError,
    always_false,
    always_true,
    check,
    render_caret,
    to_json,
)
from claude_any.grammar.parser import ExprSyntaxError, parse, read_number
from claude_any.runtime.route.facts import FACTS

__all__ = [
    "FACTS",
    "Expr",
    "ExprError",
    "ExprSyntaxError",
    "Span",
    "always_false",
    "always_true",
    "check",
    "parse",
    "read_number",
    "render_caret",
    "to_json",
]
