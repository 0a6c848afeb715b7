"""Positions of YAML nodes, and of characters inside scalars (for rule-expression errors)."""

from __future__ import annotations

import pytest

from claude_any.compiler.diagnostics import Diagnostics
from claude_any.compiler.yamlpos import Mapping, Scalar, Sequence, load


def when_of(text: str) -> Scalar:
    diags = Diagnostics()
    root = load(text, "f.yaml", diags).root
    assert isinstance(root, Mapping) and not diags.sorted()
    node = root.get("when")
    assert isinstance(node, Scalar)
    return node


@pytest.mark.parametrize(
    ("text", "offset", "line", "col"),
    [
        ("when: tokens > 1\n", 9, 1, 16),  # plain
        ('when: "tokens > 1"\n', 9, 1, 17),  # double quoted: +1 for the quote
        ('when: "a\\tb == \\"x\\""\n', 7, 1, 16),  # an escape is found where its backslash is
        ("when: 'it''s == x'\n", 3, 1, 12),  # '' is one quote in the value
        ("when: |\n  thinking and\n    tokens > 1\n", 15, 3, 5),  # literal block: indentation skipped
        ("when: >\n  thinking and\n  tokens > 1\n", 13, 3, 3),  # folded block
        ("when: thinking and\n  tokens > 1\n", 13, 2, 3),  # multi-line plain scalar
    ],
)
def test_position_inside_scalar(text: str, offset: int, line: int, col: int) -> None:
    node = when_of(text)
    pos = node.position_at(offset)
    assert (pos.line, pos.col) == (line, col)


def test_offset_at_the_end_points_just_after_the_text() -> None:
    pos = when_of("when: tokens >\n").position_at(8)
    assert (pos.line, pos.col) == (1, 15)


def test_references_in_flow_mappings_are_plain_strings() -> None:
    diags = Diagnostics()
    root = load("a: {key: ${KEY}, other: x-${B}-y}\n", "f.yaml", diags).root
    assert isinstance(root, Mapping)
    inner = root.get("a")
    assert isinstance(inner, Mapping)
    values = {k.text: v.value for k, v in inner.items if isinstance(v, Scalar)}
    assert values == {"key": "${KEY}", "other": "x-${B}-y"}
    other = inner.get("other")
    assert isinstance(other, Scalar) and (other.pos.line, other.pos.col) == (1, 25)


def test_timestamps_and_versions_stay_text() -> None:
    diags = Diagnostics()
    root = load("v: 2024-10-21\nn: 12\nb: yes\nl: [1, x]\n", "f.yaml", diags).root
    assert isinstance(root, Mapping)
    values = {k.text: v for k, v in root.items}
    assert isinstance(values["v"], Scalar) and values["v"].value == "2024-10-21"
    assert isinstance(values["n"], Scalar) and values["n"].value == 12
    assert isinstance(values["b"], Scalar) and values["b"].value is True
    assert isinstance(values["l"], Sequence) and values["l"].kind == "a list"


def test_alias_bombs_are_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    diags = Diagnostics()
    load("\n".join(lines) + "\n", "f.yaml", diags)
    assert any("too large" in d.message for d in diags.sorted())


def test_deep_nesting_is_a_diagnostic() -> None:
    diags = Diagnostics()
    load("[" * 5000 + "]" * 5000, "f.yaml", diags)
    assert diags.has_errors


def yaml_errors(text: str) -> list[str]:
    """The rendered diagnostics `load` gives for `text` (read as f.yaml)."""
    diags = Diagnostics()
    load(text, "f.yaml", diags)
    return [d.render() for d in diags.sorted()]


def test_a_rule_starting_with_a_quote_says_to_quote_all_of_it() -> None:
    # README's own example: YAML ends the value at the closing quote, and the rest is a syntax error.
    assert yaml_errors('routes:\n  - when: "Bash" in tools   # tool users\n    to: large\n') == [
        "f.yaml:2:18: error: not valid YAML: unexpected text after the value\n"
        "  note: in the block that starts at line 2\n"
        '    - when: "Bash" in tools   # tool users\n'
        "                   ^\n"
        "  hint: a value that starts with a quote ends at its closing quote; quote the whole expression:\n"
        "    - when: '\"Bash\" in tools'   # tool users"
    ]


@pytest.mark.parametrize(
    ("line", "fixed"),
    [
        ("  - when: 'Bash' in tools", "  - when: \"'Bash' in tools\""),
        # A regex keeps its backslash: single quotes, the inner ones doubled.
        (
            "  - when: \"x\" in tools and model matches '^a\\d'",
            "  - when: '\"x\" in tools and model matches ''^a\\d'''",
        ),
        ('  - {when: "Bash" in tools, to: large}', "  - {when: '\"Bash\" in tools', to: large}"),
    ],
)
def test_the_corrected_line_reads_back_as_the_whole_rule(line: str, fixed: str) -> None:
    errors = yaml_errors(f"routes:\n{line}\n")
    assert len(errors) == 1 and errors[0].endswith("\n  " + fixed), errors
    diags = Diagnostics()
    root = load(f"routes:\n{fixed}\n", "f.yaml", diags).root
    assert not diags.sorted() and isinstance(root, Mapping)
    routes = root.get("routes")
    assert isinstance(routes, Sequence) and isinstance(routes.items[0], Mapping)
    when = routes.items[0].get("when")
    assert isinstance(when, Scalar) and when.value == line.split("when: ", 1)[1].split(", to:")[0]


def test_no_hint_shows_a_secret() -> None:
    # The line shown is starred where it holds a credential, and the hint is built from that line only.
    errors = yaml_errors('providers:\n  x:\n    api_key: "sk-abc" def\n')
    assert len(errors) == 1 and "sk-abc" not in errors[0] and "hint" not in errors[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n\tb: 1\n", "f.yaml:2:1: error: not valid YAML: a tab character; indent with spaces"),
        ("a: b: c\n", "f.yaml:1:5: error: not valid YAML: a ': ' inside a value; quote the value"),
        ("a: {b: 1\n", "f.yaml:2:1: error: not valid YAML: a '{' is never closed (missing '}')"),
        ('a: "abc\n', "f.yaml:2:1: error: not valid YAML: a quote is never closed"),
        ("a: 1\n- b\n", "f.yaml:2:1: error: not valid YAML: a list item where a key was expected"),
        (
            "a:\n  b: 1\n c: 2\n",
            "f.yaml:3:2: error: not valid YAML: this key is indented unlike the keys above",
        ),
        (
            "a: *x\n",
            "f.yaml:1:4: error: not valid YAML: *x refers to no &x anchor; quote a value that starts",
        ),
        ("a: @x\n", "f.yaml:1:4: error: not valid YAML: '@' cannot start a value; quote the value"),
        (
            "routes:\n  - when: !thinking\n",
            "f.yaml:2:11: error: '!thinking' is read by YAML as a tag, not as text: quote the value; "
            "to negate a rule, write: not thinking",
        ),
    ],
)
def test_yaml_problems_in_plain_words(text: str, message: str) -> None:
    errors = yaml_errors(text)
    assert errors and errors[0].startswith(message), errors
    assert not any(word in "\n".join(errors) for word in ("<scalar>", "<block", "<stream", "while parsing"))
