"""Tool name mapping, tool definitions, tool_choice and schema cleaning."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate.schema import clean_schema
from claude_any.runtime.translate.tools import (
    ToolNameMap,
    is_dropped_tool,
    is_valid_tool_name,
    tool_choice_to_openai,
    tools_to_openai,
)

VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# --- ToolNameMap -------------------------------------------------------------------------------------


def test_valid_names_pass_through() -> None:
    names = ToolNameMap()
    for name in ("Read", "mcp__github__create_issue", "a-b_c", "x" * 64):
        assert names.to_upstream(name) == name
        assert names.to_claude(name) == name


@pytest.mark.parametrize(
    "name",
    ["mcp__server__" + "very_long_tool_name_" * 4, "mcp__fs.v2__read", "has space", "emoji🙂", "", "x" * 65],
)
def test_invalid_names_get_a_safe_stable_alias(name: str) -> None:
    first, second = ToolNameMap(), ToolNameMap()
    alias = first.to_upstream(name)
    assert VALID.match(alias) and alias != name
    assert second.to_upstream(name) == alias, "aliases must be the same in every request of a conversation"
    assert first.to_claude(alias) == name
    assert first.to_upstream(name) == alias  # registered once


def test_readable_prefix_is_kept() -> None:
    alias = ToolNameMap().to_upstream("mcp__fs.v2__read")
    assert alias.startswith("mcp__fs_v2__read_")


def test_unknown_upstream_names_pass_through() -> None:
    assert ToolNameMap().to_claude("made_up") == "made_up"


def test_a_valid_name_equal_to_another_alias_stays_unambiguous() -> None:
    names = ToolNameMap()
    alias = names.to_upstream("bad.name")
    clash = names.to_upstream(alias)  # a real tool literally named like the alias
    assert clash != alias and VALID.match(clash)
    assert names.to_claude(alias) == "bad.name" and names.to_claude(clash) == alias


@given(st.lists(st.text(max_size=120), max_size=8, unique=True))
def test_mapping_is_a_bijection_onto_valid_names(claude_names: list[str]) -> None:
    names = ToolNameMap()
    aliases = [names.to_upstream(n) for n in claude_names]
    assert all(VALID.match(a) for a in aliases)
    assert len(set(aliases)) == len(aliases)
    assert [names.to_claude(a) for a in aliases] == claude_names


def test_is_valid_tool_name() -> None:
    assert is_valid_tool_name("Bash") and not is_valid_tool_name("a.b") and not is_valid_tool_name("")


# --- tool definitions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool,reason",
    [
        ({"type": "web_search_20250305", "name": "web_search"}, "server tool"),
        ({"type": "web_fetch_20250910", "name": "web_fetch"}, "server tool"),
        ({"type": "memory_20250818", "name": "memory"}, "server tool"),
        ({"type": "computer_20250124", "name": "computer"}, "server tool"),
        ({"type": "tool_search_tool_regex_20251119", "name": "tool_search"}, "server tool"),
        ({"name": "Later", "input_schema": {}, "defer_loading": True}, "defer_loading"),
        ({"name": "Read", "input_schema": {}}, None),
        ({"type": "custom", "name": "Read", "input_schema": {}, "defer_loading": False}, None),
    ],
)
def test_is_dropped_tool(tool: dict[str, Any], reason: str | None) -> None:
    got = is_dropped_tool(tool)
    assert got == reason if reason is None else reason in str(got)


def test_tools_to_openai_shapes_functions() -> None:
    names = ToolNameMap()
    out = tools_to_openai(
        [
            {"name": "Ping", "input_schema": None},
            {
                "name": "Read",
                "description": "Reads.",
                "input_schema": {"type": "object", "properties": {}},
                "strict": True,
            },
            {"type": "bash_20250124", "name": "bash"},
        ],
        names,
    )
    assert out == [
        {
            "type": "function",
            "function": {
                "name": "Ping",
                "description": "",
                "parameters": {"type": "object", "properties": {}},
            },
        },
        {
            "type": "function",
            "function": {
                "name": "Read",
                "description": "Reads.",
                "parameters": {"type": "object", "properties": {}},
            },
        },
    ]


def test_tools_to_openai_rejects_nameless_custom_tools() -> None:
    with pytest.raises(AnthropicError, match=r"^tools\.1\.name: "):
        tools_to_openai([{"name": "A"}, {"input_schema": {}}], ToolNameMap())


@pytest.mark.parametrize(
    "choice,expected",
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "Read"}, {"type": "function", "function": {"name": "Read"}}),
        ({"type": "tool", "name": "web_search"}, "auto"),
        ({"type": "tool"}, "auto"),
        ({"type": "something_new"}, "auto"),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    names = ToolNameMap()
    sent = {names.to_upstream("Read")}
    assert tool_choice_to_openai(choice, names, sent) == expected


# --- schema cleaning ----------------------------------------------------------------------------------


def test_clean_schema_removes_dollar_schema_and_adds_properties() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "options": {"type": "object", "additionalProperties": {"type": "string"}},
            "items": {"type": "array", "items": {"anyOf": [{"type": "object"}, {"type": "null"}]}},
        },
    }
    cleaned = clean_schema(schema)
    assert cleaned == {
        "type": "object",
        "properties": {
            "options": {"type": "object", "additionalProperties": {"type": "string"}, "properties": {}},
            "items": {
                "type": "array",
                "items": {"anyOf": [{"type": "object", "properties": {}}, {"type": "null"}]},
            },
        },
    }
    assert "$schema" in schema and "properties" not in schema["properties"]["options"], "input untouched"


def test_clean_schema_leaves_property_names_alone() -> None:
    schema = {
        "type": "object",
        "properties": {
            "$schema": {"type": "string"},
            "type": {"type": "string"},
            "properties": {"type": "object", "properties": {}},
        },
    }
    assert clean_schema(schema) is schema


def test_clean_schema_returns_clean_input_unchanged() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"type": "string"}}},
        "required": ["a"],
    }
    assert clean_schema(schema) is schema


@pytest.mark.parametrize("schema", [None, {}, "string", 3])
def test_clean_schema_defaults_to_an_empty_object(schema: Any) -> None:
    cleaned = clean_schema(schema)
    assert cleaned == {"type": "object", "properties": {}}
    cleaned["properties"]["x"] = 1
    assert clean_schema(schema) == {"type": "object", "properties": {}}, "the default must not be shared"


def test_clean_schema_types_an_untyped_root() -> None:
    assert clean_schema({"properties": {"a": {}}}) == {"type": "object", "properties": {"a": {}}}
    assert clean_schema({"$schema": "x", "type": ["object", "null"]}) == {
        "type": ["object", "null"],
        "properties": {},
    }
