"""Type checking of rule expressions at compile time, so no request ever meets a malformed rule.

`check(expr)` returns every problem it finds (unknown facts with a did-you-mean, type mismatches, bad
regexes, impossible family names); `always_true(expr)` lets the compiler warn about rules that shadow
everything after them; `render_caret` draws the `^~~~` line under a span.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
from dataclasses import dataclass
from typing import Any

from claude_any.grammar.ast import BoolOp, Compare, Expr, Fact, Header, ListLit, Lit, Not, Span, describe
from claude_any.grammar.ast import to_json as _to_json


class Type(enum.Enum):
    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    LIST = "list of strings"

    @property
    def noun(self) -> str:
        return {
            "string": "a string",
            "number": "a number",
            "bool": "true/false",
            "list of strings": "a list",
        }[self.value]


# The facts a rule can read (docs/ARCHITECTURE.md, "Facts"); header("x") is a string and not listed here.
FACTS: dict[str, Type] = {
    "model": Type.STRING,
    "family": Type.STRING,
    "tokens": Type.NUMBER,
    "max_tokens": Type.NUMBER,
    "thinking": Type.BOOL,
    "thinking_budget": Type.NUMBER,
    "effort": Type.STRING,
    "tools": Type.LIST,
    "has_image": Type.BOOL,
    "stream": Type.BOOL,
    "messages": Type.NUMBER,
    "system": Type.STRING,
}

# Facts whose string values come from a known set: comparing against anything else is almost surely a typo.
# family is closed by construction (an error); effort follows Anthropic's API, which may grow (a warning).
FACT_VALUES: dict[str, tuple[str, ...]] = {
    "family": ("opus", "sonnet", "haiku", "other"),
    "effort": ("", "low", "medium", "high", "xhigh", "max"),
}
_FACT_VALUE_LEVEL = {"family": "error", "effort": "warning"}

_ORDERING = {"<", "<=", ">", ">="}
_PLURAL = {Type.STRING: "strings", Type.NUMBER: "numbers", Type.BOOL: "true/false values", Type.LIST: "lists"}


@dataclass(frozen=True)
class ExprError:
    """One problem in an expression; `span` is [start, end) within the expression text."""

    message: str
    span: Span
    level: str = "error"  # "error" | "warning"


def to_json(expr: Expr) -> dict[str, Any]:
    """The JSON AST stored in routes.json (docs/ARCHITECTURE.md, "Rule AST")."""
    return _to_json(expr)


def check(expr: Expr) -> list[ExprError]:
    """Every problem in `expr`, in source order; an empty list means it is a valid rule."""
    errors: list[ExprError] = []
    top = _Checker(errors).type_of(expr)
    if top is not None and top is not Type.BOOL:
        errors.append(ExprError(_not_a_condition("a rule", expr, top), expr.span))
    return sorted(errors, key=lambda e: (e.span.start, e.span.end))


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`; did you mean 'x'?` when a close match exists, else an empty string."""
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def _not_a_condition(where: str, expr: Expr, typ: Type) -> str:
    hint = {
        Type.NUMBER: f" (compare it, e.g. {_src(expr)} > 0)",
        Type.STRING: f' (compare it, e.g. {_src(expr)} == "…")',
        Type.LIST: f' (test membership, e.g. "Bash" in {_src(expr)})',
    }.get(typ, "")
    return f"{where} must be true or false, but {describe(expr)} is {typ.noun}{hint}"


def _src(expr: Expr) -> str:
    if isinstance(expr, Fact):
        return expr.name
    if isinstance(expr, Header):
        return f'header("{expr.name}")'
    return "it"


