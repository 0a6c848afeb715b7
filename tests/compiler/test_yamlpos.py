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
