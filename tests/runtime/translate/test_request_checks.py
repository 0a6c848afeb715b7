"""Requests the gateway cannot honour faithfully get a 400 naming the field, never a silent degradation;
`thinking` configurations Anthropic refuses get Anthropic's 400. Over real HTTP: the provider never sees
such a request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from loopback import FakeUpstream

from claude_any.capabilities import lookup
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.context import Upstream
from claude_any.runtime.translate.responses.request import to_responses

MODEL = "claude-sonnet-4-6"


def body(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 4096, "messages": [{"role": "user", "content": "Hi."}], **fields}


def refused(url: str, request: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    response = httpx.post(url + "/v1/messages", json=request, headers=headers or {}, timeout=10)
    assert response.status_code == 400, response.text
    envelope = response.json()
    assert envelope["type"] == "error" and envelope["error"]["type"] == "invalid_request_error"
    message: str = envelope["error"]["message"]
    return message


# The anthropic SDK's tool runner on server-side threads: the continuation is a thread reference and only
# the tool result. Without the thread the provider would get a lone result, with no history and no tools.
THREAD_CONTINUATION = {
    "model": MODEL,
    "max_tokens": 1024,
    "thread": {"id": "thread_011CTkc2ttBJfm9nqE6Tk5Eu"},
    "messages": [
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01Weather", "content": "18°C, sunny"}],
        }
    ],
}


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        (THREAD_CONTINUATION, "thread"),
        (
            body(mcp_servers=[{"type": "url", "url": "https://mcp.example.test/sse", "name": "docs"}]),
            "mcp_servers",
        ),
        (body(inference_geo="us"), "inference_geo"),
    ],
    ids=["thread", "mcp_servers", "inference_geo"],
)
def test_a_field_the_gateway_cannot_honour_is_a_400_naming_it(
    request_body: dict[str, Any], field: str, openai_gateway: str, upstream: FakeUpstream
) -> None:
    message = refused(openai_gateway, request_body)
    assert message.startswith(f"{field}: ") and "not supported by this gateway" in message
    assert upstream.requests == [], "nothing is sent to the provider"


def test_fields_that_only_tune_or_save_are_ignored() -> None:
    up = Upstream("gpt-4.1", lookup("openai", "gpt-4.1"), {"body": {}})
    harmless = body(
        thread=None,
        mcp_servers=[],
        inference_geo="global",
        container="container_01",
        context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
        service_tier="standard_only",
    )
    out, _ = to_openai(harmless, up)
    assert out["messages"] == [{"role": "user", "content": "Hi."}]


# --- thinking configurations (Anthropic's own 400s) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("thinking", "max_tokens", "message"),
    [
        ({"budget_tokens": 2048}, 4096, "thinking: Unable to extract tag using discriminator 'type'"),
        (
            {"type": "on"},
            4096,
            "thinking: Input tag 'on' found using 'type' does not match any of the expected tags: "
            "'enabled', 'disabled', 'adaptive'",
        ),
        ({"type": "enabled"}, 4096, "thinking.enabled.budget_tokens: Field required"),
        ({"type": "enabled", "budget_tokens": "2k"}, 4096, "thinking.enabled.budget_tokens: Input should be"),
        (
            {"type": "enabled", "budget_tokens": 1023},
            4096,
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {"type": "enabled", "budget_tokens": 4096},
            4096,
            "`max_tokens` must be greater than `thinking.budget_tokens`.",
        ),
    ],
    ids=["no type", "unknown type", "no budget", "budget not a number", "budget under 1024", "budget >= max"],
)
def test_thinking_anthropic_refuses_is_refused_the_same_way(
    thinking: dict[str, Any], max_tokens: int, message: str, openai_gateway: str, upstream: FakeUpstream
) -> None:
    got = refused(openai_gateway, body(thinking=thinking, max_tokens=max_tokens))
    assert got.startswith(message)
    assert upstream.requests == []


def test_a_valid_thinking_configuration_passes_on_both_apis() -> None:
    up = Upstream("o3", lookup("openai", "o3"), {"body": {}})
    for thinking in ({"type": "enabled", "budget_tokens": 1024}, {"type": "adaptive"}, {"type": "disabled"}):
        for translate in (to_openai, to_responses):
            translate(body(thinking=thinking), up)


def test_interleaved_thinking_lets_the_budget_exceed_max_tokens() -> None:
    """Claude Code sends the interleaved-thinking beta, under which Anthropic takes such a budget."""
    up = Upstream("o3", lookup("openai", "o3"), {"body": {}})
    request = body(thinking={"type": "enabled", "budget_tokens": 31999}, max_tokens=16000)
    with pytest.raises(AnthropicError):
        to_openai(request, up)
    beta = {"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"}
    out, _ = to_openai(request, up, headers=beta)
    assert out["reasoning_effort"] == "high"