class _Checker:
    def __init__(self, errors: list[ExprError]) -> None:
        self.errors = errors

    def error(self, message: str, span: Span, level: str = "error") -> None:
        self.errors.append(ExprError(message, span, level))

    def type_of(self, expr: Expr) -> Type | None:
        """The type of `expr`, or None when it is already wrong (so one mistake is reported once)."""
        match expr:
            case Fact(name=name, span=span):
                if name not in FACTS:
                    self.error(f"unknown fact '{name}'{did_you_mean(name, list(FACTS))}", span)
                    return None
                return FACTS[name]
            case Header(name=name, span=span):
                if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
                    self.error(f"'{name}' is not a valid HTTP header name", span)
                return Type.STRING
            case Lit(value=value):
                return _literal_type(value)
            case ListLit(items=items, span=span):
                kinds = {_literal_type(item.value) for item in items}
                if len(kinds) > 1:
                    self.error("a list must hold values of one type (all strings or all numbers)", span)
                return Type.LIST
            case Not(arg=arg):
                self.need_bool("'not'", arg)
                return Type.BOOL
            case BoolOp(op=op, left=left, right=right):
                self.need_bool(f"each side of '{op}'", left)
                self.need_bool(f"each side of '{op}'", right)
                return Type.BOOL
            case Compare():
                self.compare(expr)
                return Type.BOOL
        raise TypeError(f"not an expression node: {expr!r}")

    def need_bool(self, where: str, expr: Expr) -> None:
        typ = self.type_of(expr)
        if typ is not None and typ is not Type.BOOL:
            self.error(_not_a_condition(where, expr, typ), expr.span)

    def compare(self, node: Compare) -> None:
        left, right = self.type_of(node.left), self.type_of(node.right)
        if left is None or right is None:
            return
        if node.op in ("==", "!="):
            self.equality(node, left, right)
        elif node.op in _ORDERING:
            self.ordering(node, left, right)
        elif node.op == "in":
            self.membership(node, node.left, left, node.right, right)
        elif node.op == "contains":
            if left is Type.LIST:
                self.membership(node, node.right, right, node.left, left)
            elif left is Type.STRING and right is Type.STRING:
                return
            elif left is Type.STRING:
                self.mismatch(node, left, right)
            else:
                self.error(
                    f"'contains' needs text or a list on the left, but {describe(node.left)} is {left.noun}",
                    node.span,
                )
        elif node.op == "matches":
            self.regex(node, left)

    def equality(self, node: Compare, left: Type, right: Type) -> None:
        if left is Type.LIST or right is Type.LIST:
            lst, other = (node.left, node.right) if left is Type.LIST else (node.right, node.left)
            if isinstance(lst, Fact) and isinstance(other, Lit) and isinstance(other.value, str):
                self.error(
                    f"cannot compare list fact '{lst.name}' with a string; "
                    f"did you mean '\"{other.value}\" in {lst.name}'?",
                    node.span,
                )
            elif isinstance(lst, ListLit) and not isinstance(other, ListLit):
                self.error(f"'{node.op}' compares single values; to test membership use 'in'", node.span)
            else:
                self.error(f"'{node.op}' cannot compare lists; test membership with 'in'", node.span)
            return
        if left is not right:
            self.mismatch(node, left, right)
            return
        self.closed_values(node.left, node.right)
        self.closed_values(node.right, node.left)

    def ordering(self, node: Compare, left: Type, right: Type) -> None:
        if left is Type.NUMBER and right is Type.NUMBER:
            return
        if left is Type.NUMBER or right is Type.NUMBER:
            self.mismatch(node, left, right)
            return
        self.error(f"'{node.op}' compares numbers, but {describe(node.left)} is {left.noun}", node.span)

    def membership(self, node: Compare, item: Expr, item_t: Type, coll: Expr, coll_t: Type) -> None:
        if coll_t is not Type.LIST:
            hint = ""
            if coll_t is Type.STRING and isinstance(coll, Fact | Header):
                hint = f"; to search text write '{_src(coll)} contains …'"
            self.error(f"'{node.op}' needs a list, but {describe(coll)} is {coll_t.noun}{hint}", coll.span)
            return
        if item_t is Type.LIST:
            self.error(f"'{node.op}' tests one value against a list, not a list against a list", item.span)
            return
        elem = _element_type(coll)
        if elem is not None and elem is not item_t:
            self.error(
                f"{_shown(item)} is {item_t.noun} but {describe(coll)} holds {_PLURAL[elem]}",
                node.span,
            )
            return
        if isinstance(coll, ListLit):
            for lit in coll.items:
                self.closed_values(item, lit)

    def regex(self, node: Compare, left: Type) -> None:
        if left is not Type.STRING:
            self.error(f"'matches' needs text on the left; {describe(node.left)} is {left.noun}", node.span)
            return
        pattern = node.right
        if not (isinstance(pattern, Lit) and isinstance(pattern.value, str)):
            self.error("'matches' needs a quoted regular expression on the right", pattern.span)
            return
        try:
            re.compile(pattern.value)
        except re.error as exc:
            # Point inside the quotes when the regex error has a position (exact unless escapes were decoded).
            at = pattern.span.start + 1 + (exc.pos or 0) if exc.pos is not None else pattern.span.start
            at = min(at, pattern.span.end - 1)
            self.error(f"invalid regular expression: {exc.msg}", Span(at, at + 1))

    def mismatch(self, node: Compare, left: Type, right: Type) -> None:
        if isinstance(node.left, Fact):
            subject, other = node.left, right
        elif isinstance(node.right, Fact):
            subject, other = node.right, left
        else:
            self.error(f"cannot compare {left.noun} with {right.noun}", node.span)
            return
        kind = {Type.STRING: "string", Type.NUMBER: "number", Type.BOOL: "bool", Type.LIST: "list"}[
            FACTS[subject.name]
        ]
        hint = ""
        if FACTS[subject.name] is Type.BOOL and other is Type.NUMBER:
            hint = f"; write just '{subject.name}' or 'not {subject.name}'"
        self.error(f"cannot compare {kind} fact '{subject.name}' with {other.noun}{hint}", node.span)

    def closed_values(self, subject: Expr, value: Expr) -> None:
        """`family == "opuss"` can never be true: say so, with a did-you-mean."""
        if not (isinstance(subject, Fact) and subject.name in FACT_VALUES):
            return
        if not (isinstance(value, Lit) and isinstance(value.value, str)):
            return
        allowed = FACT_VALUES[subject.name]
        if value.value in allowed:
            return
        shown = ", ".join(v for v in allowed if v)
        suffix = " (or empty)" if "" in allowed else ""
        self.error(
            f"{subject.name} is one of {shown}{suffix}{did_you_mean(value.value, allowed)}",
            value.span,
            _FACT_VALUE_LEVEL[subject.name],
        )


