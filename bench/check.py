"""Every response the benchmark receives is checked, cheaply enough not to slow the load generator.

The first gateway response of a scenario is validated in full: the Anthropic SSE grammar (message_start,
sequential blocks, matching deltas, message_delta, message_stop), the assembled text, the stop reason and
the usage the upstream reported. Every later response must then equal that one byte for byte once the
random message id is masked, which is one C-level regex substitution and one comparison. Baseline
responses must equal the upstream's canned bytes exactly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bench.load import Sample
from bench.payloads import (
    PROMPT_TOKENS,
    TOKEN_MARK,
    Canned,
    token_event,
    token_stream_end,
    token_stream_start,
)

_MESSAGE_ID = re.compile(rb'"id":"msg_[0-9A-Za-z]+"')
_MASKED_ID = b'"id":"msg_"'
_TOKEN_TEXT = re.compile(r" ~\d+~")
_DELTA_FOR_BLOCK = {"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "thinking"}


class InvalidResponse(Exception):
    """A response that is not what a correct gateway (or the canned upstream) sends."""


def _frames(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    text = raw.decode("utf-8")
    if not text.endswith("\n\n"):
        raise InvalidResponse("the stream does not end with a complete event")
    frames: list[tuple[str, dict[str, Any]]] = []
    for block in text.split("\n\n")[:-1]:
        lines = block.split("\n")
        if len(lines) != 2 or not lines[0].startswith("event: ") or not lines[1].startswith("data: "):
            raise InvalidResponse(f"not an `event:` + `data:` frame: {block[:120]!r}")
        name, data = lines[0][7:], json.loads(lines[1][6:])
        if not isinstance(data, dict) or data.get("type") != name:
            raise InvalidResponse(f"data.type differs from the event name {name!r}")
        frames.append((name, data))
    return frames


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidResponse(message)


def validate_stream(raw: bytes, model: str, canned: Canned) -> None:
    """Full check of one Anthropic SSE response to a request for `model` answered with `canned`."""
    texts, delta = _message_stream(raw, model)
    _require("".join(texts) == canned.text, "the streamed text differs from what the upstream sent")
    _require(delta["delta"].get("stop_reason") == "end_turn", "stop_reason is not end_turn")
    usage = delta.get("usage", {})
    _require(usage.get("output_tokens") == canned.completion_tokens, "output_tokens not passed through")
    _require(usage.get("input_tokens") == PROMPT_TOKENS, "input_tokens not passed through")


def validate_token_stream(raw: bytes, model: str, tokens: int) -> None:
    """Full check of one Anthropic SSE response to a token stream of `tokens` tokens (TOKENS_PATH)."""
    texts, delta = _message_stream(raw, model)
    _require(len(texts) == tokens, f"{len(texts)} text deltas for {tokens} tokens")
    _require(all(_TOKEN_TEXT.fullmatch(text) for text in texts), "a token's text differs from the upstream's")
    _require(delta["delta"].get("stop_reason") == "end_turn", "stop_reason is not end_turn")
    usage = delta.get("usage", {})
    _require(usage.get("output_tokens") == tokens, "output_tokens not passed through")
    _require(usage.get("input_tokens") == PROMPT_TOKENS, "input_tokens not passed through")


def validate_upstream_token_stream(raw: bytes, tokens: int) -> None:
    """Full check of the fake upstream's own token stream, as the bare-upstream baseline receives it."""
    _require(raw.startswith(token_stream_start()), "the stream does not start with the role event")
    _require(raw.endswith(token_stream_end(tokens)), "the stream does not end with finish, usage and [DONE]")
    events = raw.split(b"\n\n")[1:-4]
    _require(len(events) == tokens, f"{len(events)} token events for {tokens} tokens")
    template = token_event(0)
    _require(all(TOKEN_MARK.sub(b"~0~", e) + b"\n\n" == template for e in events), "a token event differs")


