"""Reasoning and tool-call ids carried to the next turn, per provider family: the answer of turn 1 goes
through the gateway to the client, the client sends it back as history, and the provider that wrote it
gets back what it needs (and no other provider gets it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from loopback import FakeUpstream, Reply, make_table

from claude_any.capabilities import lookup
from claude_any.runtime.translate.anthropic.passthrough import without_gateway_thinking
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.chat.response import from_openai
from claude_any.runtime.translate.context import Upstream
from claude_any.runtime.translate.replay import SKIP_THOUGHT_SIGNATURE
from claude_any.table import Provider, Target, empty_params

MODEL = "claude-sonnet-4-6"
BASH = {
    "name": "Bash",
    "description": "Run a command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}
FIRST = [{"role": "user", "content": "List the files."}]


def served(model: str, base_url: str | None = None) -> Upstream:
    return Upstream(model, lookup("openai", model, base_url), {"body": {}})


def request(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 4096, "messages": messages, "tools": [BASH]}


def answer(up: Upstream, message: dict[str, Any], finish: str = "tool_calls") -> dict[str, Any]:
    """Turn 1: the provider's `message`, as the client receives it from the gateway."""
    _, ctx = to_openai(request(FIRST), up)
    body = {"choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}]}
    return from_openai(body, ctx)


def next_turn(up: Upstream, turn1: dict[str, Any]) -> dict[str, Any]:
    """Turn 2 as the provider receives it: the OpenAI assistant message that stands for turn 1's answer."""
    results = [
        {"type": "tool_result", "tool_use_id": block["id"], "content": "a.py"}
        for block in turn1["content"]
        if block["type"] == "tool_use"
    ]
    messages = [
        *FIRST,
        {"role": "assistant", "content": turn1["content"]},
        {"role": "user", "content": results or "Go on."},
    ]
    out, _ = to_openai(request(messages), up)
    (assistant,) = [m for m in out["messages"] if m["role"] == "assistant"]
    tool_ids = [m["tool_call_id"] for m in out["messages"] if m["role"] == "tool"]
    assert tool_ids == [c["id"] for c in assistant.get("tool_calls", [])], "results follow their calls"
    return assistant


def bash(call_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
        **extra,
    }


@pytest.mark.parametrize(
    ("model", "base_url", "field"),
    [
        ("deepseek-v4-pro", "https://api.deepseek.com", "reasoning_content"),
        ("kimi-k2-thinking", "https://api.moonshot.ai/v1", "reasoning_content"),
        ("glm-4.6", "https://api.z.ai/api/paas/v4", "reasoning_content"),
        ("openai/gpt-oss-120b", "http://127.0.0.1:8000/v1", "reasoning"),  # vLLM
        ("qwen3:32b", "http://127.0.0.1:11434/v1", "reasoning"),  # Ollama
    ],
)
def test_reasoning_goes_back_in_the_field_the_family_reads(model: str, base_url: str, field: str) -> None:
    up = served(model, base_url)
    turn1 = answer(up, {"content": None, field: "I should list them.", "tool_calls": [bash("call_1")]})
    assert turn1["content"][0]["type"] == "thinking"
    sent = next_turn(up, turn1)
    assert sent[field] == "I should list them."
    assert {"reasoning", "reasoning_content"} - {field} - set(sent) == {"reasoning", "reasoning_content"} - {
        field
    }


def test_minimax_reads_its_thinking_inline() -> None:
    up = served("MiniMax-M2", "https://api.minimax.io/v1")
    turn1 = answer(
        up, {"content": "<think>\nList first.\n</think>\n\nListing.", "tool_calls": [bash("call_function_1")]}
    )
    assert [b["type"] for b in turn1["content"]] == ["thinking", "text", "tool_use"]
    sent = next_turn(up, turn1)
    assert sent["content"] == "<think>\nList first.\n</think>\n\nListing."


def test_openrouter_gets_its_reasoning_details_back_verbatim() -> None:
    up = served("anthropic/claude-sonnet-4.5", "https://openrouter.ai/api/v1")
    details = [
        {
            "type": "reasoning.text",
            "text": "List first.",
            "signature": "EqoB-sig",
            "format": "anthropic-claude-v1",
            "index": 0,
        }
    ]
    turn1 = answer(
        up,
        {
            "content": None,
            "reasoning": "List first.",
            "reasoning_details": details,
            "tool_calls": [bash("toolu_vrtx_01")],
        },
    )
    sent = next_turn(up, turn1)
    assert sent["reasoning_details"] == details and "reasoning" not in sent


def test_gemini_gets_its_thought_signatures_back() -> None:
    up = served("gemini-3-pro-preview", "https://generativelanguage.googleapis.com/v1beta/openai/")
    signed = bash("function-call-1", extra_content={"google": {"thought_signature": "CiQB-sig"}})
    turn1 = answer(up, {"content": None, "tool_calls": [signed, bash("function-call-2")]})
    sent = next_turn(up, turn1)
    first, second = sent["tool_calls"]
    assert first["id"] == "function-call-1" and first["extra_content"] == {
        "google": {"thought_signature": "CiQB-sig"}
    }
    assert second["id"] == "function-call-2" and "extra_content" not in second


def test_gemini_gets_the_documented_stand_in_for_calls_another_model_made() -> None:
    up = served("gemini-3-pro-preview", "https://generativelanguage.googleapis.com/v1beta/openai/")
    turn1 = answer(served("gpt-4.1"), {"content": None, "tool_calls": [bash("call_1"), bash("call_2")]})
    first, second = next_turn(up, turn1)["tool_calls"]
    assert first["extra_content"] == {"google": {"thought_signature": SKIP_THOUGHT_SIGNATURE}}
    assert "extra_content" not in second


def test_kimi_gets_its_own_tool_call_ids_back() -> None:
    up = served("kimi-k2-thinking", "https://api.moonshot.ai/v1")
    turn1 = answer(up, {"content": None, "tool_calls": [bash("functions.Bash:0"), bash("functions.Bash:1")]})
    assert all(
        set(b["id"]) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        for b in turn1["content"]
    )
    assert [c["id"] for c in next_turn(up, turn1)["tool_calls"]] == ["functions.Bash:0", "functions.Bash:1"]


def test_providers_that_take_no_reasoning_get_none() -> None:
    deepseek = served("deepseek-v4-pro", "https://api.deepseek.com")
    turn1 = answer(
        deepseek, {"content": "Listing.", "reasoning_content": "Secret plan.", "tool_calls": [bash("call_1")]}
    )
    for up in (
        served("gpt-4.1", "https://api.openai.com/v1"),
        served("gemini-2.5-flash", "https://generativelanguage.googleapis.com/v1beta/openai/"),
    ):
        sent = next_turn(up, turn1)
        assert "Secret plan." not in repr(sent)


def test_another_targets_thinking_is_never_sent() -> None:
    """A model switch mid-session: DeepSeek's reasoning means nothing to Kimi, Anthropic's to DeepSeek."""
    turn1 = answer(
        served("deepseek-v4-pro"),
        {"content": None, "reasoning_content": "DeepSeek's.", "tool_calls": [bash("call_1")]},
    )
    kimi = next_turn(served("kimi-k2-thinking"), turn1)
    assert kimi["reasoning_content"] == ""  # the field a tool-calling turn needs, without another's reasoning
    claude = {
        "content": [
            {"type": "thinking", "thinking": "Claude's.", "signature": "EqQBCkYIBRgCKkAanthropic"},
            {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls"}},
        ]
    }
    assert next_turn(served("deepseek-v4-pro"), claude)["reasoning_content"] == ""


def test_a_turn_that_only_thought_stays_a_turn() -> None:
    deepseek = served("deepseek-v4-pro")
    thought = answer(deepseek, {"content": None, "reasoning_content": "Nothing to say."}, "stop")
    assert [b["type"] for b in thought["content"]] == ["thinking"]
    messages = [
        *FIRST,
        {"role": "assistant", "content": thought["content"]},
        {"role": "user", "content": "Well?"},
    ]
    for up, expected in (
        (deepseek, {"role": "assistant", "content": "", "reasoning_content": "Nothing to say."}),
        (served("gpt-4.1"), {"role": "assistant", "content": ""}),
    ):
        out, _ = to_openai(request(messages), up)
        assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
        assert out["messages"][1] == expected


# --- the Anthropic pass-through ----------------------------------------------------------------------------


def test_the_pass_through_leaves_out_thinking_the_gateway_signed(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    ours = answer(served("deepseek-v4-pro"), {"content": "Listed.", "reasoning_content": "Ours."}, "stop")
    claude_thinking = {"type": "thinking", "thinking": "Claude's.", "signature": "EqQBCkYIBRgCKkAanthropic"}
    messages = [
        *FIRST,
        {"role": "assistant", "content": ours["content"]},
        {"role": "user", "content": "Again."},
        {"role": "assistant", "content": [ours["content"][0]]},  # a turn that only thought, with us
        {"role": "user", "content": "And?"},
        {"role": "assistant", "content": [claude_thinking, {"type": "text", "text": "Claude here."}]},
        {"role": "user", "content": "Thanks."},
    ]
    body = {"model": MODEL, "max_tokens": 4096, "messages": messages}
    provider = Provider(
        "claude", "anthropic", "chat", {"api_key": "${ANTHROPIC_API_KEY}", "base_url": upstream.url}
    )
    caps = lookup("anthropic", "claude-sonnet-4-5")
    table = make_table(
        [provider],
        [
            Target(t, "claude", "claude-sonnet-4-5", "claude-sonnet-4-5", caps, empty_params())
            for t in ("large", "small")
        ],
    )
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    upstream.script(Reply(json=message))
    response = httpx.post(gateway(table) + "/v1/messages", json=body, timeout=10)
    assert response.status_code == 200, response.text
    (sent,) = upstream.requests
    assert sent.body["messages"] == [
        *FIRST,
        {"role": "assistant", "content": [{"type": "text", "text": "Listed."}]},
        {"role": "user", "content": "Again."},
        {"role": "user", "content": "And?"},
        messages[5],
        messages[6],
    ]
    assert without_gateway_thinking(sent.body) is sent.body  # nothing of ours left: no copy made
