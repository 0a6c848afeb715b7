"""POST /v1/messages over real HTTP: the official anthropic SDK → claude-any → a fake OpenAI upstream."""

from __future__ import annotations

import gzip
import json
from typing import Any

import anthropic
import httpx
import pytest
from loopback import DONE, FakeUpstream, Reply

MODEL = "claude-sonnet-4-6"
HELLO = [{"role": "user", "content": "Say hello to the test suite."}]
READ_TOOL = {
    "name": "Read",
    "description": "Read a file from disk",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
}


def client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="client-key", max_retries=0, timeout=10)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [choice], "usage": None}  # fmt: skip


def usage_chunk(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
             "prompt_tokens_details": {"cached_tokens": cached}}  # fmt: skip
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": usage}


def completion(message: dict[str, Any], finish: str, prompt: int = 21, out: int = 5) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out},
    }


def tool_delta(index: int, call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        call |= {"id": call_id, "type": "function"}
        call["function"]["name"] = name
    return {"tool_calls": [call]}


def test_plain_text_non_streaming(upstream: FakeUpstream, openai_gateway: str) -> None:
    upstream.script(Reply(json=completion({"content": "Hello, tests!"}, "stop", prompt=21, out=5)))
    raw = client(openai_gateway).messages.with_raw_response.create(
        model=MODEL, max_tokens=100, messages=HELLO
    )
    message = raw.parse()
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello, tests!"  # type: ignore[union-attr]
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (21, 5)
    assert raw.headers["x-claude-any-target"] == "large"
    assert raw.headers["request-id"].startswith("req_")

    (sent,) = upstream.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-test-openai"
    assert "x-api-key" not in sent.headers
    assert not [h for h in sent.headers if h.startswith("anthropic")]
    assert sent.body["model"] == "gpt-4o"
    assert sent.body["messages"][-1]["role"] == "user"


def test_haiku_goes_to_the_small_target(upstream: FakeUpstream, openai_gateway: str) -> None:
    upstream.script(Reply(json=completion({"content": "ok"}, "stop")))
    raw = client(openai_gateway).messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=50, messages=HELLO
    )
    assert raw.headers["x-claude-any-target"] == "small"
    assert upstream.requests[0].body["model"] == "gpt-4o-mini"


def test_plain_text_streaming(upstream: FakeUpstream, openai_gateway: str) -> None:
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo!"}),
    ]
    chunks += [chunk(finish="stop"), usage_chunk(30, 2, cached=10), DONE]
    upstream.script(Reply(chunks=chunks))
    with client(openai_gateway).messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        message = stream.get_final_message()
    assert message.content[0].text == "Hello!"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 2
    # OpenAI's prompt_tokens include the cached ones; Anthropic reports them apart.
    assert message.usage.cache_read_input_tokens == 10
    assert message.usage.input_tokens == 20
    assert upstream.requests[0].body["stream"] is True


def test_gzip_encoded_stream_is_decoded(upstream: FakeUpstream, openai_gateway: str) -> None:
    # Uncompressed streams are read straight from the transport; a compressed one must still be decoded.
    events = [chunk({"content": "Zipped "}), chunk({"content": "hello"}), chunk(finish="stop"), DONE]
    body = "".join(e if isinstance(e, str) else f"data: {json.dumps(e)}\n\n" for e in events)
    headers = {"content-encoding": "gzip", "content-type": "text/event-stream"}
    upstream.script(Reply(raw=gzip.compress(body.encode()), headers=headers))
    with client(openai_gateway).messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        message = stream.get_final_message()
    assert message.content[0].text == "Zipped hello"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"


def test_stream_headers(upstream: FakeUpstream, openai_gateway: str) -> None:
    upstream.script(Reply(chunks=[chunk({"content": "x"}), chunk(finish="stop"), DONE]))
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO, "stream": True}
    with httpx.stream("POST", openai_gateway + "/v1/messages?beta=true", json=body, timeout=10) as response:
        text = response.read().decode()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-claude-any-target"] == "large"
    assert response.headers["request-id"].startswith("req_")
    assert text.startswith("event: message_start")
    assert text.rstrip().endswith('data: {"type":"message_stop"}')


