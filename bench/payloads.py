"""What the benchmark sends and what its fake upstream answers: request bodies, canned OpenAI replies and
the text a correct gateway must hand back for each.

The Claude Code request is tests/fixtures/claude-code/cc_first_request_say_hi.json: the shape and size
(about 49 KB) of Claude Code's first request, with text written for this project.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[1] / "tests/fixtures/claude-code/cc_first_request_say_hi.json"

SHORT_TEXT_PIECES = ("Hi", "!", " How", " can", " I", " help", " you", " today", "?")
SHORT_TEXT = "".join(SHORT_TEXT_PIECES)
LONG_CHUNKS = 2_000
LONG_TEXT_PIECES = tuple(f" w{i}" for i in range(LONG_CHUNKS))
LONG_TEXT = "".join(LONG_TEXT_PIECES)
BIG_BODY_BYTES = 250_000

PROMPT_TOKENS = 12_345  # what the fake upstream reports; the gateway must pass it through
SHORT_COMPLETION_TOKENS = 10
LONG_COMPLETION_TOKENS = LONG_CHUNKS

# Paths on the fake upstream: the long stream has its own provider base URL in the gateway config.
SHORT_PATH = "/v1/chat/completions"
LONG_PATH = "/long/v1/chat/completions"

_FILLER = (
    "The quick brown fox jumps over the lazy dog while the build runs; check `src/app.py` line 42, "
    "then run the tests again and report what changed. "
)


def _filler(size: int) -> str:
    return (_FILLER * (size // len(_FILLER) + 1))[:size]


def claude_code_request() -> dict[str, Any]:
    """Claude Code's first request (the committed fixture)."""
    body: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return body


def big_request(base: dict[str, Any]) -> dict[str, Any]:
    """`base` grown to about 250 KB by a long conversation history (tool calls and their results)."""
    body = {**base, "messages": list(base["messages"])}
    turn = 0
    while len(json.dumps(body)) < BIG_BODY_BYTES:
        call_id = f"toolu_bench{turn:04d}"
        body["messages"][-1:-1] = [
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Reading the file."},
                    {
                        "type": "tool_use",
                        "id": call_id,
                        "name": "Read",
                        "input": {"file_path": f"/src/m{turn}.py"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call_id, "content": _filler(6_000)}],
            },
        ]
        turn += 1
    return body


def small_request(model: str) -> dict[str, Any]:
    """A tiny streaming request (the 2,000-chunk scenario measures the stream, not the body)."""
    return {
        "model": model,
        "max_tokens": 4_096,
        "stream": True,
        "messages": [{"role": "user", "content": "go"}],
    }


# --- canned upstream replies ----------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion_tokens,
        "total_tokens": PROMPT_TOKENS + completion_tokens,
    }


def sse_events(pieces: tuple[str, ...], completion_tokens: int) -> list[bytes]:
    """An OpenAI stream as its SSE events: role, one event per text piece, finish, usage, [DONE]."""
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": piece}) for piece in pieces]
    chunks.append(_chunk({}, "stop"))
    usage = {**_chunk({}), "choices": [], "usage": _usage(completion_tokens)}
    events = [f"data: {json.dumps(c, separators=(',', ':'))}\n\n".encode() for c in [*chunks, usage]]
    return [*events, b"data: [DONE]\n\n"]


def completion(text: str, completion_tokens: int) -> bytes:
    """A non-streaming chat.completion body."""
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-bench",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": _usage(completion_tokens),
        }
    ).encode()


@dataclass(frozen=True)
class Canned:
    """The upstream's reply for one path: SSE events for `accept: text/event-stream`, else JSON."""

    events: tuple[bytes, ...]
    json: bytes
    text: str
    completion_tokens: int


def canned_replies() -> dict[str, Canned]:
    """The fake upstream's replies by request path."""
    return {
        SHORT_PATH: Canned(
            tuple(sse_events(SHORT_TEXT_PIECES, SHORT_COMPLETION_TOKENS)),
            completion(SHORT_TEXT, SHORT_COMPLETION_TOKENS),
            SHORT_TEXT,
            SHORT_COMPLETION_TOKENS,
        ),
        LONG_PATH: Canned(
            tuple(sse_events(LONG_TEXT_PIECES, LONG_COMPLETION_TOKENS)),
            completion(LONG_TEXT, LONG_COMPLETION_TOKENS),
            LONG_TEXT,
            LONG_COMPLETION_TOKENS,
        ),
    }


# --- token streams (the many-session scenario) ---------------------------------------------------------

# Served token by token at a fixed pace by the fake upstream (bench/upstream.py, `--tokens`). Each token's
# text carries the upstream's CLOCK_MONOTONIC time at the moment it was written, in nanoseconds, so a client
# on the same machine can tell how long that token took to reach it.
TOKENS_PATH = "/tokens/v1/chat/completions"
TOKEN_MARK = re.compile(rb"~(\d+)~")
_TOKEN_EVENT = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-bench",'
    b'"choices":[{"index":0,"delta":{"content":" ~%d~"},"finish_reason":null}]}\n\n'
)


def token_event(sent_ns: int) -> bytes:
    """One token's SSE event, stamped with the time it is sent."""
    return _TOKEN_EVENT % sent_ns


def token_stream_start() -> bytes:
    """The event that opens a token stream (the assistant role, no text)."""
    return sse_events((), 0)[0]


def token_stream_end(tokens: int) -> bytes:
    """The events that close a stream of `tokens` tokens: the finish reason, the usage, [DONE]."""
    return b"".join(sse_events((), tokens)[1:])
