"""The compare operators of the rule language, each declared once: the operand types it takes (which the
checker enforces at compile time) and the test it runs (which the evaluator calls per request and the
checker's constant folding calls on literals, so both give the same answer).

A test never raises: the checker has ruled out mismatched operands, and any odd value that still arrives
(a hand-edited routes.json) makes the comparison false, because a request must never fail in the router.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from claude_any.runtime.route.facts import BOOL, LIST, NUMBER, STRING, FactType

Value = Any  # str | int | float | bool | tuple | re.Pattern: whatever a fact or literal holds
OperandTypes = frozenset[tuple[FactType[Any], FactType[Any]]]


@dataclass(frozen=True)
class Operator:
    """One compare operator: `left <symbol> right`."""

    symbol: str
    operands: OperandTypes  # the (left, right) types it accepts; a list literal counts as LIST
    test: Callable[[Value, Value], bool]
    regex: bool = False  # the right side is a literal regular expression, compiled once and handed to test


def _is_number(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_kind(a: Value, b: Value) -> bool:
    # bools are ints in Python; `thinking == 1` must not be true.
    return (_is_number(a) and _is_number(b)) or (type(a) is type(b) and not _is_number(a))


def _eq(a: Value, b: Value) -> bool:
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return list(a) == list(b)
    return _same_kind(a, b) and bool(a == b)


def _ordered(cmp: Callable[[Any, Any], bool]) -> Callable[[Value, Value], bool]:
    return lambda a, b: _is_number(a) and _is_number(b) and cmp(a, b)


class Members(tuple[Any, ...]):
    """A list literal: a tuple (for traces and equality) with a typed set beside it for O(1) membership."""

    _keys: frozenset[tuple[str, Any]]

    def __new__(cls, items: list[Any]) -> Members:
        self = super().__new__(cls, items)
        self._keys = frozenset(_key(item) for item in items)
        return self

    def __contains__(self, item: object) -> bool:
        try:
            return _key(item) in self._keys
        except TypeError:  # unhashable: cannot be a member of a list of scalars
            return False


def _key(value: Any) -> tuple[str, Any]:
    # Tag the kind so that `true in [1]` is false although True == 1 in Python.
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    return (type(value).__name__, value)


def _in(item: Value, collection: Value) -> bool:
    if isinstance(collection, Members):
        return item in collection
    if isinstance(collection, tuple | list):  # a list fact: tools, a tuple of strings
        return isinstance(item, str) and item in collection
    return False


def _contains(container: Value, item: Value) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    return _in(item, container)


def _matches(text: Value, pattern: Value) -> bool:
    # search, not match: anchor with ^ and $ in the pattern when needed (like grep).
    return isinstance(text, str) and isinstance(pattern, re.Pattern) and pattern.search(text) is not None


_SCALARS = (STRING, NUMBER, BOOL)
_ALIKE: OperandTypes = frozenset((t, t) for t in _SCALARS)
_NUMBERS: OperandTypes = frozenset({(NUMBER, NUMBER)})

OPERATORS: dict[str, Operator] = {
    op.symbol: op
    for op in (
        Operator("==", _ALIKE, _eq),
        Operator("!=", _ALIKE, lambda a, b: not _eq(a, b)),
        Operator("<", _NUMBERS, _ordered(operator.lt)),
        Operator("<=", _NUMBERS, _ordered(operator.le)),
        Operator(">", _NUMBERS, _ordered(operator.gt)),
        Operator(">=", _NUMBERS, _ordered(operator.ge)),
        Operator("in", frozenset((t, LIST) for t in _SCALARS), _in),
        Operator("contains", frozenset({(STRING, STRING), *((LIST, t) for t in _SCALARS)}), _contains),
        Operator("matches", frozenset({(STRING, STRING)}), _matches, regex=True),
    )
}
