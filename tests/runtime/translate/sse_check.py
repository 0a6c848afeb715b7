"""Checks an Anthropic SSE transcript against the event grammar the SDKs enforce (docs/PROTOCOL.md).

Reusable by any test that sees the gateway's stream: `check_anthropic_sse(text)` asserts the grammar and
returns the events' data objects; `sdk_message(raw)` runs the bytes through the real `anthropic` SDK
stream accumulator (offline, over an httpx mock transport) and returns the message it builds.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic

try:  # newer SDKs run on the `httpx2` fork and reject `httpx` objects
    import httpx2 as http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as http  # type: ignore[no-redef]

_DELTA_FOR_BLOCK = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "signature_delta": "thinking",
    "input_json_delta": "tool_use",
}


def _frames(text: str) -> list[tuple[str, dict[str, Any]]]:
    assert text == "" or text.endswith("\n\n"), "the stream must end with a complete frame"
    frames: list[tuple[str, dict[str, Any]]] = []
    for raw in text.split("\n\n")[:-1]:
        lines = raw.split("\n")
        assert len(lines) == 2, f"a frame is exactly an event line and a data line: {raw!r}"
        assert lines[0].startswith("event: "), f"missing event line (the SDK dispatches on it): {raw!r}"
        assert lines[1].startswith("data: "), f"missing data line: {raw!r}"
        name = lines[0][len("event: ") :]
        try:
            data = json.loads(lines[1][len("data: ") :])
        except ValueError as err:
            raise AssertionError(f"data is not JSON: {raw!r}") from err
        assert isinstance(data, dict) and data.get("type") == name, f"data.type must equal the event: {raw!r}"
        frames.append((name, data))
    return frames


def _check_message_start(data: dict[str, Any]) -> None:
    message = data["message"]
    for key in ("id", "type", "role", "model", "content", "usage"):
        assert key in message, f"message_start.message lacks {key}"
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"] == []
    assert message["id"].startswith("msg_")
    assert isinstance(message["usage"]["input_tokens"], int)
    assert isinstance(message["usage"]["output_tokens"], int)


def check_anthropic_sse(text: str, *, complete: bool = True) -> list[dict[str, Any]]:
    """Assert the Anthropic stream grammar on `text`; return the data objects in order.

    message_start first; blocks strictly sequential with indices 0..n; deltas match their block type;
    thinking blocks carry a non-empty signature and text blocks non-whitespace text; every tool_use's
    concatenated partial_json is a JSON object; message_delta (with a stop_reason) after the last block and
    before message_stop; nothing after message_stop or error. With `complete` (the default) the stream
    must also end with message_stop or an error event.
    """
    events = _frames(text)
    assert events, "an empty stream (the JS SDK throws 'request ended without sending any chunks')"
    state = "start"  # start -> message -> block -> message -> delta -> stopped | errored
    next_index = 0
    block: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    for name, data in events:
        out.append(data)
        assert state not in ("stopped", "errored"), f"{name} after the end of the stream"
        if name == "error":
            assert isinstance(data.get("error"), dict), "error events need an `error` object"
            assert data["error"].get("type") and isinstance(data["error"].get("message"), str)
            state = "errored"
            continue
        if name == "ping":
            assert state != "start", "ping before message_start"
            continue
        if state == "start":
            assert name == "message_start", f"got {name} before message_start"
            _check_message_start(data)
            state = "message"
        elif name == "content_block_start":
            assert state == "message", f"content_block_start while {state}"
            assert data["index"] == next_index, f"block index {data['index']}, expected {next_index}"
            block = {"type": data["content_block"]["type"], "text": "", "json": "", "signature": ""}
            if block["type"] == "tool_use":
                assert data["content_block"]["id"] and data["content_block"]["name"]
                assert data["content_block"]["input"] == {}
            state = "block"
        elif name == "content_block_delta":
            assert state == "block" and data["index"] == next_index, "delta outside its open block"
            kind = data["delta"]["type"]
            assert _DELTA_FOR_BLOCK.get(kind) == block["type"], f"{kind} into a {block['type']} block"
            if kind == "text_delta":
                assert data["delta"]["text"], "empty text_delta"
                block["text"] += data["delta"]["text"]
            elif kind == "input_json_delta":
                block["json"] += data["delta"]["partial_json"]
            elif kind == "signature_delta":
                block["signature"] = data["delta"]["signature"]
        elif name == "content_block_stop":
            assert state == "block" and data["index"] == next_index, "stop of a block that is not open"
            if block["type"] == "thinking":
                assert block["signature"], "thinking block without a signature"
            elif block["type"] == "text":
                assert block["text"].strip(), "empty or whitespace-only text block"
            elif block["type"] == "tool_use":
                try:
                    tool_input = json.loads(block["json"] or "{}")
                except ValueError as err:
                    raise AssertionError(f"tool input is not valid JSON: {block['json']!r}") from err
                assert isinstance(tool_input, dict), "tool input is not a JSON object"
            next_index += 1
            state = "message"
        elif name == "message_delta":
            assert state in ("message", "delta"), f"message_delta while {state}"
            assert data["delta"]["stop_reason"], "message_delta without a stop_reason"
            assert isinstance(data["usage"]["output_tokens"], int)
            state = "delta"
        elif name == "message_stop":
            assert state == "delta", "message_stop without a message_delta before it"
            state = "stopped"
        else:
            raise AssertionError(f"unknown event {name}")
    if complete:
        assert state in ("stopped", "errored"), f"the stream ended while {state}, without message_stop"
    return out


def sdk_message(raw: bytes) -> anthropic.types.Message:
    """The message the official SDK's stream accumulator builds from the SSE bytes `raw`."""

    def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    client = anthropic.Anthropic(
        api_key="test-key",
        base_url="http://gateway.test",
        http_client=http.Client(transport=http.MockTransport(handler)),
        max_retries=0,
    )
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()
