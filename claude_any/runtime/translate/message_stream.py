"""The Anthropic side of a streaming translation, shared by the chat (`stream.py`) and Responses
(`responses_stream.py`) translators.

`MessageStream` owns what the client sees whatever the upstream dialect: the lifecycle (`start`, `feed`,
`finish`, `error`), the SSE data lines every dialect frames the same way (blank, `[DONE]`, JSON objects),
the stop-sequence scanner, and the block grammar of docs/PROTOCOL.md: one block open at a time, indices
in start order, thinking closed with a signature, whitespace-only text opening no block, tool arguments sent
as one valid `input_json_delta` just before the block's stop, calls announced while another is still
receiving queued and emitted after it.

A dialect subclasses it and overrides `_payload` (what one parsed upstream object means), and where it needs
to, `_unreadable` (a data line that is not JSON) and `_settle_text` (release the text held back).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Generic, TypeVar

from claude_any.runtime import errors
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate import events, json_codec
from claude_any.runtime.translate.arguments import arguments_json
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import IdFactory, ToolIds, random_id
from claude_any.runtime.translate.parts import signature_of
from claude_any.runtime.translate.sse import Event, SSEReader
from claude_any.runtime.translate.text_scan import StopScanner
from claude_any.runtime.translate.usage import final_usage, stop_reason

log = logging.getLogger(__name__)

# The kind of the open block.
NONE, THINKING, TEXT, TOOL = range(4)


class ToolCall:
    """One upstream tool call whose arguments are buffered until its block closes."""

    __slots__ = ("arguments", "closed", "id", "name")

    def __init__(self, tool_id: str, name: str) -> None:
        self.id = tool_id
        self.name = name
        self.arguments: list[str] = []
        self.closed = False  # its input_json_delta and block stop are sent

    def input_json(self) -> str:
        """The arguments as one valid JSON object text (repaired if the upstream's were not)."""
        return arguments_json("".join(self.arguments), tool=self.name)


CallT = TypeVar("CallT", bound=ToolCall)


class MessageStream(Generic[CallT]):
    """One Anthropic message streamed out of one upstream stream; a dialect subclass reads the upstream.

    Use: `start()` once, `feed(chunk)` per upstream read, `finish()` at the end (as soon as `done` is true,
    or at EOF), `error(err)` for a failure after the headers went out. Each returns the bytes to send.
    """

    def __init__(self, ctx: Context, *, make_id: IdFactory = random_id) -> None:
        self._ctx = ctx
        self._message_id = make_id("msg_")
        self._tool_ids = ToolIds(make_id)
        self._reader = SSEReader()
        self._stops = StopScanner(ctx.stop_sequences)

        self._started = False
        self._upstream_done = False  # the upstream said its answer is complete
        self._finished = False  # message_stop sent
        self._failure: AnthropicError | None = None

        self._index = -1
        self._open = NONE
        self._open_tool: CallT | None = None
        self._waiting: list[CallT] = []  # announced while another tool block was still receiving
        self._has_tool_use = False
        self._pending_space = ""  # whitespace not yet known to belong to a text block

        self._thinking_hash: Any = None
        self._signature = ""  # the upstream's signature for the open thinking block, if it sent one
        self._finish_reason: str | None = None  # chat-style, as `usage.stop_reason` reads it
        self._upstream_usage: dict[str, Any] | None = None  # chat-style, as `usage.final_usage` reads it
        self._output_chars = 0
        self._stop_reason: str | None = None

    # --- public API -------------------------------------------------------------------------------------

    @property
    def upstream_done(self) -> bool:
        """The upstream ended its answer normally; only the end of its body follows."""
        return self._upstream_done

    @property
    def done(self) -> bool:
        """True once no more upstream input matters: the answer ended, a stop sequence hit, or an error."""
        return (
            self._upstream_done or self._finished or self._failure is not None or self._stops.hit is not None
        )

    @property
    def failure(self) -> AnthropicError | None:
        """The error the stream ended with (already sent as `event: error`), if any."""
        return self._failure

    @property
    def stop_reason(self) -> str | None:
        """The Anthropic stop_reason sent in `message_delta`; None before `finish()` or after an error."""
        return self._stop_reason

    @property
    def usage(self) -> dict[str, Any]:
        """Usage as reported (before `finish()`: as it would be reported now): input/output/cache tokens."""
        return final_usage(self._upstream_usage, self._ctx.estimated_input_tokens, self._output_chars)

    def start(self) -> bytes:
        """`message_start` (complete skeleton, estimated input tokens) and a `ping`."""
        if self._started:
            return b""
        self._started = True
        return (
            events.message_start(
                self._message_id, self._ctx.requested_model, self._ctx.estimated_input_tokens
            )
            + events.PING
        )

    def ping(self) -> bytes:
        """A keep-alive `ping` for long upstream silences (reasoning models think quietly)."""
        return events.PING if self._started and not self._closed() else b""

    def feed(self, chunk: bytes) -> bytes:
        """Consume upstream bytes split anywhere; return the Anthropic events they complete.

        An upstream error or an unreadable data line ends the stream with `event: error` (returned here,
        after any events that came before it); `failure` then says why.
        """
        if self._closed():
            return b""
        out: list[bytes] = [] if self._started else [self.start()]
        for event in self._reader.feed(chunk):
            self._event(event, out)
            if self._failure is not None:
                break
        return b"".join(out)

    def finish(self) -> bytes:
        """At the upstream's end: close blocks, then `message_delta` (stop, usage) and `message_stop`."""
        if self._closed():
            return b""
        out: list[bytes] = [] if self._started else [self.start()]
        for event in self._reader.close():
            self._event(event, out)
            if self._failure is not None:
                return b"".join(out)
        if self._stops.hit is None:
            self._settle_text(out)
        self._close_all(out)
        self._stop_reason = stop_reason(
            self._finish_reason,
            has_tool_use=self._has_tool_use,
            stop_sequence_hit=self._stops.hit is not None,
        )
        out.append(events.message_delta(self._stop_reason, self._stops.hit, self.usage))
        out.append(events.MESSAGE_STOP)
        self._finished = True
        return b"".join(out)

    def error(self, err: AnthropicError) -> bytes:
        """`event: error` for a failure after the headers were sent; nothing follows it."""
        if self._closed():
            return b""
        self._failure = err
        return events.error(err)

    # --- upstream events: what a dialect overrides ------------------------------------------------------

    def _payload(self, event: Event, payload: dict[str, Any], out: list[bytes]) -> None:
        """Translate one upstream JSON object (`event` is the SSE event it came in)."""
        raise NotImplementedError

    def _unreadable(self, event: Event, out: list[bytes]) -> None:
        """A data line that is not JSON: the stream cannot be trusted any further."""
        log.warning("upstream stream: unreadable data line (%d chars)", len(event.data))
        self._fail(errors.api_error("the upstream sent a malformed stream event"), out)

    def _settle_text(self, out: list[bytes]) -> None:
        """Release the text held back: what follows is a tool call or the end (no stop sequence hit)."""
        self._flush_held(out)

    # --- upstream events: the shared framing ------------------------------------------------------------

    def _closed(self) -> bool:
        return self._finished or self._failure is not None

    def _fail(self, err: AnthropicError, out: list[bytes]) -> None:
        self._failure = err
        out.append(events.error(err))

    def _event(self, event: Event, out: list[bytes]) -> None:
        data = event.data
        if self._upstream_done or not data or data.isspace():
            return
        if data == "[DONE]":
            self._upstream_done = True
            return
        try:
            payload = json_codec.loads(data)
        except ValueError:
            self._unreadable(event, out)
            return
        if not isinstance(payload, dict):
            self._fail(errors.api_error("the upstream sent an unexpected stream event"), out)
        else:
            self._payload(event, payload, out)

    # --- reasoning and text -----------------------------------------------------------------------------

    def _open_thinking(self, out: list[bytes]) -> None:
        self._flush_held(out)  # held text belongs before the new block
        self._close_all(out)
        self._begin(THINKING)
        self._thinking_hash = hashlib.sha256()
        self._signature = ""
        out.append(events.thinking_start(self._index))

    def _thinking(self, text: str, out: list[bytes]) -> None:
        """Reasoning text for the open thinking block."""
        self._thinking_hash.update(text.encode("utf-8"))
        self._output_chars += len(text)
        out.append(events.thinking_delta(self._index, text))

    def _flush_held(self, out: list[bytes]) -> None:
        """Send the text the stop scanner holds back as a possible prefix: the content is moving on."""
        self._visible(self._stops.flush(), out)

    def _visible(self, text: str, out: list[bytes]) -> None:
        if not text:
            return
        if self._open != TEXT:
            if text.isspace():
                self._pending_space += text
                return
            # Leading whitespace is kept at the start of the message, dropped after tool calls.
            text = text.lstrip() if self._has_tool_use else self._pending_space + text
            self._pending_space = ""
            self._close_all(out)
            self._begin(TEXT)
            out.append(events.text_start(self._index))
        self._output_chars += len(text)
        out.append(events.text_delta(self._index, text))

    # --- blocks -----------------------------------------------------------------------------------------

    def _queue_or_start(self, call: CallT, out: list[bytes], *, queue: bool) -> None:
        """Open `call`'s block now, or after the open tool block when `queue` (it may still receive)."""
        if queue:
            self._waiting.append(call)
            return
        self._pending_space = ""  # whitespace between text and tools is dropped
        self._close_all(out)
        self._start_tool(call, out)

    def _begin(self, kind: int) -> None:
        self._index += 1
        self._open = kind

    def _start_tool(self, call: CallT, out: list[bytes]) -> None:
        self._begin(TOOL)
        self._open_tool = call
        out.append(events.tool_start(self._index, call.id, call.name or "unknown_tool"))

    def _close_block(self, out: list[bytes]) -> None:
        if self._open == NONE:
            return
        if self._open == THINKING:
            signature = self._signature or signature_of(self._thinking_hash)
            out.append(events.signature_delta(self._index, signature))
        elif self._open == TOOL and self._open_tool is not None:
            call = self._open_tool
            arguments = call.input_json()
            self._output_chars += len(arguments)
            out.append(events.input_json_delta(self._index, arguments))
            call.closed = True
            self._open_tool = None
        out.append(events.block_stop(self._index))
        self._open = NONE

    def _close_all(self, out: list[bytes]) -> None:
        """Close the open block, then emit every tool call that was waiting for it."""
        self._close_block(out)
        while self._waiting:
            self._start_tool(self._waiting.pop(0), out)
            self._close_block(out)
