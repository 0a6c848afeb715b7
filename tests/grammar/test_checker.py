"""The type checker: unknown facts, type mismatches, regexes, closed value sets, constant folding, carets."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from claude_any import suggest
from claude_any.compiler import diagnostics
from claude_any.grammar import FACTS, ExprError, always_true, check, checker, parse, render_caret, to_json
from claude_any.grammar.checker import always_false, constant
from claude_any.grammar.parser import _parser
from claude_any.runtime.route.facts import (
    BOOL,
    FACT_NAMES,
    FACT_TYPES,
    LIST,
    NUMBER,
    STRING,
    FactType,
    facts_from_request,
)
from claude_any.runtime.route.operators import OPERATORS
from claude_any.runtime.route.rules import compile_rule


def errors(text: str) -> list[ExprError]:
    return check(parse(text))


def messages(text: str) -> list[str]:
    return [e.message for e in errors(text)]


VALID = [
    "tokens > 100k",
    'thinking and family == "opus"',
    'has_image or "WebSearch" in tools',
    'model matches "^claude-(opus|sonnet)-\\d"',
    'system contains "You are"',
    'tools contains "Bash"',
    'family in ["opus", "sonnet"]',
    "max_tokens in [1000, 2000]",
    "messages >= 10 and stream",
    'header("x-team") == "infra"',
    'effort == "high" or effort == ""',
    "not thinking",
    "tokens > max_tokens",
    "thinking_budget > 10k or true",
    "true",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_rules_have_no_errors(text: str) -> None:
    assert errors(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tokns > 5", "unknown fact 'tokns'; did you mean 'tokens'?"),
        ("modle matches 'x'", "unknown fact 'modle'; did you mean 'model'?"),
        ("zzz", "unknown fact 'zzz'"),
        ('tokens > "big"', "cannot compare number fact 'tokens' with a string"),
        ("family == 3", "cannot compare string fact 'family' with a number"),
        (
            "thinking > 1",
            "cannot compare bool fact 'thinking' with a number; write just 'thinking' or 'not thinking'",
        ),
        (
            "thinking == 1",
            "cannot compare bool fact 'thinking' with a number; write just 'thinking' or 'not thinking'",
        ),
        ('tools == "x"', "cannot compare list fact 'tools' with a string; did you mean '\"x\" in tools'?"),
        ('model < "b"', "'<' compares numbers, but 'model' is a string"),
        (
            '"x" in system',
            "'in' needs a list, but 'system' is a string; to search text write 'system contains …'",
        ),
        ('tokens in ["a"]', "'tokens' is a number but a list holds strings"),
        ("tools contains 3", "3 is a number but 'tools' holds strings"),
        ("model matches 3", "'matches' needs a quoted regular expression on the right"),
        ('tokens matches "x"', "'matches' needs text on the left; 'tokens' is a number"),
        ('model matches "("', "invalid regular expression: missing ), unterminated subpattern"),
        (
            'family == "opuss"',
            "family is one of opus, sonnet, haiku, fable, mythos, other; did you mean 'opus'?",
        ),
        (
            'family != "Sonnet"',
            "family is one of opus, sonnet, haiku, fable, mythos, other; did you mean 'sonnet'?",
        ),
        (
            'family in ["opus", "hiaku"]',
            "family is one of opus, sonnet, haiku, fable, mythos, other; did you mean 'haiku'?",
        ),
        ("model", "a rule must be true or false, but 'model' is a string (compare it, e.g. model == \"…\")"),
        ("tokens", "a rule must be true or false, but 'tokens' is a number (compare it, e.g. tokens > 0)"),
        (
            "tools",
            "a rule must be true or false, but 'tools' is a list (test membership, e.g. \"Bash\" in tools)",
        ),
        (
            "tokens and thinking",
            "each side of 'and' must be true or false, but 'tokens' is a number (compare it, "
            "e.g. tokens > 0)",
        ),
        (
            "not system",
            "'not' must be true or false, but 'system' is a string (compare it, e.g. system == \"…\")",
        ),
        ('x in [1, "a"]', "a list must hold values of one type (all strings or all numbers)"),
        ('tools == ["a"]', "'==' cannot compare lists; test membership with 'in'"),
        ('header("bad name") == ""', "'bad name' is not a valid HTTP header name"),
        ('3 > "x"', "cannot compare a number with a string"),
        # A bare word compared with text is a string that lost its quotes.
        ("family == sonnet", "unknown fact 'sonnet'; a string needs quotes: \"sonnet\""),
        ("Bash in tools", "unknown fact 'Bash'; a string needs quotes: \"Bash\""),
        ('header("x-team") != research', "unknown fact 'research'; a string needs quotes: \"research\""),
        ("family == famly", "unknown fact 'famly'; did you mean 'family'?"),
        ("tokens > big", "unknown fact 'big'"),
        # A literal is shown as written, with no advice to compare it with something.
        ("5", "a rule must be true or false, but 5 is a number"),
    ],
)
def test_errors(text: str, expected: str) -> None:
    assert expected in messages(text)


def test_a_literal_condition_gets_no_advice_about_itself() -> None:
    assert messages("5") == ["a rule must be true or false, but 5 is a number"]


def test_unknown_fact_reported_once_without_cascade() -> None:
    assert messages('tokns > "big" and family == "opus"') == ["unknown fact 'tokns'; did you mean 'tokens'?"]


def test_several_errors_in_source_order() -> None:
    found = errors('tokns > 1 or family == "opuss" or model matches "["')
    assert [e.span.start for e in found] == sorted(e.span.start for e in found)
    assert len(found) == 3


def test_effort_typo_is_a_warning_family_typo_an_error() -> None:
    (effort,) = errors('effort == "hgih"')
    assert effort.level == "warning" and "did you mean 'high'?" in effort.message
    (family,) = errors('family == "opuss"')
    assert family.level == "error"


def test_regex_error_points_inside_the_string() -> None:
    text = 'model matches "ab[c"'
    (err,) = errors(text)
    assert text[err.span.start] == "["


def test_error_spans_point_at_the_culprit() -> None:
    text = 'tokens > 5 and family == "opuss"'
    (err,) = errors(text)
    assert text[err.span.start : err.span.end] == '"opuss"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("not false", True),
        ("thinking or true", True),
        ("true or thinking", True),
        ("(tokens > 5 or true) and true", True),
        ("1 < 2", True),
        ('"a" == "a"', True),
        ("not (thinking and false)", True),
        ("false", False),
        ("thinking", False),
        ("thinking and true", False),
        ("tokens > 0", False),
        ("thinking or not thinking", False),  # true, but the folding is deliberately conservative
        ("1 > 2", False),
    ],
)
def test_always_true(text: str, expected: bool) -> None:
    assert always_true(parse(text)) is expected


@pytest.mark.parametrize(
    ("text", "expected"), [("false", True), ("thinking and false", True), ("thinking", False)]
)
def test_always_false(text: str, expected: bool) -> None:
    assert always_false(parse(text)) is expected


def test_render_caret() -> None:
    assert render_caret("tokens > big", 9, 12) == "tokens > big\n         ^~~"
    assert render_caret("a", 0, 0) == "a\n^"
    # A span running past the end of its line is clipped to that line.
    assert render_caret("one\ntwo three", 4, 100) == "two three\n^~~~~~~~~"
    assert render_caret("\tx == 1", 1, 2) == "\tx == 1\n\t^"


def test_checker_messages_with_carets(snapshot: SnapshotAssertion) -> None:
    cases = [
        'tokns > 100k or family == "opuss"',
        'thinking > 1 and tools == "Bash"',
        'model matches "claude-(opus" and tokens > "big"',
        '"Read" in system and effort == "hihg"',
    ]
    out = []
    for text in cases:
        for err in errors(text):
            caret = render_caret(text, err.span.start, err.span.end)
            out.append(f"{err.level}: {err.message}\n{caret}")
    assert "\n\n".join(out) == snapshot


def test_checker_and_runtime_agree_on_fact_names() -> None:
    assert set(FACTS) == set(FACT_NAMES)


# The checker follows the declarations in the runtime (runtime/route/facts.py, runtime/route/operators.py).

LEFT = {STRING: "model", NUMBER: "tokens", BOOL: "thinking"}
VALUE = {STRING: '"x"', NUMBER: "1", BOOL: "true"}


def operand_pair(left: FactType[Any], right: FactType[Any]) -> tuple[str, str]:
    """A left and a right operand of these types that are fine apart from the pair (lists hold the other)."""
    if left is LIST and right is LIST:
        return "tools", '["x"]'
    if left is LIST:
        return f"[{VALUE[right]}]", VALUE[right]
    if right is LIST:
        return LEFT[left], f"[{VALUE[left]}]"
    return LEFT[left], VALUE[right]


@pytest.mark.parametrize("symbol", list(OPERATORS))
def test_the_checker_takes_exactly_the_operand_types_each_operator_declares(symbol: str) -> None:
    for left in FACT_TYPES:
        for right in FACT_TYPES:
            left_text, right_text = operand_pair(left, right)
            text = f"{left_text} {symbol} {right_text}"
            accepted = (left, right) in OPERATORS[symbol].operands
            assert (errors(text) == []) is accepted, (text, errors(text))


def test_the_grammar_parses_exactly_the_declared_operators() -> None:
    terminals = {t.name: t.pattern.value for t in _parser().terminals}
    compare = terminals["COMPARE"].removeprefix("(?:").removesuffix(")").split("|")
    assert {*compare, terminals["IN"], terminals["CONTAINS"], terminals["MATCHES"]} == set(OPERATORS)


@pytest.mark.parametrize(
    "text",
    [
        '"abc" matches "b"',
        '"abc" matches "^b"',
        '"abc" contains "b"',
        "1 == 1.0",
        "2 >= 2",
        "2 < 1.5",
        '"a" != "b"',
        "true == false",
    ],
)
def test_constant_folding_gives_the_evaluators_answer(text: str) -> None:
    expr = parse(text)
    assert errors(text) == []
    folded = constant(expr)
    assert folded is not None
    assert folded is compile_rule(to_json(expr))(facts_from_request({}))


def test_folding_leaves_mistyped_and_invalid_comparisons_alone() -> None:
    assert constant(parse("1 == true")) is None  # the checker reports it; true == 1 is no answer
    assert constant(parse('"a" matches "("')) is None


@pytest.mark.parametrize("name", list(FACTS))
def test_every_declared_fact_checks_with_its_type(name: str) -> None:
    typ = FACTS[name].type
    sample = {STRING: f'{name} == ""', NUMBER: f"{name} > 0", BOOL: name, LIST: f'"x" in {name}'}[typ]
    if FACTS[name].values:
        sample = f'{name} == "{FACTS[name].values[0]}"'
    assert errors(sample) == []


def test_closed_values_come_from_the_declaration() -> None:
    assert FACTS["family"].values == ("opus", "sonnet", "haiku", "fable", "mythos", "other")
    assert [(e.level, e.message) for e in errors('family == "sonet" or effort == "hihg"')] == [
        ("error", "family is one of opus, sonnet, haiku, fable, mythos, other; did you mean 'sonnet'?"),
        ("warning", "effort is one of low, medium, high, xhigh, max (or empty); did you mean 'high'?"),
    ]


def test_one_did_you_mean_for_rules_and_config() -> None:
    assert checker.did_you_mean is diagnostics.did_you_mean is suggest.did_you_mean
    assert suggest.did_you_mean("tokns", FACTS) == "; did you mean 'tokens'?"
    assert suggest.did_you_mean("zzz", FACTS) == ""
    assert suggest.closest("opnai", ["openai", "azure"]) == "openai"
