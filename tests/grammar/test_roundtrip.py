"""Text -> AST -> JSON (as stored in routes.json) -> runtime evaluation agrees with what the text means."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_any.grammar import check, parse, to_json
from claude_any.grammar.ast import BoolOp, Compare, Expr, Fact, Header, ListLit, Lit, Not
from claude_any.runtime.route.facts import Facts, facts_from_request
from claude_any.runtime.route.rules import compile_rule


def run(text: str, facts: Facts) -> bool:
    expr = parse(text)
    stored = json.loads(json.dumps(to_json(expr)))  # exactly what routes.json holds
    return compile_rule(stored)(facts)


OPUS_THINKING = facts_from_request(
    {
        "model": "claude-opus-4-6",
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "output_config": {"effort": "high"},
        "tools": [{"name": "Bash"}, {"name": "Read"}],
        "system": [{"type": "text", "text": "You are a careful engineer."}],
        "messages": [{"role": "user", "content": "word " * 3000}],
        "stream": True,
    },
    {"X-Team": "infra"},
)
HAIKU_PLAIN = facts_from_request(
    {"model": "claude-haiku-4-5", "max_tokens": 512, "messages": [{"role": "user", "content": "hi"}]}, {}
)


@pytest.mark.parametrize(
    ("text", "opus", "haiku"),
    [
        ('family == "opus"', True, False),
        ('family != "opus"', False, True),
        ("thinking", True, False),
        ("not thinking", False, True),
        ("tokens > 2k", True, False),
        ("tokens < 100", False, True),
        ("max_tokens >= 32000", True, False),
        ("max_tokens <= 512", False, True),
        ("thinking_budget == 10k", True, False),
        ("thinking_budget == 0", False, True),
        ('effort == "high"', True, False),
        ('effort == ""', False, True),
        ('"Bash" in tools', True, False),
        ('tools contains "Read"', True, False),
        ('"Edit" in tools', False, False),
        ("has_image", False, False),
        ("stream", True, False),
        ("messages == 1", True, True),
        ('system contains "careful"', True, False),
        ('model matches "^claude-(opus|haiku)-4"', True, True),
        ('model matches "sonnet"', False, False),
        ('family in ["opus", "sonnet"]', True, False),
        ("max_tokens in [512, 1024]", False, True),
        ('header("x-team") == "infra"', True, False),
        ('header("X-TEAM") == ""', False, True),
        ('thinking and family == "opus" or tokens > 1m', True, False),
        ('not (thinking or "Bash" in tools)', False, True),
        ("true", True, True),
        ("false or not true", False, False),
    ],
)
def test_rules_mean_what_they_say(text: str, opus: bool, haiku: bool) -> None:
    assert check(parse(text)) == []
    assert run(text, OPUS_THINKING) is opus
    assert run(text, HAIKU_PLAIN) is haiku


# ---------------------------------------------------------------------------------------------------------
# Property: random well-typed rules, printed to text, evaluate the same through JSON as on the AST directly.

NUMBER_FACTS = ["tokens", "max_tokens", "thinking_budget", "messages"]
STRING_FACTS = ["model", "family", "effort", "system"]
WORDS = ["opus", "sonnet", "haiku", "other", "claude", "high", "", "you"]
TOOLS = ["Bash", "Read", "Edit", "WebSearch"]


def number_text(n: int) -> str:
    return f"{n // 1000}k" if n and n % 1000 == 0 else str(n)


numbers = st.sampled_from([0, 1, 100, 512, 1000, 4096, 10_000, 32_000, 100_000])
words = st.sampled_from(WORDS)

atoms = st.one_of(
    st.sampled_from(["thinking", "has_image", "stream", "true", "false"]),
    st.builds(
        lambda f, op, n: f"{f} {op} {number_text(n)}",
        st.sampled_from(NUMBER_FACTS),
        st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
        numbers,
    ),
    st.builds(
        lambda f, op, w: f'{f} {op} "{w}"',
        st.sampled_from(STRING_FACTS),
        st.sampled_from(["==", "!=", "contains"]),
        words,
    ),
    st.builds(lambda f, w: f'{f} matches "^{w}"', st.sampled_from(STRING_FACTS), words),
    st.builds(
        lambda f, ws: f"{f} in {json.dumps(ws)}", st.sampled_from(STRING_FACTS), st.lists(words, max_size=3)
    ),
    st.builds(lambda t: f'"{t}" in tools', st.sampled_from(TOOLS)),
    st.builds(lambda t: f'tools contains "{t}"', st.sampled_from(TOOLS)),
)
rules = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(lambda a: f"not ({a})", inner),
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
    ),
    max_leaves=8,
)
bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(
            ["claude-opus-4-6", "claude-sonnet-4-5[1m]", "claude-haiku-4-5", "gpt-4o", ""]
        ),
        "max_tokens": numbers,
        "thinking": st.sampled_from(
            [{"type": "enabled", "budget_tokens": 10_000}, {"type": "adaptive"}, None]
        ),
        "output_config": st.sampled_from([{"effort": "high"}, {}]),
        "tools": st.lists(st.sampled_from(TOOLS), unique=True).map(lambda ns: [{"name": n} for n in ns]),
        "system": st.sampled_from(["", "you are claude", [{"type": "text", "text": "high effort"}]]),
        "messages": st.lists(st.sampled_from(["hi", "a longer message " * 50]), min_size=1, max_size=4).map(
            lambda ms: [{"role": "user", "content": m} for m in ms]
        ),
        "stream": st.booleans(),
    }
)


def reference(expr: Expr, facts: Facts) -> Any:
    """The meaning of an expression, straight from the grammar AST."""
    match expr:
        case Fact(name=name):
            return facts.get(name)
        case Header(name=name):
            return facts.header(name)
        case Lit(value=value):
            return value
        case ListLit(items=items):
            return [i.value for i in items]
        case Not(arg=arg):
            return not reference(arg, facts)
        case BoolOp(op="and", left=left, right=right):
            return reference(left, facts) and reference(right, facts)
        case BoolOp(op="or", left=left, right=right):
            return reference(left, facts) or reference(right, facts)
        case Compare(op=op, left=left, right=right):
            a, b = reference(left, facts), reference(right, facts)
            if op == "matches":
                return re.search(b, a) is not None
            if op == "in":
                return a in b
            if op == "contains":
                return b in a
            return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    raise AssertionError(expr)


@settings(max_examples=300, deadline=None)
@given(rules, bodies)
def test_json_ast_evaluates_like_the_source(text: str, body: dict[str, Any]) -> None:
    expr = parse(text)
    # Well typed; only "family is one of …" complaints, about values that merely never match.
    assert all("is one of" in e.message for e in check(expr))
    facts = facts_from_request(body, {})
    assert run(text, facts) is bool(reference(expr, facts))
