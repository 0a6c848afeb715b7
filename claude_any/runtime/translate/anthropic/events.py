"""The Anthropic stream events, as ready-to-send SSE bytes (docs/PROTOCOL.md "Wire format").

The per-chunk events (deltas, block start/stop) are built from fixed text around the only variable parts,
so the hot path serialises one string per delta instead of a whole payload dict.
"""

from __future__ import annotations

from typing import Any

from claude_any.runtime.errors import AnthropicError, shown
from claude_any.runtime.translate.sse import dumps, frame

PING = frame("ping", {"type": "ping"})
MESSAGE_STOP = frame("message_stop", {"type": "message_stop"})

_BLOCK_START = 'event: content_block_start\ndata: {"type":"content_block_start","index":'
_DELTA = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_BLOCK_STOP = 'event: content_block_stop\ndata: {"type":"content_block_stop","index":'


def message_start(message_id: str, model: str, input_tokens: int) -> bytes:
    """`message_start` with the complete message skeleton the SDK copies as its snapshot."""
    return frame(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": input_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": 1,
                },
            },
        },
    )


def thinking_start(index: int) -> bytes:
    """Opens a thinking block; its signature arrives as a `signature_delta` before the stop."""
    block = '{"type":"thinking","thinking":"","signature":""}'
    return f'{_BLOCK_START}{index},"content_block":{block}}}\n\n'.encode()


def text_start(index: int) -> bytes:
    """Opens a text block."""
    return f'{_BLOCK_START}{index},"content_block":{{"type":"text","text":""}}}}\n\n'.encode()


def tool_start(index: int, tool_id: str, name: str) -> bytes:
    """Opens a tool_use block; the input arrives as `input_json_delta`."""
    block = f'{{"type":"tool_use","id":{dumps(tool_id)},"name":{dumps(name)},"input":{{}}}}'
    return f'{_BLOCK_START}{index},"content_block":{block}}}\n\n'.encode()


def thinking_delta(index: int, text: str) -> bytes:
    """Appends reasoning text to the open thinking block."""
    return f'{_DELTA}{index},"delta":{{"type":"thinking_delta","thinking":{dumps(text)}}}}}\n\n'.encode()


def signature_delta(index: int, signature: str) -> bytes:
    """Sets the thinking block's signature (sent once, just before its stop)."""
    return (
        f'{_DELTA}{index},"delta":{{"type":"signature_delta","signature":{dumps(signature)}}}}}\n\n'.encode()
    )


def text_delta(index: int, text: str) -> bytes:
    """Appends text to the open text block."""
    return f'{_DELTA}{index},"delta":{{"type":"text_delta","text":{dumps(text)}}}}}\n\n'.encode()


def input_json_delta(index: int, partial_json: str) -> bytes:
    """Appends tool input JSON text to the open tool_use block."""
    delta = f'{{"type":"input_json_delta","partial_json":{dumps(partial_json)}}}'
    return f'{_DELTA}{index},"delta":{delta}}}\n\n'.encode()


def block_stop(index: int) -> bytes:
    """Closes the block at `index`."""
    return f"{_BLOCK_STOP}{index}}}\n\n".encode()


def message_delta(stop_reason: str, stop_sequence: str | None, usage: dict[str, Any]) -> bytes:
    """The final stop reason and cumulative usage (the SDK overwrites, never adds)."""
    return frame(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": usage,
        },
    )


def error(err: AnthropicError) -> bytes:
    """`event: error` in Anthropic's envelope, its message cut as every error shown is; the stream ends
    after it."""
    return frame("error", {"type": "error", "error": {"type": err.type, "message": shown(err.message)}})