def test_tool_call_streaming(upstream: FakeUpstream, openai_gateway: str) -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Reading it."}),
        chunk(tool_delta(0, "call_1", "Read", "")),
        chunk(tool_delta(0, None, None, '{"path": ')),
        chunk(tool_delta(0, None, None, '"/etc/hosts"}')),
        chunk(finish="tool_calls"),
        DONE,
    ]
    upstream.script(Reply(chunks=chunks))
    with client(openai_gateway).messages.stream(
        model=MODEL, max_tokens=100, messages=HELLO, tools=[READ_TOOL]
    ) as stream:
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["text", "tool_use"]
    tool = message.content[1]
    assert tool.type == "tool_use" and tool.name == "Read" and tool.input == {"path": "/etc/hosts"}
    assert message.stop_reason == "tool_use"
    sent_tools = upstream.requests[0].body["tools"]
    assert sent_tools[0]["function"]["name"] == "Read"


def test_parallel_tool_calls_streaming(upstream: FakeUpstream, openai_gateway: str) -> None:
    chunks = [
        chunk(tool_delta(0, "call_a", "Read", '{"path": "a.py"}')),
        chunk(tool_delta(1, "call_b", "Read", '{"path": ')),
        chunk(tool_delta(1, None, None, '"b.py"}')),
        chunk(finish="tool_calls"),
        DONE,
    ]
    upstream.script(Reply(chunks=chunks))
    with client(openai_gateway).messages.stream(
        model=MODEL, max_tokens=100, messages=HELLO, tools=[READ_TOOL]
    ) as stream:
        message = stream.get_final_message()
    inputs = [b.input for b in message.content if b.type == "tool_use"]
    assert inputs == [{"path": "a.py"}, {"path": "b.py"}]
    ids = [b.id for b in message.content if b.type == "tool_use"]
    assert len(set(ids)) == 2


def test_parallel_tool_calls_non_streaming(upstream: FakeUpstream, openai_gateway: str) -> None:
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "Read", "arguments": '{"path": "a.py"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "Read", "arguments": '{"path": "b.py"}'}},
    ]
    upstream.script(Reply(json=completion({"content": None, "tool_calls": calls}, "tool_calls")))
    message = client(openai_gateway).messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HELLO,
        tools=[READ_TOOL],  # type: ignore[list-item]
    )
    assert [(b.type, b.input) for b in message.content] == [  # type: ignore[union-attr]
        ("tool_use", {"path": "a.py"}),
        ("tool_use", {"path": "b.py"}),
    ]
    assert message.stop_reason == "tool_use"


