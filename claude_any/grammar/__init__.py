"""Rule expressions: text -> AST (parser), AST -> errors (checker), AST -> JSON for routes.json."""

from typing import TYPE_CHECKING

from claude_any.grammar.ast import Expr, Span
from claude_any.grammar.checker import (
    ExprError,
    always_false,
    always_true,
    check,
    render_caret,
    to_json,
)
from claude_any.runtime.route.facts import FACTS

if TYPE_CHECKING:
    from claude_any.grammar.parser import ExprSyntaxError, parse, read_number

# The parser loads on first use: lark stays 1.5 MB resident in every gateway process, and only a config that
# writes rules, or a number on the command line, needs it.
_PARSER_NAMES = frozenset({"ExprSyntaxError", "parse", "read_number"})


def __getattr__(name: str) -> object:
    if name in _PARSER_NAMES:
        from claude_any.grammar import parser

        return getattr(parser, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
