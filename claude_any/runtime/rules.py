"""Evaluation of the JSON rule AST stored in routes.json (docs/ARCHITECTURE.md, "Rule AST").

`compile_rule` turns a node into a closure once at start-up (regexes compiled there), so a request only
runs plain Python comparisons. The compiler has type-checked every rule; here an odd value simply makes a
comparison false instead of raising, because a request must never fail inside the router. A malformed
AST (a hand-edited routes.json) is rejected at compile time with RuleError.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from claude_any.runtime.facts import FACT_NAMES, Facts

Value = Any  # str | int | float | bool | list | tuple: whatever a fact or literal holds
Evaluator = Callable[[Facts], Value]

_BOOL_OPS = {"and", "or", "not"}
_COMPARE_OPS = {"==", "!=", "<", "<=", ">", ">=", "in", "contains", "matches"}


class RuleError(ValueError):
    """A rule AST that this runtime cannot evaluate (routes.json is malformed or from another version)."""


@dataclass(frozen=True)
class Trace:
    """What one rule saw: its result and every fact it mentions, with the value (in source order)."""

    result: bool
    reads: tuple[tuple[str, Value], ...]


def compile_rule(node: Any) -> Callable[[Facts], bool]:
    """A predicate for a rule's `when` AST; raises RuleError for a malformed AST."""
    evaluate_node = _compile(node)
    return lambda facts: evaluate_node(facts) is True


def evaluate(node: Any, facts: Facts) -> Value:
    """The value of any AST node (usually a bool) for `facts`. Compiles on every call: use compile_rule."""
    return _compile(node)(facts)


def trace(node: Any, facts: Facts) -> Trace:
    """The rule's result with the facts it mentions, e.g. `tokens > 100k` -> (False, [("tokens", 4210)])."""
    reads: dict[str, Value] = {}
    for label, read in _reads(node):
        if label not in reads:
            reads[label] = read(facts)
    return Trace(compile_rule(node)(facts), tuple(reads.items()))


def referenced(node: Any) -> list[str]:
    """Labels of the facts a rule mentions (`tokens`, `header("x-team")`), in source order, no repeats."""
    return list(dict.fromkeys(label for label, _ in _reads(node)))


# ---------------------------------------------------------------------------------------------------------


def _reads(node: Any) -> list[tuple[str, Evaluator]]:
    if not isinstance(node, dict):
        return []
    op = node.get("op")
    if op in ("fact", "header"):
        label = node["name"] if op == "fact" else f'header("{node["name"]}")'
        return [(label, _compile(node))]
    children: list[Any] = []
    if op == "not":
        children = [node.get("arg")]
    elif op in ("and", "or"):
        children = list(node.get("args") or [])
    elif op in _COMPARE_OPS:
        children = [node.get("left"), node.get("right")]
    return [read for child in children for read in _reads(child)]


def _compile(node: Any) -> Evaluator:
    if not isinstance(node, dict) or not isinstance(node.get("op"), str):
        raise RuleError(f"not a rule node: {node!r:.80}")
    op = node["op"]
    if op == "fact":
        return _fact(node)
    if op == "header":
        name = node.get("name")
        if not isinstance(name, str):
            raise RuleError("header node without a name")
        lowered = name.lower()
        return lambda facts: facts.header(lowered)
    if op == "lit":
        value = _literal(node.get("value"))
        return lambda facts: value
    if op in _BOOL_OPS:
        return _boolean(op, node)
    if op in _COMPARE_OPS:
        return _comparison(op, node)
    raise RuleError(f"unknown rule operator {op!r}")


def _fact(node: dict[str, Any]) -> Evaluator:
    name = node.get("name")
    if name not in FACT_NAMES:
        raise RuleError(f"unknown fact {name!r}")
    # A bound attribute lookup: the lazy facts (tokens, has_image, system) compute on first read only.
    return lambda facts: getattr(facts, name)


def _literal(value: Any) -> Value:
    if isinstance(value, list):
        return _Members([_literal(v) for v in value])
    if isinstance(value, str | int | float | bool):
        return value
    raise RuleError(f"unsupported literal {value!r:.80}")


class _Members(tuple[Any, ...]):
    """A literal list: a tuple (for traces and equality) with a typed set beside it for O(1) membership."""

    _keys: frozenset[tuple[str, Any]]

    def __new__(cls, items: list[Any]) -> _Members:
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


def _boolean(op: str, node: dict[str, Any]) -> Evaluator:
    if op == "not":
        arg = _compile(node.get("arg"))
        return lambda facts: arg(facts) is not True
    args = node.get("args")
    if not isinstance(args, list) or not args:
        raise RuleError(f"'{op}' node without args")
    parts = tuple(_compile(a) for a in args)
    if op == "and":
        return lambda facts: all(part(facts) is True for part in parts)
    return lambda facts: any(part(facts) is True for part in parts)


def _comparison(op: str, node: dict[str, Any]) -> Evaluator:
    left = _compile(node.get("left"))
    if op == "matches":
        right_node = node.get("right")
        pattern = right_node.get("value") if isinstance(right_node, dict) else None
        if not isinstance(pattern, str):
            raise RuleError("'matches' needs a string literal on the right")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise RuleError(f"invalid regular expression {pattern!r}: {exc}") from exc
        # search, not match: anchor with ^ and $ in the pattern when needed (like grep).
        return lambda facts: _matches(regex, left(facts))
    right = _compile(node.get("right"))
    test = _TESTS[op]
    return lambda facts: test(left(facts), right(facts))


def _matches(regex: re.Pattern[str], value: Value) -> bool:
    return isinstance(value, str) and regex.search(value) is not None


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


def _in(item: Value, collection: Value) -> bool:
    if isinstance(collection, _Members):
        return item in collection
    if isinstance(collection, tuple | list):  # a list fact: tools, a tuple of strings
        return isinstance(item, str) and item in collection
    return False


def _contains(container: Value, item: Value) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    return _in(item, container)


_TESTS: dict[str, Callable[[Value, Value], bool]] = {
    "==": _eq,
    "!=": lambda a, b: not _eq(a, b),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
    "in": _in,
    "contains": _contains,
}
