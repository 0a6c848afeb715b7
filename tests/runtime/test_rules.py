"""The JSON rule AST at run time: every operator, type-safe comparisons, traces, malformed ASTs, laziness."""

from __future__ import annotations

from typing import Any

import pytest

from claude_any.runtime.route import tokens
from claude_any.runtime.route.facts import facts_from_request
from claude_any.runtime.route.operators import OPERATORS
from claude_any.runtime.route.rules import RuleError, Trace, compile_rule, evaluate, referenced, trace

SPAN = [0, 1]


def fact(name: str) -> dict[str, Any]:
    return {"op": "fact", "name": name, "span": SPAN}


def lit(value: Any) -> dict[str, Any]:
    return {"op": "lit", "value": value, "span": SPAN}


def cmp(op: str, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "left": left, "right": right, "span": SPAN}


def both(op: str, *args: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "args": list(args), "span": SPAN}


FACTS = facts_from_request(
    {
        "model": "claude-opus-4-6",
        "max_tokens": 32000,
        "thinking": {"type": "adaptive"},
        "tools": [{"name": "Bash"}, {"name": "Read"}],
        "system": "You are Claude Code.",
        "messages": [{"role": "user", "content": "hi"}],
    },
    {"x-team": "infra"},
)


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (cmp("==", fact("family"), lit("opus")), True),
        (cmp("!=", fact("family"), lit("opus")), False),
        (cmp("<", fact("max_tokens"), lit(32001)), True),
        (cmp("<", fact("max_tokens"), lit(32000)), False),
        (cmp("<=", fact("max_tokens"), lit(32000)), True),
        (cmp(">", fact("max_tokens"), lit(32000)), False),
        (cmp(">=", fact("max_tokens"), lit(32000)), True),
        (cmp(">", fact("max_tokens"), lit(31999.5)), True),
        (cmp("in", lit("Bash"), fact("tools")), True),
        (cmp("in", lit("Edit"), fact("tools")), False),
        (cmp("in", fact("family"), lit(["opus", "sonnet"])), True),
        (cmp("in", fact("family"), lit([])), False),
        (cmp("contains", fact("tools"), lit("Read")), True),
        (cmp("contains", fact("system"), lit("Claude Code")), True),
        (cmp("contains", fact("system"), lit("claude code")), False),  # case-sensitive
        (cmp("matches", fact("model"), lit("opus-4")), True),  # search, not full match
        (cmp("matches", fact("model"), lit("^opus")), False),
        (cmp("matches", fact("model"), lit("(?i)^CLAUDE")), True),
        (fact("thinking"), True),
        ({"op": "not", "arg": fact("thinking"), "span": SPAN}, False),
        (both("and", fact("thinking"), cmp("==", fact("family"), lit("opus"))), True),
        (both("and", fact("thinking"), fact("stream")), False),
        (both("or", fact("stream"), fact("has_image")), False),
        (both("or", fact("stream"), fact("thinking")), True),
        (both("or", fact("stream"), fact("has_image"), fact("thinking")), True),  # n-ary is fine
        (cmp("==", {"op": "header", "name": "x-team", "span": SPAN}, lit("infra")), True),
        (cmp("==", {"op": "header", "name": "X-Team", "span": SPAN}, lit("infra")), True),
        (cmp("==", {"op": "header", "name": "x-other", "span": SPAN}, lit("")), True),
        (lit(True), True),
        (lit(False), False),
    ],
)
def test_operators(node: dict[str, Any], expected: bool) -> None:
    assert compile_rule(node)(FACTS) is expected
    assert evaluate(node, FACTS) is expected


@pytest.mark.parametrize(
    "node",
    [
        cmp("==", fact("thinking"), lit(1)),  # bools are not numbers
        cmp("in", fact("thinking"), lit([1, 0])),
        cmp("in", lit(1), lit([True])),
        cmp(">", fact("family"), lit(3)),  # wrong types compare false instead of raising
        cmp("<", fact("model"), lit("zzz")),
        cmp("in", lit("a"), fact("system")),
        cmp("contains", fact("max_tokens"), lit(3)),
        cmp("matches", fact("tools"), lit("Bash")),
        cmp("==", fact("max_tokens"), lit("32000")),
        cmp("in", lit(3), fact("tools")),
    ],
)
def test_mistyped_comparisons_are_false_not_errors(node: dict[str, Any]) -> None:
    assert compile_rule(node)(FACTS) is False


def test_non_bool_rule_is_not_true() -> None:
    assert compile_rule(fact("model"))(FACTS) is False
    assert evaluate(fact("model"), FACTS) == "claude-opus-4-6"


@pytest.mark.parametrize(
    "node",
    [
        None,
        "tokens > 5",
        {"op": "fact", "name": "body"},
        {"op": "fact"},
        {"op": "xor", "args": []},
        {"op": "and", "args": []},
        {"op": "header"},
        {"op": "lit", "value": {"a": 1}},
        cmp("matches", fact("model"), lit("(")),
        cmp("matches", fact("model"), fact("system")),
        cmp("==", fact("model"), {"op": "lit"}),
    ],
)
def test_malformed_asts_fail_at_compile_time(node: Any) -> None:
    with pytest.raises(RuleError):
        compile_rule(node)


def test_trace_lists_every_fact_mentioned() -> None:
    node = both(
        "or",
        cmp(">", fact("tokens"), lit(100_000)),
        both(
            "and", fact("thinking"), cmp("==", {"op": "header", "name": "x-team", "span": SPAN}, lit("infra"))
        ),
        cmp("<", fact("tokens"), lit(0)),
    )
    seen = trace(node, FACTS)
    assert seen == Trace(True, (("tokens", FACTS.tokens), ("thinking", True), ('header("x-team")', "infra")))
    assert referenced(node) == ["tokens", "thinking", 'header("x-team")']


def test_trace_of_false_rule() -> None:
    seen = trace(cmp(">", fact("tokens"), lit(100_000)), FACTS)
    assert seen.result is False
    assert seen.reads == (("tokens", FACTS.tokens),)


def test_rules_only_compute_the_facts_they_read(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def counting(body: Any) -> int:
        calls.append(body)
        return 7

    monkeypatch.setattr(tokens, "estimate", counting)
    facts = facts_from_request({"model": "claude-haiku-4-5"}, {})
    # `and` short-circuits: tokens is never estimated when the family already fails.
    rule = compile_rule(both("and", cmp("==", fact("family"), lit("opus")), cmp(">", fact("tokens"), lit(1))))
    assert rule(facts) is False
    assert calls == []
    assert compile_rule(cmp(">", fact("tokens"), lit(1)))(facts) is True
    assert len(calls) == 1


def test_the_evaluator_runs_every_declared_operator_and_no_other() -> None:
    for symbol, operator in OPERATORS.items():
        right = lit("x") if operator.regex else fact("tools")
        assert compile_rule(cmp(symbol, fact("model"), right))(FACTS) in (True, False)
    with pytest.raises(RuleError, match="unknown rule operator"):
        compile_rule(cmp("=~", fact("model"), lit("x")))
