"""What goes out on the wire for each provider kind: a snapshot of the upstream HTTP request (method, URL,
headers with secrets redacted, body), captured by the fake upstream over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from loopback import TEST_ENV, FakeUpstream, Recorded, Reply, make_table, target
from syrupy.assertion import SnapshotAssertion

from claude_any.table import Provider

# Headers that vary by machine or library version say nothing about the provider contract.
_UNSTABLE = {"host", "content-length", "accept-encoding", "connection"}

REQUEST = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1000,
    "system": "You are a terse test assistant.",
    "messages": [{"role": "user", "content": "What is 2 + 2?"}],
    "tools": [
        {
            "name": "Calculator",
            "description": "Evaluate an arithmetic expression",
            "input_schema": {
                "type": "object",
                "properties": {"expr": {"type": "string"}},
                "required": ["expr"],
            },
        }
    ],
    "metadata": {"user_id": "test-user"},
}
CLIENT_HEADERS = {"anthropic-beta": "interleaved-thinking-2025-05-14", "x-claude-code-session-id": "s-1"}

OPENAI_REPLY = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 1, "total_tokens": 31},
}
ANTHROPIC_REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "4"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 30, "output_tokens": 1},
}


def providers(base: str) -> dict[str, tuple[Provider, str, dict[str, Any]]]:
    """Scenario → (provider, model, target params), every provider pointed at the fake upstream."""
    openai = {"api_key": "${OPENAI_API_KEY}", "base_url": base + "/v1", "organization": "org-test"}
    azure = {"api_key": "${AZURE_KEY}", "endpoint": base, "api_version": "2024-10-21"}
    return {
        "openai": (Provider("openai", "openai", "chat", openai), "gpt-4o", {}),
        "openai_reasoning_model": (
            Provider("openai", "openai", "chat", openai),
            "o3",
            {"reasoning_effort": "high"},
        ),
        "azure_deployment": (Provider("azure", "azure", "chat", azure), "gpt-4o-prod", {}),
        "azure_v1": (Provider("azure", "azure", "chat", {**azure, "api_version": "v1"}), "gpt-5-prod", {}),
        "databricks": (
            Provider("databricks", "databricks", "chat", {"token": "${DATABRICKS_TOKEN}", "host": base}),
            "databricks-meta-llama-3-3-70b-instruct",
            {},
        ),
        "databricks_claude_native": (
            Provider("databricks", "databricks", "chat", {"token": "${DATABRICKS_TOKEN}", "host": base}),
            "databricks-claude-sonnet-4-5",
            {},
        ),
        "openai_compatible_without_key": (
            Provider(
                "local", "openai", "chat", {"api_key": None, "base_url": base + "/v1", "organization": None}
            ),
            "qwen3-coder:30b",
            {},
        ),
        "anthropic_passthrough": (
            Provider("claude", "anthropic", "chat", {"api_key": "${ANTHROPIC_API_KEY}", "base_url": base}),
            "claude-sonnet-4-5",
            {},
        ),
        "user_headers_and_body": (
            Provider(
                "openai",
                "openai",
                "chat",
                openai,
                headers={"X-Team": "{{ provider }}/{{ model }}"},
                body={"store": False},
            ),
            "gpt-4o",
            {"headers": {"X-Target": "{{ target }}"}, "body": {"user": "claude-any"}},
        ),
    }


def redacted(sent: Recorded, base: str) -> dict[str, Any]:
    secrets = {value: f"<{name}>" for name, value in TEST_ENV.items()}
    headers = {}
    for name, value in sorted(sent.headers.items()):
        if name in _UNSTABLE:
            continue
        for secret, placeholder in secrets.items():
            value = value.replace(secret, placeholder)
        headers[name] = value
    url = f"{sent.path}?{sent.query}" if sent.query else sent.path
    return {"method": sent.method, "url": "http://upstream" + url, "headers": headers, "body": sent.body}


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
@pytest.mark.parametrize(
    "scenario",
    [
        "openai",
        "openai_reasoning_model",
        "azure_deployment",
        "azure_v1",
        "databricks",
        "databricks_claude_native",
        "openai_compatible_without_key",
        "anthropic_passthrough",
        "user_headers_and_body",
    ],
)
def test_outgoing_request(
    scenario: str,
    stream: bool,
    upstream: FakeUpstream,
    gateway: Callable[..., str],
    snapshot: SnapshotAssertion,
) -> None:
    provider, model, params = providers(upstream.url)[scenario]
    url = gateway(
        make_table([provider], [target("large", provider, model, **params), target("small", provider, model)])
    )
    native = provider.kind == "anthropic" or model.startswith("databricks-claude")
    if stream and native:
        events = [
            'event: message_start\ndata: {"type":"message_start","message":' + _message_skeleton() + "}\n\n",
            'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
            '"content_block":{"type":"text","text":""}}\n\n',
            'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            '"delta":{"type":"text_delta","text":"4"}}\n\n',
            'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
            'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
            '"stop_sequence":null},"usage":{"output_tokens":1}}\n\n',
            'event: message_stop\ndata: {"type":"message_stop"}\n\n',
        ]
        upstream.script(Reply(chunks=events))
    elif stream:
        chunk = {"choices": [{"index": 0, "delta": {"content": "4"}, "finish_reason": "stop"}]}
        upstream.script(Reply(chunks=[chunk, "data: [DONE]\n\n"]))
    else:
        upstream.script(Reply(json=ANTHROPIC_REPLY if native else OPENAI_REPLY))

    client = anthropic.Anthropic(
        base_url=url, api_key="client-key", max_retries=0, default_headers=CLIENT_HEADERS
    )
    if stream:
        with client.messages.stream(**REQUEST) as response:  # type: ignore[arg-type]
            message = response.get_final_message()
    else:
        message = client.messages.create(**REQUEST)  # type: ignore[arg-type]
    assert message.content[0].text == "4"  # type: ignore[union-attr]

    (sent,) = upstream.requests
    assert "client-key" not in repr(sent.headers)
    assert redacted(sent, upstream.url) == snapshot


def _message_skeleton() -> str:
    return (
        '{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],'
        '"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":30,"output_tokens":1}}'
    )
