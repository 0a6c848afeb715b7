"""Prompt-cache affinity (issue #16 item 7): a Claude Code session's requests carry a `prompt_cache_key`
derived from its session id (hashed, never the id itself) where the provider takes it, their prompt prefix
is byte for byte the same from turn to turn, and the cache reads the provider reports reach the usage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
from loopback import FakeUpstream, Reply, make_table, openai_provider, target

from claude_any.capabilities import lookup
from claude_any.runtime.translate.context import Upstream
from claude_any.runtime.translate.responses.request import to_responses
from claude_any.table import Provider

SESSION = "6c0b1d5e-8c7e-4a55-9a0e-52f5b1c0a1d2"
SYSTEM = [
    {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.330; cc_entrypoint=cli; cch=0a1b2;"},
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
    {
        "type": "text",
        "text": "Long instructions that stay the same all session.",
        "cache_control": {"type": "ephemeral"},
    },
]
TOOLS = [
    {
        "name": "Bash",
        "description": "Run a command",
        "input_schema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
            "additionalProperties": False,
        },
    }
]


def completion(cached: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 5000,
            "completion_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def turn(messages: list[dict[str, Any]], billing: str) -> dict[str, Any]:
    system = [{**SYSTEM[0], "text": SYSTEM[0]["text"].replace("cch=0a1b2", billing)}, *SYSTEM[1:]]
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 2048,
        "system": system,
        "messages": messages,
        "tools": TOOLS,
    }


def gateway_for(model: str, upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    provider: Provider = openai_provider(upstream.url + "/v1")
    return str(
        gateway(make_table([provider], [target("large", provider, model), target("small", provider, model)]))
    )


def session(url: str, upstream: FakeUpstream, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Two turns of one conversation; the upstream bodies the provider received."""
    upstream.script(Reply(json=completion(0)), Reply(json=completion(4864)))
    first = [{"role": "user", "content": "List the files."}]
    answers = []
    with httpx.Client(timeout=10) as client:
        answers.append(
            client.post(url + "/v1/messages", json=turn(first, "cch=0a1b2"), headers=headers).json()
        )
        second = [
            *first,
            {"role": "assistant", "content": answers[0]["content"]},
            {"role": "user", "content": "And now?"},
        ]
        answers.append(
            client.post(url + "/v1/messages", json=turn(second, "cch=9f8e7"), headers=headers).json()
        )
    assert answers[1]["usage"]["cache_read_input_tokens"] == 4864  # the provider's cache read reaches usage
    assert answers[1]["usage"]["input_tokens"] == 5000 - 4864
    return [r.body for r in upstream.requests]


def test_a_session_gets_one_hashed_cache_key_and_a_stable_prefix(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    url = gateway_for("gpt-4.1", upstream, gateway)
    first, second = session(url, upstream, {"x-claude-code-session-id": SESSION})
    key = "ca-" + hashlib.sha256(f"{SESSION}\0".encode()).hexdigest()[:32]
    assert first["prompt_cache_key"] == second["prompt_cache_key"] == key
    for sent in upstream.requests:
        assert SESSION not in json.dumps(sent.body) and SESSION not in json.dumps(sent.headers)
    # The prefix a provider caches — system message, tools, the turns so far — is the same bytes every turn.
    assert json.dumps(first["messages"][:2]) == json.dumps(second["messages"][:2])
    assert json.dumps(first["tools"]) == json.dumps(second["tools"])


def test_subagents_and_other_sessions_get_their_own_key(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    url = gateway_for("gpt-4.1", upstream, gateway)
    main = session(url, upstream, {"x-claude-code-session-id": SESSION})[0]["prompt_cache_key"]
    upstream.reset()
    agent = session(url, upstream, {"x-claude-code-session-id": SESSION, "x-claude-code-agent-id": "agent-2"})
    upstream.reset()
    other = session(url, upstream, {"x-claude-code-session-id": "another-session"})
    assert len({main, agent[0]["prompt_cache_key"], other[0]["prompt_cache_key"]}) == 3


def test_no_key_where_the_provider_does_not_take_it(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    url = gateway_for("qwen3-coder:30b", upstream, gateway)  # a local server
    for sent in session(url, upstream, {"x-claude-code-session-id": SESSION}):
        assert "prompt_cache_key" not in sent


def test_no_key_without_a_session(upstream: FakeUpstream, gateway: Callable[..., str]) -> None:
    url = gateway_for("gpt-4.1", upstream, gateway)
    for sent in session(url, upstream, {}):
        assert "prompt_cache_key" not in sent


def test_the_responses_api_gets_the_key_too() -> None:
    up = Upstream("gpt-5.4", lookup("openai", "gpt-5.4"), {"body": {}})
    body = turn([{"role": "user", "content": "Hi."}], "cch=0")
    out, _ = to_responses(body, up, headers={"x-claude-code-session-id": SESSION})
    assert out["prompt_cache_key"] == "ca-" + hashlib.sha256(f"{SESSION}\0".encode()).hexdigest()[:32]