def _message_stream(raw: bytes, model: str) -> tuple[list[str], dict[str, Any]]:
    """The text deltas and the final message_delta of an Anthropic SSE response, its grammar checked."""
    frames = _frames(raw)
    _require(len(frames) >= 2, "too few events")
    name, first = frames[0]
    _require(name == "message_start", f"first event is {name}, not message_start")
    message = first["message"]
    _require(message.get("model") == model, f"message.model is {message.get('model')!r}, not {model!r}")
    _require(str(message.get("id", "")).startswith("msg_"), "message id does not start with msg_")
    _require(message.get("content") == [], "message_start content is not empty")
    _require(frames[-1][0] == "message_stop", "last event is not message_stop")
    _require(frames[-2][0] == "message_delta", "message_delta is not just before message_stop")
    open_block: str | None = None
    index = -1
    texts: list[str] = []
    for name, data in frames[1:-2]:
        if name == "ping":
            continue
        if name == "content_block_start":
            _require(open_block is None, "a block starts while another is open")
            index += 1
            _require(data.get("index") == index, f"block index {data.get('index')}, expected {index}")
            open_block = data["content_block"]["type"]
        elif name == "content_block_delta":
            kind = data["delta"]["type"]
            _require(data.get("index") == index and open_block is not None, "delta outside its block")
            _require(_DELTA_FOR_BLOCK.get(kind) == open_block, f"{kind} inside a {open_block} block")
            if kind == "text_delta":
                texts.append(data["delta"]["text"])
        elif name == "content_block_stop":
            _require(data.get("index") == index and open_block is not None, "stop of a block not open")
            open_block = None
        else:
            raise InvalidResponse(f"unexpected event {name} between message_start and message_delta")
    _require(open_block is None, "a block is still open at message_delta")
    return texts, frames[-2][1]


def validate_message(raw: bytes, model: str, canned: Canned) -> None:
    """Full check of one non-streaming Anthropic message."""
    message = json.loads(raw)
    _require(message.get("type") == "message" and message.get("role") == "assistant", "not a message")
    _require(message.get("model") == model, f"message.model is {message.get('model')!r}, not {model!r}")
    _require(message.get("content") == [{"type": "text", "text": canned.text}], "content differs")
    _require(message.get("stop_reason") == "end_turn", "stop_reason is not end_turn")
    usage = message.get("usage", {})
    _require(usage.get("output_tokens") == canned.completion_tokens, "output_tokens not passed through")
    _require(usage.get("input_tokens") == PROMPT_TOKENS, "input_tokens not passed through")


class Checker:
    """Checks the responses of one scenario on one side (upstream or gateway); counts good and bad."""

    def __init__(self, *, gateway: bool, stream: bool, model: str, canned: Canned) -> None:
        self._gateway = gateway
        self._stream = stream
        self._model = model
        self._canned = canned
        self._reference: bytes | None = None if gateway else self._upstream_bytes()
        self.ok = 0
        self.bad = 0
        self.first_error = ""

    def _upstream_bytes(self) -> bytes:
        return b"".join(self._canned.events) if self._stream else self._canned.json

    def __call__(self, sample: Sample) -> None:
        try:
            self._check(sample)
        except (InvalidResponse, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.bad += 1
            if not self.first_error:
                self.first_error = f"{type(exc).__name__}: {exc}"
        else:
            self.ok += 1

    def _check(self, sample: Sample) -> None:
        if sample.status != 200:
            raise InvalidResponse(f"HTTP {sample.status}: {sample.body[:200]!r}")
        body = _MESSAGE_ID.sub(_MASKED_ID, sample.body, count=1) if self._gateway else sample.body
        if self._reference is None:
            validate = validate_stream if self._stream else validate_message
            validate(sample.body, self._model, self._canned)
            self._reference = body
        elif body != self._reference:
            raise InvalidResponse("response differs from the first, validated one")
