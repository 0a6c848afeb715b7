"""What the benchmark sends and what its fake upstream answers: request bodies, canned OpenAI replies and
the text a correct gateway must hand back for each.

The Claude Code request is the real capture in ../shared when it exists beside the repo; otherwise a
request of the same shape and size is generated here (system blocks, a dozen tools with JSON schemas, a
reminder message), so the benchmark means the same thing on a machine without the fixtures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[2] / "shared/fixtures/claude-code/cc_first_request_say_hi.json"

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


def _synthetic_tool(i: int) -> dict[str, Any]:
    properties = {
        f"arg_{j}": {"type": "string", "description": _filler(60 + 7 * j)} for j in range(1 + i % 6)
    }
    return {
        "name": f"Tool{i}",
        "description": _filler(1_800 + 150 * (i % 5)),
        "input_schema": {
            "type": "object",
            "properties": properties,
            "required": sorted(properties)[:1],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


def synthetic_claude_code_request() -> dict[str, Any]:
    """A request shaped like Claude Code's first turn (about 52 KB), made of neutral filler text."""
    return {
        "model": "claude-opus-4-8",
        "max_tokens": 32_000,
        "stream": True,
        "system": [
            {"type": "text", "text": _filler(74)},
            {"type": "text", "text": _filler(62), "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": _filler(7_018), "cache_control": {"type": "ephemeral"}},
        ],
        "tools": [_synthetic_tool(i) for i in range(12)],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>\n" + _filler(9_000) + "\n</system-reminder>"},
                    {"type": "text", "text": "say hi", "cache_control": {"type": "ephemeral"}},
                ],
            }
        ],
        "metadata": {"user_id": "bench-user"},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "medium"},
    }


def claude_code_request() -> tuple[dict[str, Any], str]:
    """The Claude Code request and where it came from ("fixture" or "synthetic")."""
    if FIXTURE.is_file():
        body: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
        return body, "fixture"
    return synthetic_claude_code_request(), "synthetic"


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
