"""Tool schemas per target dialect (Gemini's subset) and structured output in OpenAI's strict mode."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from claude_any.capabilities import lookup
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.context import Upstream
from claude_any.runtime.translate.responses.request import to_responses
from claude_any.runtime.translate.schema import clean_schema
from claude_any.runtime.translate.structured_output import strict_problem

GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"

# What Claude Code's zod schemas and MCP servers send, with the keywords Gemini's endpoint refuses.
CLAUDE_CODE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "url": {"type": "string", "format": "uri", "description": "The page"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
        "mode": {"const": "fast"},
        "headers": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z-]+$"},
            "additionalProperties": {"type": "string"},
        },
        "when": {"type": ["string", "null"], "format": "date-time"},
        "target": {"oneOf": [{"$ref": "#/$defs/file"}, {"type": "integer", "enum": [1, 2]}]},
        # Property names are data: these two are kept, whatever keyword they spell.
        "additionalProperties": {"type": "boolean"},
        "format": {"type": "string", "examples": ["json"]},
    },
    "required": ["url", "format", "gone"],
    "additionalProperties": False,
    "$defs": {"file": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
}


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def _keywords(schema: Any, found: set[str]) -> set[str]:
    """Every keyword used anywhere in `schema` (property names are not keywords)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key == "properties" and isinstance(value, dict):
                for sub in value.values():
                    _keywords(sub, found)
            else:
                _keywords(value, found)
    elif isinstance(schema, list):
        for item in schema:
            _keywords(item, found)
    return found


def test_gemini_dialect_keeps_only_its_subset(snapshot_json: SnapshotAssertion) -> None:
    before = copy.deepcopy(CLAUDE_CODE_SCHEMA)
    out = clean_schema(CLAUDE_CODE_SCHEMA, "gemini")
    assert before == CLAUDE_CODE_SCHEMA, "the client's schema is never modified"
    assert out == snapshot_json
    refused = {
        "$schema",
        "additionalProperties",
        "propertyNames",
        "exclusiveMinimum",
        "const",
        "oneOf",
        "$ref",
    }
    assert not _keywords(out, set()) & (refused | {"$defs", "examples"})
    props = out["properties"]
    assert set(props) == set(CLAUDE_CODE_SCHEMA["properties"]), "property names stay, whatever they spell"
    assert props["additionalProperties"] == {"type": "boolean"} and props["format"] == {"type": "string"}
    assert props["timeout"] == {"type": "number", "minimum": 0, "maximum": 600}
    assert props["mode"] == {"type": "string", "enum": ["fast"]}
    assert props["headers"] == {"type": "object"}  # a free-form map: Gemini refuses empty properties
    assert props["when"] == {"type": "string", "format": "date-time", "nullable": True}
    assert "format" not in props["url"]  # Gemini takes only date-time and enum for strings
    assert props["target"]["anyOf"][0] == {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    }
    assert props["target"]["anyOf"][1] == {"type": "integer"}  # an enum of numbers is not Gemini's
    assert out["required"] == ["url", "format"]  # names without a property are left out


def test_openai_dialect_keeps_json_schema() -> None:
    out = clean_schema(CLAUDE_CODE_SCHEMA)
    assert "$schema" not in out and out["additionalProperties"] is False
    assert out["properties"]["headers"]["propertyNames"] == {"pattern": "^[a-z-]+$"}


def test_recursive_references_end() -> None:
    tree = {
        "type": "object",
        "properties": {"root": {"$ref": "#/definitions/node"}, "lost": {"$ref": "#/definitions/none"}},
        "definitions": {
            "node": {"type": "object", "properties": {"child": {"$ref": "#/definitions/node"}}},
        },
    }
    out = clean_schema(tree, "gemini")
    assert out["properties"]["root"]["properties"]["child"] == {}
    assert out["properties"]["lost"] == {}


def _gemini(body: dict[str, Any]) -> dict[str, Any]:
    caps = lookup("openai", "gemini-3-pro-preview", GEMINI_URL)
    out, _ = to_openai(body, Upstream("gemini-3-pro-preview", caps, {"body": {}}))
    return out


def test_a_gemini_target_gets_gemini_schemas() -> None:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Fetch it."}],
        "tools": [{"name": "WebFetch", "description": "Fetch", "input_schema": CLAUDE_CODE_SCHEMA}],
        "output_config": {"format": {"type": "json_schema", "schema": CLAUDE_CODE_SCHEMA}},
    }
    out = _gemini(body)
    parameters = out["tools"][0]["function"]["parameters"]
    assert parameters == clean_schema(CLAUDE_CODE_SCHEMA, "gemini")
    assert out["response_format"]["json_schema"] == {"name": "output", "schema": parameters, "strict": False}
    openai, _ = to_openai(body, Upstream("gpt-4.1", lookup("openai", "gpt-4.1"), {"body": {}}))
    assert openai["tools"][0]["function"]["parameters"]["additionalProperties"] is False


