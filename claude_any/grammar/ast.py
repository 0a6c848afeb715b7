"""The rule-expression AST: frozen dataclasses, each with the character span it came from.

`to_json` turns a tree into the JSON AST stored in routes.json (docs/ARCHITECTURE.md, "Rule AST"), which
is all the runtime ever sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Span:
    """Character offsets [start, end) into the expression text."""

    start: int
    end: int


@dataclass(frozen=True)
class Fact:
    name: str
    span: Span


@dataclass(frozen=True)
class Header:
    """`header("x-name")`: a request header, matched case-insensitively."""

    name: str
    span: Span


@dataclass(frozen=True)
class Lit:
    value: Scalar
    span: Span


@dataclass(frozen=True)
class ListLit:
    items: tuple[Lit, ...]
    span: Span


@dataclass(frozen=True)
class Not:
    arg: Expr
    span: Span


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Compare:
    op: str  # a symbol of runtime/route/operators.py OPERATORS (routing.lark parses exactly those)
    left: Expr
    right: Expr
    span: Span


Expr = Fact | Header | Lit | ListLit | Not | BoolOp | Compare


def to_json(expr: Expr) -> dict[str, Any]:
    """The JSON AST of `expr`: every node has "op" and "span" [start, end]."""
    span = [expr.span.start, expr.span.end]
    match expr:
        case Fact(name=name):
            return {"op": "fact", "name": name, "span": span}
        case Header(name=name):
            # Header names are case-insensitive; storing them lower-cased keeps the runtime lookup trivial.
            return {"op": "header", "name": name.lower(), "span": span}
        case Lit(value=value):
            return {"op": "lit", "value": value, "span": span}
        case ListLit(items=items):
            return {"op": "lit", "value": [item.value for item in items], "span": span}
        case Not(arg=arg):
            return {"op": "not", "arg": to_json(arg), "span": span}
        case BoolOp(op=op, left=left, right=right):
            return {"op": op, "args": [to_json(left), to_json(right)], "span": span}
        case Compare(op=op, left=left, right=right):
            return {"op": op, "left": to_json(left), "right": to_json(right), "span": span}
    raise TypeError(f"not an expression node: {expr!r}")


def describe(expr: Expr) -> str:
    """A short human name for a node, used in error messages: `'tokens'`, `a string`, `a list` …"""
    match expr:
        case Fact(name=name):
            return f"'{name}'"
        case Header(name=name):
            return f'header("{name}")'
        case Lit(value=bool()):
            return "true/false"
        case Lit(value=str()):
            return "a string"
        case Lit():
            return "a number"
        case ListLit():
            return "a list"
        case Not() | BoolOp() | Compare():
            return "a condition"
    raise TypeError(f"not an expression node: {expr!r}")
