"""The in-process echo provider, through the real app and the official SDK (no upstream at all)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from loopback import FIXTURES, make_table, target

from claude_any.table import Provider

ECHO = Provider("echo", "echo", "chat", {})
BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
}


@pytest.fixture
def echo_url(gateway: Callable[..., str]) -> str:
    return gateway(make_table([ECHO], [target("large", ECHO, "echo-1"), target("small", ECHO, "echo-mini")]))


def client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="any", max_retries=0, timeout=10)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_echo_non_streaming(echo_url: str) -> None:
    message = client(echo_url).messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=user("hi"))  # type: ignore[arg-type]
    assert message.content[0].text == (  # type: ignore[union-attr]
        'echo from claude-any: model claude-sonnet-4-6 → target large (echo/echo-1). You said: "hi"'
    )
    assert message.model == "claude-sonnet-4-6"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_echo_streaming_matches_non_streaming(echo_url: str) -> None:
    api = client(echo_url).messages
    plain = api.create(model="claude-haiku-4-5", max_tokens=50, messages=user("stream me"))  # type: ignore[arg-type]
    with api.stream(model="claude-haiku-4-5", max_tokens=50, messages=user("stream me")) as stream:  # type: ignore[arg-type]
        streamed = stream.get_final_message()
    assert streamed.content[0].text == plain.content[0].text  # type: ignore[union-attr]
    assert "target small (echo/echo-mini)" in streamed.content[0].text  # type: ignore[union-attr]
    assert streamed.usage.output_tokens == plain.usage.output_tokens


def test_echo_text_arrives_in_several_deltas(echo_url: str) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": user("split"), "stream": True}
    text = httpx.post(echo_url + "/v1/messages", json=body, timeout=5).text
    assert text.count("text_delta") >= 3
    assert text.count("event: message_stop") == 1


@pytest.mark.parametrize("stream", [False, True])
def test_echo_tool_command(echo_url: str, stream: bool) -> None:
    api = client(echo_url).messages
    args = {"model": "claude-sonnet-4-6", "max_tokens": 50, "tools": [BASH]}
    prompt = user('/tool Bash {"command": "ls -la"}\n/tool Bash {"command": "pwd"}\n/tool Nope {}')
    if stream:
        with api.stream(messages=prompt, **args) as s:  # type: ignore[arg-type]
            message = s.get_final_message()
    else:
        message = api.create(messages=prompt, **args)  # type: ignore[arg-type]
    calls = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [("Bash", {"command": "ls -la"}), ("Bash", {"command": "pwd"})]
    assert message.stop_reason == "tool_use"


def test_echo_tool_command_needs_the_tool_offered(echo_url: str) -> None:
    message = client(echo_url).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=50,
        messages=user("/tool Bash {}"),  # type: ignore[arg-type]
    )
    assert message.content[0].type == "text"


def test_echo_summarises_a_tool_result(echo_url: str) -> None:
    messages = [
        {"role": "user", "content": "/tool Bash {}"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "file1\nfile2"}],
        },
    ]
    message = client(echo_url).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=50,
        messages=messages,
        tools=[BASH],  # type: ignore[arg-type, list-item]
    )
    assert message.content[0].text == (  # type: ignore[union-attr]
        'echo from claude-any: tool call toolu_1 returned a result: "file1 file2"'
    )
    assert message.stop_reason == "end_turn"


def _fixture_bodies() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("cc_*.json") if "headers" not in p.name)


@pytest.mark.parametrize("path", _fixture_bodies(), ids=lambda p: p.stem)
def test_real_claude_code_requests_are_answered(echo_url: str, path: Path) -> None:
    body = json.loads(path.read_text())
    endpoint = "/v1/messages/count_tokens" if "count_tokens" in path.name else "/v1/messages"
    response = httpx.post(echo_url + endpoint + "?beta=true", json=body, timeout=10)
    assert response.status_code == 200, response.text
    if "count_tokens" in path.name:
        assert response.json()["input_tokens"] > 100
    elif body.get("stream"):
        assert response.text.startswith("event: message_start")
        assert response.text.rstrip().endswith('data: {"type":"message_stop"}')


def test_echo_quotes_the_users_words_not_claude_codes_reminders() -> None:
    from claude_any.runtime.call import echo
    from claude_any.runtime.translate.tools import ToolNameMap

    body = {
        "model": "claude-sonnet-4-6",
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "<system-reminder>\nlong context the client adds\n</system-reminder>",
                    },
                    {"type": "text", "text": "say hi"},
                ],
            }
        ],
    }
    reply = echo.completion(body, target_id="large", label="echo/e", tool_names=ToolNameMap(), input_tokens=5)
    assert reply["choices"][0]["message"]["content"].endswith('You said: "say hi"')
