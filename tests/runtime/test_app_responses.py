"""Responses API targets over real HTTP: the anthropic SDK → claude-any → a scripted `/v1/responses`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import pytest
from loopback import FakeUpstream, Reply, make_table, openai_provider, target
from responses_upstream import (
    failed_events,
    function_call,
    message,
    reasoning,
    reply,
    tool_then_text,
    usage,
)
from translate.sse_check import check_anthropic_sse

from claude_any.table import Provider

MODEL = "claude-opus-4-6"
BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}
THINKING: Any = {"type": "adaptive"}


def client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="client-key", max_retries=0, timeout=10)


@pytest.fixture
def responses_gateway(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    """large → gpt-5-pro (Responses-only: chosen automatically on a provider left at `api: chat`);
    small → gpt-4.1 on a provider configured with `api: responses`."""
    auto = openai_provider(upstream.url + "/v1", name="fake")
    explicit = Provider("resp", "openai", "responses", {**auto.settings})
    table = make_table(
        [auto, explicit], [target("large", auto, "gpt-5-pro"), target("small", explicit, "gpt-4.1")]
    )
    return gateway(table)


def test_stream_helper_gets_thinking_text_tool_use_stop_reason_and_usage(
    upstream: FakeUpstream, responses_gateway: str
) -> None:
    items = [
        reasoning("Check the tree first.", encrypted="enc-1"),
        message("Listing the files."),
        function_call("call_ls", "Bash", {"command": "ls -la"}),
    ]
    upstream.script(reply(items, usage(2000, 120, cached=1536, reasoning_tokens=64)))
    with client(responses_gateway).messages.stream(
        model=MODEL,
        max_tokens=200000,
        messages=[{"role": "user", "content": "What is here?"}],
        system="Be brief.",
        tools=[BASH],  # type: ignore[list-item]
        thinking=THINKING,
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "Listing the files."
    thinking, text, tool_use = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Check the tree first."
    assert thinking.signature.startswith("ca1r.")
    assert text.type == "text" and text.text == "Listing the files."
    assert (
        tool_use.type == "tool_use" and tool_use.input == {"command": "ls -la"} and tool_use.id == "call_ls"
    )
    assert final.stop_reason == "tool_use" and final.model == MODEL
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens) == (464, 1536)
    assert final.usage.output_tokens == 120

    (sent,) = upstream.requests
    assert (sent.method, sent.path) == ("POST", "/v1/responses")
    assert sent.headers["authorization"] == "Bearer sk-test-openai"
    body = sent.body
    assert body["model"] == "gpt-5-pro" and body["instructions"] == "Be brief." and body["stream"] is True
    assert body["store"] is False and body["include"] == ["reasoning.encrypted_content"]
    assert body["max_output_tokens"] == 128000 and body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["tools"][0]["name"] == "Bash" and body["tools"][0]["strict"] is False


def test_non_streaming(upstream: FakeUpstream, responses_gateway: str) -> None:
    upstream.script(reply([message("Bonjour !")], usage(30, 4), stream=False))
    raw = client(responses_gateway).messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "Hello in French"}]
    )
    result = raw.parse()
    assert result.content[0].text == "Bonjour !"  # type: ignore[union-attr]
    assert result.stop_reason == "end_turn" and result.usage.input_tokens == 30
    assert raw.headers["x-claude-any-target"] == "small"
    (sent,) = upstream.requests
    assert sent.path == "/v1/responses" and sent.body["model"] == "gpt-4.1" and "stream" not in sent.body
    assert "reasoning" not in sent.body and "include" not in sent.body  # gpt-4.1 is no reasoning model


def test_tool_loop_carries_reasoning_to_the_next_turn(upstream: FakeUpstream, responses_gateway: str) -> None:
    """An e2e-like agent loop: the SDK streams a tool call, runs it, and sends the history back."""
    upstream.responder = tool_then_text("Bash", {"command": "pwd"}, "You are in /srv/app.")
    sdk = client(responses_gateway)
    messages: list[Any] = [{"role": "user", "content": "Where am I?"}]
    for _ in range(3):
        with sdk.messages.stream(
            model=MODEL,
            max_tokens=4096,
            messages=messages,
            tools=[BASH],
            thinking=THINKING,  # type: ignore[list-item]
        ) as stream:
            final = stream.get_final_message()
        messages.append(
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]}
        )
        if final.stop_reason != "tool_use":
            break
        (call,) = [b for b in final.content if b.type == "tool_use"]
        assert call.input == {"command": "pwd"}
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "/srv/app"}],
            }
        )
    assert final.content[-1].text == "You are in /srv/app."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and len(upstream.requests) == 2

    second = upstream.requests[1].body["input"]
    assert [i["type"] for i in second] == ["message", "reasoning", "function_call", "function_call_output"]
    assert second[1]["encrypted_content"] == "enc-reasoning-1"
    assert second[1]["summary"] == [{"type": "summary_text", "text": "I should run the tool first."}]
    assert second[2]["call_id"] == second[3]["call_id"] == "call_resp_1"
    assert second[3]["output"] == "/srv/app"


def test_sse_grammar_and_mid_stream_failure(upstream: FakeUpstream, responses_gateway: str) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    upstream.script(reply([reasoning("Hmm.", encrypted="e"), message("Hi.")]), Reply(chunks=failed_events()))
    with httpx.stream(
        "POST", responses_gateway + "/v1/messages?beta=true", json=body, timeout=10
    ) as response:
        text = response.read().decode()
    assert response.status_code == 200
    assert [e["type"] for e in check_anthropic_sse(text)].count("content_block_start") == 2

    with httpx.stream("POST", responses_gateway + "/v1/messages", json=body, timeout=10) as response:
        text = response.read().decode()
    events = check_anthropic_sse(text)
    assert events[-1] == {
        "type": "error",
        "error": {"type": "api_error", "message": "fake: The model failed."},
    }


def test_upstream_http_errors_keep_their_anthropic_status(
    upstream: FakeUpstream, responses_gateway: str
) -> None:
    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    upstream.script(*[Reply(status=429, json=error, headers={"retry-after": "0"})] * 4)
    with pytest.raises(anthropic.RateLimitError):
        client(responses_gateway).messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
