"""Evaluation of the JSON rule AST stored in routes.json (docs/ARCHITECTURE.md, "Rule AST").

`compile_rule` turns a node into a closure once at start-up (regexes compiled there), so a request only
runs plain Python comparisons. The compiler has type-checked every rule; here an odd value simply makes a
comparison false instead of raising, because a request must never fail inside the router. A malformed
AST (a hand-edited routes.json) is rejected at compile time with RuleError.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from claude_any.runtime.route.facts import FACTS, Facts
from claude_any.runtime.route.operators import OPERATORS, Members
from claude_any.runtime.route.operators import Value as Value

Evaluator = Callable[[Facts], Value]

_BOOL_OPS = {"and", "or", "not"}


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
    elif op in OPERATORS:
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
    if op in OPERATORS:
        return _comparison(op, node)
    raise RuleError(f"unknown rule operator {op!r}")


def _fact(node: dict[str, Any]) -> Evaluator:
    name = node.get("name")
    if not isinstance(name, str) or name not in FACTS:
        raise RuleError(f"unknown fact {name!r}")
    # An attribute read: each fact is computed on its first read only (facts.py), then a dict lookup.
    return operator.attrgetter(name)


def _literal(value: Any) -> Value:
    if isinstance(value, list):
        return Members([_literal(v) for v in value])
    if isinstance(value, str | int | float | bool):
        return value
    raise RuleError(f"unsupported literal {value!r:.80}")


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
    test = OPERATORS[op].test
    if OPERATORS[op].regex:
        right_node = node.get("right")
        pattern = right_node.get("value") if isinstance(right_node, dict) else None
        if not isinstance(pattern, str):
            raise RuleError(f"'{op}' needs a string literal on the right")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise RuleError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return lambda facts: test(left(facts), regex)
    right = _compile(node.get("right"))
    return lambda facts: test(left(facts), right(facts))
