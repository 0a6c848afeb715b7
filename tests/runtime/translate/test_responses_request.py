"""Anthropic -> OpenAI Responses request translation: snapshots of the `/responses` body for the scenarios of
the chat path (test_request.py), plus the rules behind them as plain assertions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension
from test_request import (
    BASH,
    PDF,
    READ,
    assistant,
    image_b64,
    image_url,
    req,
    text,
    tool,
    tool_result,
    tool_use,
    user,
)
from test_request_fixtures import _requests

from claude_any.capabilities import lookup
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate.context import Upstream
from claude_any.runtime.translate.responses.request import to_responses
from claude_any.runtime.translate.responses.response import ResponsesContext
from claude_any.runtime.translate.signatures import encode_signature

_ITEM_TYPES = {"message", "reasoning", "function_call", "function_call_output"}


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def check_responses_body(out: dict[str, Any]) -> None:
    """The shape rules every body must keep, whatever the scenario."""
    assert out["store"] is False
    assert "messages" not in out and "stop" not in out and "max_completion_tokens" not in out
    calls: set[str] = set()
    for item in out["input"]:
        assert item["type"] in _ITEM_TYPES
        assert "id" not in item, "with store: false the API cannot look item ids up"
        if item["type"] == "message":
            allowed = (
                {"output_text"}
                if item["role"] == "assistant"
                else {"input_text", "input_image", "input_file"}
            )
            assert item["content"] and {p["type"] for p in item["content"]} <= allowed
        elif item["type"] == "function_call":
            calls.add(item["call_id"])
            assert isinstance(json.loads(item["arguments"]), dict)
        elif item["type"] == "function_call_output":
            assert item["call_id"] in calls, "an output must follow its call"
    for t in out.get("tools", []):
        assert set(t) == {"type", "name", "description", "parameters", "strict"} and t["strict"] is False


def translate(
    body: dict[str, Any], model: str = "gpt-5-pro", kind: str = "openai", **caps: Any
) -> tuple[dict[str, Any], ResponsesContext]:
    up = Upstream(model=model, capabilities={**lookup(kind, model), **caps}, params={"body": {}}, kind=kind)
    before = json.dumps(body, sort_keys=True)
    out, ctx = to_responses(body, up)
    assert json.dumps(body, sort_keys=True) == before, "the client's request must not be modified"
    check_responses_body(out)
    return out, ctx


def test_plain_text(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user("Say hello in French."),
        system=[text("You are terse."), text("Answer in one line.")],
        max_tokens=200000,
        temperature=0.3,
        metadata={"user_id": "user_abc_account_def_session_123"},
        stop_sequences=["END", "", "STOP"],
    )
    out, ctx = translate(body, "gpt-4.1")
    assert out == snapshot_json
    assert out["instructions"] == "You are terse.\n\nAnswer in one line."
    assert out["max_output_tokens"] == 32768 and out["temperature"] == 0.3
    assert "reasoning" not in out and "include" not in out  # not a reasoning model
    assert ctx.stop_sequences == ("END", "STOP")  # no `stop` on this API: all are enforced on the output
    assert ctx.upstream_model == "gpt-4.1" and not ctx.stream


def test_tool_round_trip_with_error_result(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user("List the files, then read the config."),
        assistant(text("Listing."), tool_use("toolu_01ListAAAAAAAAAAAAAAAAAA", "Bash", command="ls")),
        user(tool_result("toolu_01ListAAAAAAAAAAAAAAAAAA", "app.py\nconfig.toml")),
        assistant(tool_use("toolu_01ReadBBBBBBBBBBBBBBBBBB", "Read", path="config.toml")),
        user(
            tool_result("toolu_01ReadBBBBBBBBBBBBBBBBBB", [text("permission denied")], is_error=True),
            text("Try something else."),
        ),
        {"role": "system", "content": "Reminder: stay in /srv."},
        tools=[BASH, READ, {"type": "memory_20250818", "name": "memory"}],
        tool_choice={"type": "tool", "name": "Read"},
        stream=True,
    )
    out, ctx = translate(body)
    assert out == snapshot_json
    assert [i["type"] for i in out["input"]] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]
    assert out["input"][5]["output"] == "Error: permission denied"
    assert out["input"][-1]["role"] == "developer"
    assert out["tool_choice"] == {"type": "function", "name": "Read"}
    assert [t["name"] for t in out["tools"]] == ["Bash", "Read"]  # the server tool is dropped
    assert "$schema" not in out["tools"][0]["parameters"]
    assert out["stream"] is True and "stream_options" not in out and ctx.stream


def test_parallel_tool_calls(snapshot_json: SnapshotAssertion) -> None:
    body = req(
        user("Read both files."),
        assistant(
            text("Reading both."),
            tool_use("toolu_a", "Read", path="a.py"),
            tool_use("toolu_b", "Read", path="b.py"),
        ),
        user(text("(meanwhile: be quick)"), tool_result("toolu_b", "B"), tool_result("toolu_a", [])),
        tools=[READ],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    out, _ = translate(body, "gpt-5.4")
    assert out == snapshot_json
    types = [i["type"] for i in out["input"]]
    assert types == [
        "message",
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "message",
    ]
    assert out["input"][4] == {"type": "function_call_output", "call_id": "toolu_b", "output": "B"}
    assert out["input"][5]["output"] == "(no output)"
    assert out["tool_choice"] == "required" and out["parallel_tool_calls"] is False


def test_images_documents_and_tool_result_media(snapshot_json: SnapshotAssertion) -> None:
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
        "title": "spec.pdf",
    }
    body = req(
        user(text("What is in these?"), image_b64(), image_url(), pdf),
        assistant(tool_use("toolu_shot", "Screenshot")),
        user(tool_result("toolu_shot", [text("captured"), image_b64()]), text("And this one?")),
        tools=[tool("Screenshot", region={"type": "string"})],
    )
    out, _ = translate(body)
    assert out == snapshot_json
    first = out["input"][0]["content"]
    assert first[1] == {"type": "input_image", "image_url": first[1]["image_url"], "detail": "auto"}
    assert first[1]["image_url"].startswith("data:image/png;base64,")
    assert first[2]["image_url"] == "https://example.test/diagram.png"
    assert first[3] == {
        "type": "input_file",
        "filename": "spec.pdf",
        "file_data": f"data:application/pdf;base64,{PDF}",
    }
    # Tool outputs are text: the image goes to the user message that follows.
    assert "see the next user message" in out["input"][2]["output"]
    assert out["input"][3]["role"] == "user" and out["input"][3]["content"][1]["type"] == "input_image"


def test_reasoning_effort_summary_and_replay(snapshot_json: SnapshotAssertion) -> None:
    signature = encode_signature("gAAAAB-encrypted-1", "gpt-5.4")
    history = [
        user("Fix the bug."),
        assistant(
            {"type": "thinking", "thinking": "Look at the failing test first.", "signature": signature},
            {"type": "thinking", "thinking": "From Claude.", "signature": "EqQBCkYIBRgCKkAanthropic"},
            {"type": "thinking", "thinking": "Other model.", "signature": encode_signature("x", "o3")},
            tool_use("call_1", "Bash", command="pytest -x"),
        ),
        user(tool_result("call_1", "1 failed")),
    ]
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 20000}, "max_tokens": 32000}
    cases = {
        "gpt-5.4 budget 20k, tools": translate(req(*history, tools=[BASH], **thinking), "gpt-5.4")[0],
        "gpt-5.4 adaptive, display omitted": translate(
            req(
                user("Hi"),
                thinking={"type": "adaptive", "display": "omitted"},
                output_config={"effort": "max"},
            ),
            "gpt-5.4",
        )[0],
        "gpt-5-pro no thinking": translate(req(user("Hi")), "gpt-5-pro")[0],
        "gpt-4.1 thinking": translate(req(user("Hi"), **thinking), "gpt-4.1")[0],
    }
    assert cases == snapshot_json
    first = cases["gpt-5.4 budget 20k, tools"]
    # Tools and reasoning together are fine on this API (chat would force effort "none").
    assert first["reasoning"] == {"effort": "high", "summary": "auto"}
    assert first["include"] == ["reasoning.encrypted_content"]
    replayed = [i for i in first["input"] if i["type"] == "reasoning"]
    assert replayed == [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Look at the failing test first."}],
            "encrypted_content": "gAAAAB-encrypted-1",
        }
    ]
    assert [i["type"] for i in first["input"]][1:3] == ["reasoning", "function_call"]
    assert cases["gpt-5.4 adaptive, display omitted"]["reasoning"] == {"effort": "xhigh"}
    assert cases["gpt-5-pro no thinking"]["reasoning"] == {"effort": "high"}
    assert "reasoning" not in cases["gpt-4.1 thinking"] and "include" not in cases["gpt-4.1 thinking"]


def test_structured_output(snapshot_json: SnapshotAssertion) -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "object"}}},
        "required": ["title"],
    }
    body = req(
        user("Name this session."),
        output_config={"effort": "low", "format": {"type": "json_schema", "schema": schema}},
    )
    out, _ = translate(body, "gpt-4.1")
    assert out == snapshot_json
    fmt = out["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["name"] == "output" and fmt["strict"] is False
    assert "$schema" not in fmt["schema"] and fmt["schema"]["properties"]["tags"]["items"]["properties"] == {}


def test_long_tool_names_are_mapped_in_tools_calls_and_choice() -> None:
    long = "mcp__acme-internal-knowledge-base__search_engineering_design_documents_by_keyword"
    body = req(
        user("Search."),
        assistant(tool_use("toolu_x", long, q="a")),
        user(tool_result("toolu_x", "found")),
        tools=[tool(long, q={"type": "string"})],
        tool_choice={"type": "tool", "name": long},
    )
    out, ctx = translate(body)
    sent = out["tools"][0]["name"]
    assert sent != long and len(sent) <= 64
    assert out["input"][1]["name"] == sent and out["tool_choice"] == {"type": "function", "name": sent}
    assert ctx.tool_names.to_claude(sent) == long


def test_azure_deployment_model_and_params_win() -> None:
    up = Upstream(
        model="prod-gpt5",
        capabilities={**lookup("azure", "gpt-5"), "max_output": 4096},
        params={"reasoning_effort": "low", "max_tokens": 2048, "temperature": None, "body": {}},
        kind="azure",
    )
    out, _ = to_responses(req(user("Hi"), max_tokens=64000), up)
    assert out["model"] == "prod-gpt5" and out["max_output_tokens"] == 2048
    assert out["reasoning"] == {"effort": "low"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"model": "x", "max_tokens": 1}, "messages"),
        (req(user("hi"), tools="Read"), "tools"),
        (req(user("hi"), stop_sequences=[1]), "stop_sequences.0"),
        (req({"role": "user", "content": 5}), "messages.0.content"),
    ],
)
def test_malformed_input_is_a_400_naming_the_path(body: Any, path: str) -> None:
    with pytest.raises(AnthropicError) as info:
        translate(body)
    assert info.value.status == 400 and info.value.message.startswith(path)


@pytest.mark.parametrize("path", _requests(), ids=lambda p: p.stem)
@pytest.mark.parametrize("model", ["gpt-5-pro", "gpt-5.1-codex", "gpt-4.1"])
def test_real_claude_code_requests(path: Any, model: str) -> None:
    """Every Claude Code request of tests/fixtures gives a body of the right shape."""
    body = json.loads(path.read_text(encoding="utf-8"))
    body = body.get("body", body)
    out, _ = translate(body, model)
    assert out["input"] and ("instructions" in out) == bool(body.get("system"))
    assert out["max_output_tokens"] <= lookup("openai", model)["max_output"]