def test_thinking_from_reasoning_content(upstream: FakeUpstream, openai_gateway: str) -> None:
    chunks = [
        chunk({"role": "assistant", "reasoning_content": "Let me think"}),
        chunk({"reasoning_content": " about it."}),
        chunk({"content": "Done thinking."}),
        chunk(finish="stop"),
        usage_chunk(40, 12),
        DONE,
    ]
    upstream.script(Reply(chunks=chunks))
    with client(openai_gateway).messages.stream(
        model=MODEL,
        max_tokens=2000,
        messages=HELLO,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Let me think about it."  # type: ignore[union-attr]
    assert message.content[0].signature  # type: ignore[union-attr]
    assert message.usage.output_tokens == 12


@pytest.mark.parametrize(
    ("status", "body", "exc", "error_type"),
    [
        (400, {"error": {"message": "bad tool schema", "code": "invalid_value"}}, anthropic.BadRequestError,
         "invalid_request_error"),
        (401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}},
         anthropic.AuthenticationError, "authentication_error"),
        (429, {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
         anthropic.RateLimitError, "rate_limit_error"),
        (500, {"error": {"message": "boom"}}, anthropic.InternalServerError, "api_error"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_keep_status_and_type(
    upstream: FakeUpstream,
    openai_gateway: str,
    status: int,
    body: dict[str, Any],
    exc: type[anthropic.APIStatusError],
    error_type: str,
    stream: bool,
) -> None:
    # Even when streaming, an error before the first byte is a real HTTP error the SDK can classify.
    upstream.script(Reply(status=status, json=body, headers={"retry-after": "7"}))
    with pytest.raises(exc) as info:
        client(openai_gateway).messages.create(model=MODEL, max_tokens=10, messages=HELLO, stream=stream)
    assert info.value.status_code == status
    assert info.value.body["error"]["type"] == error_type  # type: ignore[index]
    assert info.value.body["error"]["message"].startswith("fake: ")  # type: ignore[index]
    assert info.value.response.headers["request-id"].startswith("req_")
    if status == 429:
        assert info.value.response.headers["retry-after"] == "7"


def test_malformed_upstream_chunk_ends_with_error_event(upstream: FakeUpstream, openai_gateway: str) -> None:
    chunks = [chunk({"content": "partial"}), "data: {this is not json\n\n", chunk({"content": "more"}), DONE]
    upstream.script(Reply(chunks=chunks))
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO, "stream": True}
    with httpx.stream("POST", openai_gateway + "/v1/messages", json=body, timeout=5) as response:
        text = response.read().decode()
    assert response.status_code == 200
    assert "event: error" in text
    assert "message_stop" not in text
    with pytest.raises(anthropic.APIError):
        upstream.script(Reply(chunks=chunks))
        with client(openai_gateway).messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
            stream.get_final_message()


def test_upstream_dropping_the_stream_ends_with_error_event(
    upstream: FakeUpstream, openai_gateway: str
) -> None:
    upstream.script(Reply(chunks=[chunk({"content": "partial"}), RuntimeError("connection lost")]))
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO, "stream": True}
    with httpx.stream("POST", openai_gateway + "/v1/messages", json=body, timeout=5) as response:
        text = response.read().decode()
    assert response.status_code == 200
    assert "partial" in text
    error = text.split("event: error\ndata: ", 1)[1]
    # The cut shows as a failed read or, when the fake's connection happens to close cleanly, as a stream that
    # ended before the provider finished: either way an error naming the provider, never a finished answer.
    assert '"type":"api_error"' in error
    early = "fake: the stream ended before the provider finished"
    assert "fake: upstream 127.0.0.1" in error or early in error
    assert "message_stop" not in text


def test_upstream_connection_refused_is_502(upstream: FakeUpstream, gateway: Any) -> None:
    from loopback import make_table, openai_provider, target

    provider = openai_provider("http://127.0.0.1:9/v1", name="down")
    url = gateway(
        make_table([provider], [target("large", provider, "gpt-4o"), target("small", provider, "m")])
    )
    with pytest.raises(anthropic.InternalServerError) as info:
        client(url).messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert info.value.status_code == 502
    assert "cannot connect" in info.value.message


def test_client_disconnect_closes_the_upstream_stream(upstream: FakeUpstream, openai_gateway: str) -> None:
    import time

    chunks = [chunk({"content": f"word{i} "}) for i in range(200)] + [chunk(finish="stop"), DONE]
    upstream.script(Reply(chunks=chunks, chunk_delay=0.02))
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO, "stream": True}
    with httpx.stream("POST", openai_gateway + "/v1/messages", json=body, timeout=5) as response:
        first = next(response.iter_bytes())
        assert b"message_start" in first
    deadline = time.monotonic() + 3
    while upstream.closed_streams == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.closed_streams == 1


def test_an_upstream_error_event_quoting_the_key_is_scrubbed(
    upstream: FakeUpstream, openai_gateway: str
) -> None:
    from loopback import TEST_ENV

    key = TEST_ENV["OPENAI_API_KEY"]
    quoted = {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}}
    upstream.script(Reply(chunks=[chunk({"content": "partial"}), f"data: {json.dumps(quoted)}\n\n", DONE]))
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO, "stream": True}
    with httpx.stream("POST", openai_gateway + "/v1/messages", json=body, timeout=5) as response:
        text = response.read().decode()
    assert "event: error" in text and "Incorrect API key provided: ***" in text
    assert key not in text
