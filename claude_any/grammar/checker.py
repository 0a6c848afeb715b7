"""Type checking of rule expressions at compile time, so no request ever meets a malformed rule.

`check(expr)` returns every problem it finds (unknown facts with a did-you-mean, type mismatches, bad
regexes, impossible family names); `always_true(expr)` lets the compiler warn about rules that shadow
everything after them; `render_caret` draws the `^~~~` line under a span.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from claude_any.grammar.ast import BoolOp, Compare, Expr, Fact, Header, ListLit, Lit, Not, Span, describe
from claude_any.grammar.ast import to_json as _to_json

# The rule language's facts and compare operators are declared once, in the runtime that evaluates them;
# checking against those declarations is what keeps the checker and the evaluator from disagreeing.
from claude_any.runtime.route.facts import BOOL, FACTS, LIST, NUMBER, STRING, FactType
from claude_any.runtime.route.operators import OPERATORS, Operator
from claude_any.suggest import did_you_mean

_NOUN = {STRING: "a string", NUMBER: "a number", BOOL: "true/false", LIST: "a list"}
_PLURAL = {STRING: "strings", NUMBER: "numbers", BOOL: "true/false values", LIST: "lists"}
_KIND = {STRING: "string", NUMBER: "number", BOOL: "bool", LIST: "list"}  # "number fact 'tokens'"


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
    if top is not None and top is not BOOL:
        errors.append(ExprError(_not_a_condition("a rule", expr, top), expr.span))
    return sorted(errors, key=lambda e: (e.span.start, e.span.end))


def _not_a_condition(where: str, expr: Expr, typ: FactType[Any]) -> str:
    hint = (
        {
            NUMBER: f" (compare it, e.g. {_src(expr)} > 0)",
            STRING: f' (compare it, e.g. {_src(expr)} == "…")',
            LIST: f' (test membership, e.g. "Bash" in {_src(expr)})',
        }.get(typ, "")
        if isinstance(expr, Fact | Header)
        else ""
    )  # `5 > 0` would not help anyone
    return f"{where} must be true or false, but {_shown(expr)} is {_NOUN[typ]}{hint}"


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

    def type_of(self, expr: Expr) -> FactType[Any] | None:
        """The type of `expr`, or None when it is already wrong (so one mistake is reported once)."""
        match expr:
            case Fact(name=name, span=span):
                if name not in FACTS:
                    self.error(f"unknown fact '{name}'{did_you_mean(name, FACTS)}", span)
                    return None
                return FACTS[name].type
            case Header(name=name, span=span):
                if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
                    self.error(f"'{name}' is not a valid HTTP header name", span)
                return STRING
            case Lit(value=value):
                return _literal_type(value)
            case ListLit(items=items, span=span):
                kinds = {_literal_type(item.value) for item in items}
                if len(kinds) > 1:
                    self.error("a list must hold values of one type (all strings or all numbers)", span)
                return LIST
            case Not(arg=arg):
                self.need_bool("'not'", arg)
                return BOOL
            case BoolOp(op=op, left=left, right=right):
                self.need_bool(f"each side of '{op}'", left)
                self.need_bool(f"each side of '{op}'", right)
                return BOOL
            case Compare():
                self.compare(expr)
                return BOOL
        raise TypeError(f"not an expression node: {expr!r}")

    def operand_type(self, expr: Expr, other: Expr) -> FactType[Any] | None:
        """`type_of` for one side of a comparison: a bare word compared with text (`family == sonnet`) is
        most likely a string that lost its quotes, and the message says so."""
        if isinstance(expr, Fact) and expr.name not in FACTS and self.is_text(other):
            hint = did_you_mean(expr.name, FACTS) or (
                f'; a string needs quotes: "{expr.name}"' if expr.name not in ("true", "false") else ""
            )
            self.error(f"unknown fact '{expr.name}'{hint}", expr.span)
            return None
        return self.type_of(expr)

    @staticmethod
    def is_text(expr: Expr) -> bool:
        """A known string or list-of-strings fact, or a header: what a string would be compared with."""
        if isinstance(expr, Header):
            return True
        return isinstance(expr, Fact) and expr.name in FACTS and FACTS[expr.name].type in (STRING, LIST)

    def need_bool(self, where: str, expr: Expr) -> None:
        typ = self.type_of(expr)
        if typ is not None and typ is not BOOL:
            self.error(_not_a_condition(where, expr, typ), expr.span)

    def compare(self, node: Compare) -> None:
        left, right = self.operand_type(node.left, node.right), self.operand_type(node.right, node.left)
        if left is None or right is None:
            return
        op = OPERATORS[node.op]
        if (left, right) not in op.operands:
            self.reject(node, left, right)
            return
        # The types fit the operator's declaration; what is left to check is about the values.
        if node.op in ("==", "!="):
            self.closed_values(node.left, node.right)
            self.closed_values(node.right, node.left)
        elif node.op == "in":
            self.members(node, node.left, left, node.right)
        elif node.op == "contains" and left is LIST:
            self.members(node, node.right, right, node.left)
        elif op.regex:
            self.regex(node)

    def reject(self, node: Compare, left: FactType[Any], right: FactType[Any]) -> None:
        """Say why `left op right` has operand types the operator does not take, as precisely as we can."""
        match node.op:
            case "==" | "!=":
                if left is LIST or right is LIST:
                    self.list_equality(node, left)
                else:
                    self.mismatch(node, left, right)
            case "<" | "<=" | ">" | ">=":
                if left is NUMBER or right is NUMBER:
                    self.mismatch(node, left, right)
                else:
                    self.error(
                        f"'{node.op}' compares numbers, but {describe(node.left)} is {_NOUN[left]}", node.span
                    )
            case "in":
                self.not_membership(node, node.left, left, node.right, right)
            case "contains":
                if left is LIST:
                    self.not_membership(node, node.right, right, node.left, left)
                elif left is STRING:
                    self.mismatch(node, left, right)
                else:
                    self.error(
                        f"'contains' needs text or a list on the left, but {describe(node.left)} is "
                        f"{_NOUN[left]}",
                        node.span,
                    )
            case "matches":
                if left is not STRING:
                    self.error(
                        f"'matches' needs text on the left; {describe(node.left)} is {_NOUN[left]}", node.span
                    )
                else:
                    self.error("'matches' needs a quoted regular expression on the right", node.right.span)
            case _:
                self.error(f"'{node.op}' cannot compare {_NOUN[left]} with {_NOUN[right]}", node.span)

    def list_equality(self, node: Compare, left: FactType[Any]) -> None:
        lst, other = (node.left, node.right) if left is LIST else (node.right, node.left)
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

    def not_membership(
        self, node: Compare, item: Expr, item_t: FactType[Any], coll: Expr, coll_t: FactType[Any]
    ) -> None:
        if coll_t is not LIST:
            hint = ""
            if coll_t is STRING and isinstance(coll, Fact | Header):
                hint = f"; to search text write '{_src(coll)} contains …'"
            self.error(f"'{node.op}' needs a list, but {describe(coll)} is {_NOUN[coll_t]}{hint}", coll.span)
        else:
            self.error(f"'{node.op}' tests one value against a list, not a list against a list", item.span)

    def members(self, node: Compare, item: Expr, item_t: FactType[Any], coll: Expr) -> None:
        """`item in coll`, a value and a list: the value must be of the list's element type."""
        elem = _element_type(coll)
        if elem is not None and elem is not item_t:
            self.error(
                f"{_shown(item)} is {_NOUN[item_t]} but {describe(coll)} holds {_PLURAL[elem]}",
                node.span,
            )
            return
        if isinstance(coll, ListLit):
            for lit in coll.items:
                self.closed_values(item, lit)

    def regex(self, node: Compare) -> None:
        pattern = node.right
        if not (isinstance(pattern, Lit) and isinstance(pattern.value, str)):
            self.error(f"'{node.op}' needs a quoted regular expression on the right", pattern.span)
            return
        try:
            re.compile(pattern.value)
        except re.error as exc:
            # Point inside the quotes when the regex error has a position (exact unless escapes were decoded).
            at = pattern.span.start + 1 + (exc.pos or 0) if exc.pos is not None else pattern.span.start
            at = min(at, pattern.span.end - 1)
            self.error(f"invalid regular expression: {exc.msg}", Span(at, at + 1))

    def mismatch(self, node: Compare, left: FactType[Any], right: FactType[Any]) -> None:
        if isinstance(node.left, Fact):
            subject, other = node.left, right
        elif isinstance(node.right, Fact):
            subject, other = node.right, left
        else:
            self.error(f"cannot compare {_NOUN[left]} with {_NOUN[right]}", node.span)
            return
        subject_t = FACTS[subject.name].type
        hint = ""
        if subject_t is BOOL and other is NUMBER:
            hint = f"; write just '{subject.name}' or 'not {subject.name}'"
        self.error(
            f"cannot compare {_KIND[subject_t]} fact '{subject.name}' with {_NOUN[other]}{hint}", node.span
        )

    def closed_values(self, subject: Expr, value: Expr) -> None:
        """`family == "opuss"` can never be true: say so, with a did-you-mean."""
        if not (isinstance(subject, Fact) and isinstance(value, Lit) and isinstance(value.value, str)):
            return
        spec = FACTS[subject.name]
        if not spec.values or value.value in spec.values:
            return
        shown = ", ".join(v for v in spec.values if v)
        suffix = " (or empty)" if "" in spec.values else ""
        self.error(
            f"{subject.name} is one of {shown}{suffix}{did_you_mean(value.value, spec.values)}",
            value.span,
            "warning" if spec.values_may_grow else "error",
        )


def _shown(expr: Expr) -> str:
    """A literal as written (`3`, `"x"`), anything else by its description."""
    if isinstance(expr, Lit):
        return json.dumps(expr.value)
    return describe(expr)


def _literal_type(value: object) -> FactType[Any]:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, str):
        return STRING
    return NUMBER


def _element_type(coll: Expr) -> FactType[Any] | None:
    if isinstance(coll, Fact):
        return STRING  # a list fact is a list of strings
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
            return _compare_literals(OPERATORS[op], a, b)
    return None


def _compare_literals(op: Operator, a: object, b: object) -> bool | None:
    """`a op b` for two literals, by the evaluator's own test, when the checker accepts their types."""
    if (_literal_type(a), _literal_type(b)) not in op.operands:
        return None
    right: object = b
    if op.regex:
        try:
            right = re.compile(str(b))
        except re.error:
            return None
    return op.test(a, right)


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
