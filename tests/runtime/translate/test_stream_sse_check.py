"""The SSE grammar checker must reject what the SDKs reject, or the stream tests prove nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sse_check import check_anthropic_sse

START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    },
}
TEXT_START = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
TOOL_START = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}},
}
THINK_START = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
}
STOP0 = {"type": "content_block_stop", "index": 0}
DELTA = {
    "type": "message_delta",
    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    "usage": {"output_tokens": 2},
}
END = {"type": "message_stop"}


def text_delta(text: str, index: int = 0) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}


def json_delta(partial: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": partial},
    }


def sse(*events: dict[str, Any]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def test_valid_stream_passes() -> None:
    events = check_anthropic_sse(
        sse(START, {"type": "ping"}, TEXT_START, text_delta("hi"), STOP0, DELTA, END)
    )
    assert [e["type"] for e in events][-2:] == ["message_delta", "message_stop"]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param((TEXT_START, STOP0, DELTA, END), id="block-before-message_start"),
        pytest.param(
            (START, {**TEXT_START, "index": 1}, text_delta("x", 1), {**STOP0, "index": 1}, DELTA, END),
            id="gap",
        ),
        pytest.param((START, TOOL_START, text_delta("x"), STOP0, DELTA, END), id="text-delta-into-tool"),
        pytest.param((START, TOOL_START, json_delta('{"a": '), STOP0, DELTA, END), id="invalid-tool-json"),
        pytest.param((START, THINK_START, STOP0, DELTA, END), id="thinking-without-signature"),
        pytest.param((START, TEXT_START, text_delta("  "), STOP0, DELTA, END), id="whitespace-text-block"),
        pytest.param((START, TEXT_START, text_delta("x"), DELTA, END), id="block-never-stopped"),
        pytest.param((START, END), id="stop-without-message_delta"),
        pytest.param((START, DELTA, END, {"type": "ping"}), id="event-after-stop"),
        pytest.param((START, DELTA), id="no-message_stop"),
    ],
)
def test_broken_streams_are_rejected(events: tuple[dict[str, Any], ...]) -> None:
    with pytest.raises(AssertionError):
        check_anthropic_sse(sse(*events))


def test_frame_without_event_line_is_rejected() -> None:
    with pytest.raises(AssertionError):
        check_anthropic_sse(f"data: {json.dumps(START)}\n\n")


def test_error_ends_the_stream() -> None:
    error = {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    assert check_anthropic_sse(sse(START, error))[-1] == error
    with pytest.raises(AssertionError):
        check_anthropic_sse(sse(START, error, DELTA, END))