def _shown(expr: Expr) -> str:
    """A literal as written (`3`, `"x"`), anything else by its description."""
    if isinstance(expr, Lit):
        return json.dumps(expr.value)
    return describe(expr)


def _literal_type(value: object) -> Type:
    if isinstance(value, bool):
        return Type.BOOL
    if isinstance(value, str):
        return Type.STRING
    return Type.NUMBER


def _element_type(coll: Expr) -> Type | None:
    if isinstance(coll, Fact):
        return Type.STRING  # the only list fact is `tools`
    if isinstance(coll, ListLit) and coll.items:
        return _literal_type(coll.items[0].value)
    return None


# ---------------------------------------------------------------------------------------------------------
# Constant folding


def constant(expr: Expr) -> bool | None:
    """The value of `expr` when it is the same for every request, else None (conservative)."""
    match expr:
        case Lit(value=bool(value)):
            return value
        case Not(arg=arg):
            inner = constant(arg)
            return None if inner is None else not inner
        case BoolOp(op="and", left=left, right=right):
            a, b = constant(left), constant(right)
            if a is False or b is False:
                return False
            return True if a is True and b is True else None
        case BoolOp(op="or", left=left, right=right):
            a, b = constant(left), constant(right)
            if a is True or b is True:
                return True
            return False if a is False and b is False else None
        case Compare(op=op, left=Lit(value=a), right=Lit(value=b)):
            return _compare_literals(op, a, b)
    return None


def _compare_literals(op: str, a: object, b: object) -> bool | None:
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)):
        return None
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}.get(op)
    if op == "contains" and isinstance(a, str) and isinstance(b, str):
        return b in a
    return None


def always_true(expr: Expr) -> bool:
    """True when `expr` holds for every request (`true`, `not false`, `x or true`, `1 < 2` …)."""
    return constant(expr) is True


def always_false(expr: Expr) -> bool:
    """True when `expr` can never hold, so its route is dead."""
    return constant(expr) is False


# ---------------------------------------------------------------------------------------------------------
# Rendering


def render_caret(source: str, start: int, end: int) -> str:
    """The source line holding `start`, and under it `^~~~` marking [start, end) (clipped to that line)."""
    start = max(0, min(start, len(source)))
    line_start = source.rfind("\n", 0, start) + 1
    line_end = source.find("\n", start)
    if line_end == -1:
        line_end = len(source)
    line = source[line_start:line_end]
    col = start - line_start
    width = max(1, min(end, line_end) - start)
    # Tabs keep their width in the underline so the caret lines up in a terminal.
    pad = "".join("\t" if ch == "\t" else " " for ch in line[:col])
    return f"{line}\n{pad}^{'~' * (width - 1)}"
