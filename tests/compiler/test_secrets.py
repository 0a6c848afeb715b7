"""${VAR} references: finding, resolving, redacting, and spotting malformed ones."""

from __future__ import annotations

import pytest

from claude_any import secrets


def test_references_and_reference_only() -> None:
    assert secrets.references("Bearer ${TOKEN} and ${OTHER_1}") == ["TOKEN", "OTHER_1"]
    assert secrets.is_reference_only("${OPENAI_API_KEY}")
    assert not secrets.is_reference_only("sk-${KEY}")
    assert not secrets.is_reference_only("sk-abc")


def test_resolve_walks_dicts_and_lists_without_changing_the_input() -> None:
    value = {"a": "${X}", "b": ["pre-${Y}-post", 3, None], "c": {"d": "plain"}}
    assert secrets.resolve(value, {"X": "1", "Y": "2"}) == {
        "a": "1",
        "b": ["pre-2-post", 3, None],
        "c": {"d": "plain"},
    }
    assert value["a"] == "${X}"


def test_resolve_names_the_missing_variable() -> None:
    with pytest.raises(secrets.MissingVariable) as info:
        secrets.resolve(["${SET}", "${UNSET}"], {"SET": "v"})
    assert info.value.name == "UNSET"
    assert "UNSET is not set" in str(info.value)


def test_resolved_values_are_not_re_expanded() -> None:
    assert secrets.resolve("${A}", {"A": "${B}", "B": "no"}) == "${B}"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("${OPENAI_API_KEY}", "${OPENAI_API_KEY}"),
        ("sk-proj-abc", "***"),
        ("Bearer ${TOKEN}", "***${TOKEN}"),
        ("${A}:${B}", "${A}***${B}"),
        ("", ""),
    ],
)
def test_redact(value: str, shown: str) -> None:
    assert secrets.redact(value) == shown


@pytest.mark.parametrize(
    ("value", "spans", "word"),
    [
        ("${OK} and $HOME", [], ""),
        ("abc${", [(3, 5)], "unclosed"),
        ("${1X}", [(0, 5)], "malformed"),
        ("${}", [(0, 3)], "empty"),
        ("${NAME", [(0, 6)], "unclosed"),
        ("${A-B}", [(0, 6)], "malformed"),
        ("${GOOD} ${bad name}", [(8, 13)], "unclosed"),
    ],
)
def test_malformed_references(value: str, spans: list[tuple[int, int]], word: str) -> None:
    found = secrets.malformed_references(value)
    assert [(m.start, m.end) for m in found] == spans
    assert all(word in m.message for m in found)


def test_malformed_reference_messages_do_not_repeat_the_text() -> None:
    (found,) = secrets.malformed_references("${sk-live-123}")
    assert "sk-live" not in found.message
