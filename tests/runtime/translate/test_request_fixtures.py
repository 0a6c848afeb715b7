"""Every Claude Code request of tests/fixtures/claude-code translates into a well-formed OpenAI body.

The test checks structural invariants that OpenAI enforces with a 400 (message order around tool calls, no
empty content, valid tool names), for several kinds of target.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from loopback import FIXTURES

from claude_any.capabilities import lookup
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.context import Upstream

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

TARGETS = [
    ("openai", "gpt-5.4"),
    ("openai", "o3"),
    ("openai", "gpt-4o"),
    ("azure", "my-gpt-deployment"),
    ("databricks", "databricks-gpt-5-4"),
    ("openai", "llama3.1:8b"),
    ("openai", "deepseek-v4-pro"),
]


def _requests() -> list[Path]:
    # The headers file is not a request body.
    return sorted(p for p in FIXTURES.glob("*.json") if "headers" not in p.name)


def check_openai_body(body: dict[str, Any]) -> None:
    """Assert what OpenAI Chat Completions rejects with a 400 does not occur in `body`."""
    json.dumps(body)  # plain JSON values only
    messages = body["messages"]
    assert messages, "no messages"
    open_calls: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg["role"]
        assert role in ("system", "user", "assistant", "tool"), role
        if role == "tool":
            assert msg["tool_call_id"] in open_calls, f"messages.{i}: tool message without a matching call"
            open_calls.discard(msg["tool_call_id"])
            assert isinstance(msg["content"], str) and msg["content"], f"messages.{i}: empty tool content"
            continue
        assert not open_calls, f"messages.{i}: {role} message before results of {sorted(open_calls)}"
        content = msg.get("content")
        if role == "assistant" and msg.get("tool_calls"):
            ids = [c["id"] for c in msg["tool_calls"]]
            assert len(ids) == len(set(ids)), "duplicate tool call ids"
            open_calls = set(ids)
            for call in msg["tool_calls"]:
                assert _TOOL_NAME.match(call["function"]["name"])
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
            assert content is None or (isinstance(content, str) and content.strip())
        elif isinstance(content, list):
            assert content, f"messages.{i}: empty content list"
            for part in content:
                assert part.get("type") != "text" or part["text"].strip(), f"messages.{i}: empty text part"
        elif role == "assistant" and content == "":
            pass  # a turn that only thought: empty, never missing (two user turns in a row)
        else:
            assert isinstance(content, str) and content.strip(), f"messages.{i}: empty content"
    assert not open_calls, f"calls without results at the end: {sorted(open_calls)}"

    tools = body.get("tools")
    if tools is None:
        assert "tool_choice" not in body and "parallel_tool_calls" not in body
    else:
        assert tools, "empty tools list"
        names = [t["function"]["name"] for t in tools]
        assert len(names) == len(set(names)), "duplicate tool names"
        for tool in tools:
            assert _TOOL_NAME.match(tool["function"]["name"])
            params = tool["function"]["parameters"]
            assert params["type"] == "object" and isinstance(params["properties"], dict)
            assert "$schema" not in params
    assert len(body.get("stop", [])) <= 4


@pytest.mark.parametrize("kind,model", TARGETS, ids=[f"{k}-{m}" for k, m in TARGETS])
@pytest.mark.parametrize("path", _requests(), ids=lambda p: p.stem)
def test_fixture_translates_to_valid_openai_body(path: Path, kind: str, model: str) -> None:
    request = json.loads(path.read_text(encoding="utf-8"))
    before = json.dumps(request, sort_keys=True)
    up = Upstream(model=model, capabilities=lookup(kind, model), params={"body": {}}, kind=kind)

    body, ctx = to_openai(request, up)

    check_openai_body(body)
    assert json.dumps(request, sort_keys=True) == before, "the client's request must not be modified"
    assert body["model"] == model
    assert ctx.requested_model == request["model"]
    assert ctx.stream is bool(request.get("stream"))
    assert ctx.estimated_input_tokens > 0
    kept = {t["name"] for t in request.get("tools", []) if not t.get("defer_loading")}
    assert {ctx.tool_names.to_claude(t["function"]["name"]) for t in body.get("tools", [])} == kept
    assert "top_k" not in body and "context_management" not in body and "thinking" not in body


def test_checker_catches_a_misplaced_tool_message() -> None:
    bad = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [_call("a")]},
            {"role": "user", "content": "interleaved"},
            {"role": "tool", "tool_call_id": "a", "content": "late"},
        ]
    }
    with pytest.raises(AssertionError, match="before results"):
        check_openai_body(bad)


def _call(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "Read", "arguments": "{}"}}