# --- structured output ------------------------------------------------------------------------------------

STRICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "The project"},
        "stars": {"type": ["integer", "null"]},
        "tags": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"tag": {"type": "string"}},
                "required": ["tag"],
                "additionalProperties": False,
            },
        },
        "kind": {"anyOf": [{"type": "string", "enum": ["app", "lib"]}, {"$ref": "#/$defs/other"}]},
    },
    "required": ["name", "stars", "tags", "kind"],
    "additionalProperties": False,
    "$defs": {"other": {"type": "object", "properties": {}, "required": [], "additionalProperties": False}},
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s["required"].remove("stars"), "the root has optional properties"),
        (lambda s: s.pop("additionalProperties"), "the root allows additional properties"),
        (lambda s: s["properties"]["name"].update(minLength=1), "name uses minLength"),
        (lambda s: s["properties"]["tags"]["items"].pop("additionalProperties"), "tags[] allows additional"),
        (lambda s: s.update(type="array"), "the root is not an object schema"),
    ],
)
def test_strict_mode_needs_a_closed_schema(change: Any, problem: str) -> None:
    assert strict_problem(STRICT_SCHEMA) is None
    schema = copy.deepcopy(STRICT_SCHEMA)
    change(schema)
    found = strict_problem(schema)
    assert found is not None and found.startswith(problem)


def _structured(schema: dict[str, Any], *, beta: bool = False) -> dict[str, Any]:
    fmt = {"type": "json_schema", "schema": schema}
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Describe the project."}],
        **({"output_format": fmt} if beta else {"output_config": {"format": fmt}}),
    }
    return body


def test_a_qualifying_schema_is_sent_strict_on_both_apis(caplog: pytest.LogCaptureFixture) -> None:
    up = Upstream("gpt-5.4", lookup("openai", "gpt-5.4"), {"body": {}})
    chat, _ = to_openai(_structured(STRICT_SCHEMA), up)
    assert chat["response_format"]["json_schema"] == {
        "name": "output",
        "schema": STRICT_SCHEMA,
        "strict": True,
    }
    responses, _ = to_responses(_structured(STRICT_SCHEMA), up)
    assert responses["text"]["format"]["strict"] is True
    assert not [r for r in caplog.records if "strict" in r.getMessage()]


def test_any_other_schema_is_sent_as_before_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    loose = {**STRICT_SCHEMA, "required": ["name"]}
    up = Upstream("gpt-5.4", lookup("openai", "gpt-5.4"), {"body": {}})
    with caplog.at_level(logging.INFO, logger="claude_any"):
        chat, _ = to_openai(_structured(loose), up)
    assert chat["response_format"]["json_schema"]["strict"] is False
    assert any(
        "without strict mode" in r.getMessage() and "optional" in r.getMessage() for r in caplog.records
    )


def test_the_structured_outputs_beta_field_is_honoured_too() -> None:
    up = Upstream("gpt-5.4", lookup("openai", "gpt-5.4"), {"body": {}})
    chat, _ = to_openai(_structured(STRICT_SCHEMA, beta=True), up)
    assert chat["response_format"]["json_schema"]["strict"] is True


def test_a_strict_tool_keeps_its_guarantee_where_the_schema_allows() -> None:
    """Anthropic's `strict: true` on a tool: OpenAI's strict function calling guarantees the same."""
    up = Upstream("gpt-5.4", lookup("openai", "gpt-5.4"), {"body": {}})
    tools = [
        {"name": "Report", "description": "r", "input_schema": STRICT_SCHEMA, "strict": True},
        {
            "name": "Loose",
            "description": "l",
            "input_schema": {**STRICT_SCHEMA, "required": []},
            "strict": True,
        },
        {"name": "Plain", "description": "p", "input_schema": STRICT_SCHEMA},
    ]
    body = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "Go."}]}
    chat, _ = to_openai({**body, "tools": tools}, up)
    assert [t["function"].get("strict") for t in chat["tools"]] == [True, None, None]
    responses, _ = to_responses({**body, "tools": tools}, up)
    assert [t["strict"] for t in responses["tools"]] == [True, False, False]
    gemini = _gemini({**body, "tools": tools})
    assert all("strict" not in t["function"] for t in gemini["tools"])
