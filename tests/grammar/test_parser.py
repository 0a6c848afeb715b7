"""The rule-expression parser: precedence, every literal and operator, spans, and friendly syntax errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion

from claude_any.grammar import ExprSyntaxError, parse, read_number, render_caret, to_json
from claude_any.grammar.ast import BoolOp, Compare, Expr, Fact, Header, ListLit, Lit, Not


def shape(expr: Expr) -> str:
    """An s-expression of the tree, so precedence reads at a glance."""
    match expr:
        case Fact(name=name):
            return name
        case Header(name=name):
            return f"header:{name}"
        case Lit(value=value):
            return repr(value)
        case ListLit(items=items):
            return "[" + " ".join(repr(i.value) for i in items) + "]"
        case Not(arg=arg):
            return f"(not {shape(arg)})"
        case BoolOp(op=op, left=left, right=right) | Compare(op=op, left=left, right=right):
            return f"({op} {shape(left)} {shape(right)})"
    raise AssertionError(expr)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a or b and c", "(or a (and b c))"),
        ("a and b or c", "(or (and a b) c)"),
        ("not a and b", "(and (not a) b)"),
        ("not a or not b", "(or (not a) (not b))"),
        ("not not a", "(not (not a))"),
        ("a or b or c", "(or (or a b) c)"),
        ("a and b and c", "(and (and a b) c)"),
        ("(a or b) and c", "(and (or a b) c)"),
        ("not tokens > 5", "(not (> tokens 5))"),
        ("tokens > 5 and thinking or has_image", "(or (and (> tokens 5) thinking) has_image)"),
        ("x == 1 or y != 2 and not z", "(or (== x 1) (and (!= y 2) (not z)))"),
        ("((a))", "a"),
    ],
)
def test_precedence(text: str, expected: str) -> None:
    assert shape(parse(text)) == expected


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">=", "in", "contains", "matches"])
def test_every_comparison_operator(op: str) -> None:
    assert shape(parse(f"left {op} right")) == f"({op} left right)"
    if not op.isalpha():  # symbols need no spaces around them
        assert shape(parse(f"left{op}right")) == f"({op} left right)"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100", 100),
        ("0", 0),
        ("1.5", 1.5),
        ("100k", 100_000),
        ("100K", 100_000),
        ("1.5m", 1_500_000),
        ("2M", 2_000_000),
        ("0.5k", 500),
        ("1.0", 1),
        ("-3", -3),
        ('"opus"', "opus"),
        ("'opus'", "opus"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'it\\'s'", "it's"),
        ('"a\\\\b"', "a\\b"),
        ('"tab\\there"', "tab\there"),
        ('"\\u00e9"', "é"),
        ('"^claude-\\d+$"', "^claude-\\d+$"),  # unknown escapes stay, so regexes read naturally
        ('""', ""),
        ("true", True),
        ("false", False),
    ],
)
def test_literals(text: str, value: Any) -> None:
    expr = parse(f"x == {text}")
    assert isinstance(expr, Compare) and isinstance(expr.right, Lit)
    assert expr.right.value == value
    assert type(expr.right.value) is type(value)


def test_lists() -> None:
    expr = parse("family in [\"opus\", 'sonnet', 3, 1.5k, true,]")
    assert isinstance(expr, Compare) and isinstance(expr.right, ListLit)
    assert [i.value for i in expr.right.items] == ["opus", "sonnet", 3, 1500, True]
    empty = parse("x in []")
    assert isinstance(empty, Compare) and empty.right == ListLit((), empty.right.span)


def test_header_call() -> None:
    expr = parse('header("X-Team") == "infra"')
    assert isinstance(expr, Compare) and expr.left == Header("X-Team", expr.left.span)
    assert to_json(expr)["left"] == {"op": "header", "name": "x-team", "span": [0, 16]}


def test_keywords_are_reserved_but_prefixes_are_names() -> None:
    assert shape(parse("android or notes and inside")) == "(or android (and notes inside))"
    assert shape(parse("true_thing")) == "true_thing"


def test_spans_cover_the_source() -> None:
    text = 'tokens > 100k and "Bash" in tools'
    expr = parse(text)
    assert isinstance(expr, BoolOp)
    assert text[expr.span.start : expr.span.end] == text
    assert text[expr.left.span.start : expr.left.span.end] == "tokens > 100k"
    assert isinstance(expr.right, Compare)
    assert text[expr.right.left.span.start : expr.right.left.span.end] == '"Bash"'


def test_json_ast() -> None:
    assert to_json(parse('not thinking or model matches "^gpt"')) == {
        "op": "or",
        "span": [0, 36],
        "args": [
            {"op": "not", "span": [0, 12], "arg": {"op": "fact", "name": "thinking", "span": [4, 12]}},
            {
                "op": "matches",
                "span": [16, 36],
                "left": {"op": "fact", "name": "model", "span": [16, 21]},
                "right": {"op": "lit", "value": "^gpt", "span": [30, 36]},
            },
        ],
    }
    assert to_json(parse("x in [1, 2]"))["right"] == {"op": "lit", "value": [1, 2], "span": [5, 11]}


MALFORMED = [
    "",
    "   ",
    "tokens >",
    "tokens > > 5",
    "(tokens > 5",
    "((a) or b",
    "tokens > 5)",
    "]",
    '"abc',
    "family == 'opus",
    "tokens $ 5",
    "tokens = 5",
    "a && b",
    "a || b",
    "!thinking",
    "a < b < c",
    "tokens 5",
    "tokens > 5 and",
    "a and or b",
    "in tools",
    "not",
    "x in [1, 2",
    "x in [tokens]",
    "x in [1 2]",
    "x in [1, [2]]",
    "header(x) == 1",
    "header == 1",
    'header("x"',
    "tokens > 100kb",
    "true false",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_syntax_errors_are_friendly(text: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse(text)
    err = info.value
    assert 1 <= err.column <= len(text) + 1
    assert err.length >= 1
    for lark_word in ("Unexpected", "Token(", "Expected one of", "$END", "Tree("):
        assert lark_word not in err.message


def test_syntax_error_messages(snapshot: SnapshotAssertion) -> None:
    rendered = []
    for text in MALFORMED:
        with pytest.raises(ExprSyntaxError) as info:
            parse(text)
        err = info.value
        caret = render_caret(text, err.start, err.end)
        rendered.append(f"{text!r}\n  col {err.column}: {err.message}\n  " + caret.replace("\n", "\n  "))
    assert "\n\n".join(rendered) == snapshot


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("tokens >", 9, "expected a value after '>'"),
        ('model == "abc', 10, 'unclosed string: add the closing "'),
        ("tokens $ 5", 8, "unknown character '$'"),
        ("(tokens > 5", 1, "unbalanced parenthesis: this '(' is never closed (missing ')')"),
        ("tokens > 5)", 11, "unbalanced parenthesis: this ')' has no matching '('"),
        ("thinking && tokens > 5", 10, "use 'and' instead of '&&'"),  # what was written, not '&'
        ("thinking & tokens > 5", 10, "use 'and' instead of '&'"),
        ("thinking || tokens > 5", 10, "use 'or' instead of '||'"),
    ],
)
def test_key_messages_and_columns(text: str, column: int, message: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse(text)
    assert (info.value.column, info.value.message) == (column, message)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failure
@given(st.text(alphabet="abtokens ()[]\"'<>=!&|,.0123456789km\\$ \t", max_size=40))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parse(text)
    except ExprSyntaxError as err:
        assert 1 <= err.column <= len(text) + 1
        assert "Unexpected" not in err.message


@pytest.mark.parametrize(
    ("text", "value"),
    [("200k", 200_000), ("1.5m", 1_500_000), ("100000", 100_000), (" 7 ", 7), ("0.5", 0.5), ("2K", 2000)],
)
def test_read_number_takes_what_rules_take(text: str, value: float) -> None:
    assert read_number(text) == value
    rule = parse(f"tokens > {text.strip()}")
    assert isinstance(rule, Compare) and isinstance(rule.right, Lit) and rule.right.value == value


@pytest.mark.parametrize("text", ["", "k", "1e5", "200 k", "200kk", "1,000", "tokens", "0x10"])
def test_read_number_refuses_what_is_not_one_number(text: str) -> None:
    with pytest.raises(ValueError, match="is not a number; write digits with an optional k or m"):
        read_number(text)
