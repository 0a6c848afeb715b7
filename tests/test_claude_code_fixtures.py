"""The committed Claude Code requests (tests/fixtures/claude-code) are what their build script writes, and
have the shapes the other tests and the benchmark rely on."""

from __future__ import annotations

import json
from typing import Any

from fixtures.build_claude_code import build, wire_size
from loopback import FIXTURES


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_the_committed_files_are_the_build_scripts_output() -> None:
    built = build()
    committed = {p.name: p.read_text(encoding="utf-8") for p in FIXTURES.glob("*.json")}
    assert sorted(committed) == sorted(built), "run: python tests/fixtures/build_claude_code.py"
    for name, text in built.items():
        assert committed[name] == text, f"{name} differs; run: python tests/fixtures/build_claude_code.py"


def test_the_first_request_is_claude_codes_size_and_shape() -> None:
    body = _load("cc_first_request_say_hi.json")
    headers = _load("cc_first_request_headers.json")
    # The benchmark and the token tests stand for Claude Code's ~49 KB first request.
    assert 45_000 < wire_size(body) < 55_000
    assert headers["Content-Length"] == str(wire_size(body))
    assert headers["User-Agent"].startswith("claude-cli/") and headers["x-app"] == "cli"
    assert [b["type"] for b in body["system"]] == ["text"] * 3
    assert body["system"][0]["text"].startswith("x-anthropic-billing-header:")
    assert [m["role"] for m in body["messages"]] == ["user", "system"]
    assert body["thinking"]["type"] == "adaptive" and body["output_config"] == {"effort": "medium"}
    assert [t["name"] for t in body["tools"] if t.get("defer_loading")] == ["DeferredToolPlaceholder"]
    assert all(t["input_schema"]["type"] == "object" for t in body["tools"])
    user = json.loads(body["metadata"]["user_id"])  # a JSON document inside a string
    assert user["session_id"] == headers["X-Claude-Code-Session-Id"]


def test_the_other_requests_have_their_distinguishing_shapes() -> None:
    turn2 = _load("cc_tool_turn2_with_tool_result.json")
    call = turn2["messages"][2]["content"][1]
    (result,) = turn2["messages"][3]["content"]
    assert call["type"] == "tool_use" and result["tool_use_id"] == call["id"]
    assert isinstance(turn2["messages"][1]["content"], str)  # the system turn as a plain string
    denied = _load("cc_tool_result_is_error_permission_denied.json")
    assert denied["messages"][3]["content"][0]["is_error"] is True
    legacy = _load("cc_first_request_sonnet45_legacy_thinking.json")
    assert legacy["thinking"]["type"] == "enabled" and legacy["thinking"]["budget_tokens"] > 0
    assert "output_config" not in legacy
    title = _load("cc_interactive_side_request_structured_output.json")
    assert title["tools"] == [] and title["output_config"]["format"]["type"] == "json_schema"
    counted = _load("cc_count_tokens_with_tools.json")
    assert set(counted) == {"model", "messages", "tools"}
