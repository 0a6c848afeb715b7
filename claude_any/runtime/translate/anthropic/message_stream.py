"""The Anthropic side of a streaming translation, shared by the Chat Completions (`chat/stream.py`) and
Responses (`responses/stream.py`) translators.

`MessageStream` owns what the client sees whatever the upstream dialect: the lifecycle (`start`, `feed`,
`finish`, `error`), the SSE data lines every dialect frames the same way (blank, `[DONE]`, JSON objects),
the stop-sequence scanner, and the block grammar of docs/PROTOCOL.md: one block open at a time, indices
in start order, thinking closed with a signature, whitespace-only text opening no block.

Two rules keep it truthful:
- the answer ends well (`message_stop`) only when the provider said it did (a dialect sets `_ended`); a body
  that just stops ends with `event: error`;
- a tool call is sent only whole: its block (start, its arguments as one valid `input_json_delta`, stop) is
  sent at once, when its arguments are whole and the model has moved on, or at the provider's finish, where
  `arguments.settle_call` withholds a call the output limit cut, and refuses one that is not whole. Calls
  wait in order; text and thinking are never held back for them.

A dialect subclasses it and overrides `_payload` (what one parsed upstream object means), and where it needs
to, `_unreadable` (a data line that is not JSON) and `_settle_text` (release the text held back). It sets
`_ended` when the provider says the answer is complete, `_upstream_done` when nothing more will come.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Generic, TypeVar

from claude_any.runtime import errors
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate import json_codec
from claude_any.runtime.translate.anthropic import events
from claude_any.runtime.translate.arguments import read_arguments, settle_call
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import IdFactory, ToolIds, random_id
from claude_any.runtime.translate.signatures import signature_of
from claude_any.runtime.translate.sse import Event, SSEReader
from claude_any.runtime.translate.text_scan import StopScanner
from claude_any.runtime.translate.usage import final_usage, metered, stop_reason

log = logging.getLogger(__name__)

# The kind of the open block (tool calls are never open: each is sent whole, at once).
NONE, THINKING, TEXT = range(3)

# Finish reasons (chat-style) that say the provider cut its own output short.
_TRUNCATING = frozenset({"length", "content_filter"})


class ToolCall:
    """One upstream tool call whose arguments are buffered until its block is sent (its tool_use id is
    chosen then, from the provider's id and any thought signature that came meanwhile)."""

    __slots__ = ("arguments", "closed", "name", "thought_signature", "upstream_id")

    def __init__(self, upstream_id: str | None, name: str) -> None:
        self.upstream_id = upstream_id
        self.name = name
        self.thought_signature: str | None = None  # Gemini's, handed back with the call next turn
        self.arguments: list[str] = []
        self.closed = False  # sent (or withheld): later arguments for it are not expected

    def raw_arguments(self) -> Any:
        """The arguments as received (a JSON text, or an object from servers that send one)."""
        return "".join(self.arguments)

    def ready(self) -> bool:
        """True when the call may be sent before the answer's end: it has a name and its arguments are a
        whole object (no arguments yet is not: they may still come). The finish judges the others."""
        raw = self.raw_arguments()
        empty = isinstance(raw, str) and not raw.strip()
        return bool(self.name) and not empty and read_arguments(raw).whole


CallT = TypeVar("CallT", bound=ToolCall)


class MessageStream(Generic[CallT]):
    """One Anthropic message streamed out of one upstream stream; a dialect subclass reads the upstream.

    Use: `start()` once, `feed(chunk)` per upstream read, `finish()` at the end (as soon as `done` is true,
    or at EOF), `error(err)` for a failure after the headers went out. Each returns the bytes to send.
    """

    # Whether `data: [DONE]` alone says the answer is complete (Chat Completions), or only that the
    # stream is over (the Responses API says complete with response.completed).
    _DONE_ENDS_ANSWER = True

    def __init__(self, ctx: Context, *, make_id: IdFactory = random_id) -> None:
        self._ctx = ctx
        self._message_id = make_id("msg_")
        self._tool_ids = ToolIds(make_id)
        self._reader = SSEReader()
        self._stops = StopScanner(ctx.stop_sequences)

        self._started = False
        self._ended = False  # the provider said its answer is complete (finish_reason, response.completed)
        self._upstream_done = False  # nothing more will come: [DONE], response.completed
        self._finished = False  # message_stop sent
        self._failure: AnthropicError | None = None

        self._index = -1
        self._open = NONE
        self._calls: list[CallT] = []  # announced and not sent yet, in order
        self._has_tool_use = False  # a call was announced (text after it loses its leading whitespace)
        self._sent_tool_use = False  # a tool_use block was sent
        self._pending_space = ""  # whitespace not yet known to belong to a text block

        self._thinking_hash: Any = None
        self._signature = ""  # the upstream's signature for the open thinking block, if it sent one
        self._details: list[dict[str, Any]] = []  # OpenRouter's reasoning_details for the open thinking block
        self._finish_reason: str | None = None  # chat-style, as `usage.stop_reason` reads it
        self._provider_stop: str | None = None  # the stop sequence the provider says it stopped at
        self._refusal = False  # the text is the model's refusal
        self._upstream_usage: dict[str, Any] | None = None  # chat-style, as `usage.final_usage` reads it
        self._output_chars = 0
        self._stop_reason: str | None = None

    # --- public API -------------------------------------------------------------------------------------

    @property
    def upstream_done(self) -> bool:
        """The upstream ended its answer normally; only the end of its body follows."""
        return self._upstream_done

    @property
    def finishing(self) -> bool:
        """The provider said the answer is complete (a chat finish_reason) but its stream goes on: only the
        usage and `[DONE]` are still expected, and a silence may end it (`stream_relay.py`)."""
        return self._ended and not self.done

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

    @property
    def usage_metered(self) -> bool:
        """True when `usage` is the provider's own count, False when (part of) it is an estimate."""
        return metered(self._upstream_usage, self._output_chars)

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
        """At the upstream's end: close blocks, then `message_delta` (stop, usage) and `message_stop` when
        the provider said its answer is complete; `event: error` when its stream just stopped, or when a
        tool call it said was finished is not whole."""
        if self._closed():
            return b""
        out: list[bytes] = [] if self._started else [self.start()]
        for event in self._reader.close():
            self._event(event, out)
            if self._failure is not None:
                return b"".join(out)
        if not self._ended and self._stops.hit is None:
            log.warning("%s: the stream ended before the provider finished its answer", self._ctx.provider)
            self._fail(errors.stream_cut(self._ctx.provider), out)
            return b"".join(out)
        if self._stops.hit is None:
            self._settle_text(out)
        self._close_all(out, final=True)
        if self._failure is not None:
            return b"".join(out)
        stop_sequence = self._stops.hit or self._provider_stop
        self._stop_reason = stop_reason(
            self._finish_reason,
            has_tool_use=self._sent_tool_use,
            stop_sequence_hit=stop_sequence is not None,
            refusal=self._refusal,
        )
        out.append(events.message_delta(self._stop_reason, stop_sequence, self.usage))
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
            self._ended = self._ended or self._DONE_ENDS_ANSWER
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
        self._details = []
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

    # --- blocks ---------------------------------------------------------------------------------------------

    def _announce(self, call: CallT, out: list[bytes]) -> None:
        """A new tool call: the content moves on from the open block and from the calls that are whole."""
        self._pending_space = ""  # whitespace between text and tools is dropped
        self._has_tool_use = True
        self._close_all(out)
        self._calls.append(call)

    def _send_ready(self, out: list[bytes]) -> None:
        """Send the calls that are ready now, unless a text or thinking block is open (then they go when it
        closes: blocks never overlap)."""
        if self._open == NONE:
            self._close_all(out)

    def _begin(self, kind: int) -> None:
        self._index += 1
        self._open = kind

    def _close_block(self, out: list[bytes]) -> None:
        if self._open == NONE:
            return
        if self._open == THINKING:
            carried = {"reasoning_details": self._details} if self._details else None
            signature = self._signature or signature_of(self._ctx.signer, self._thinking_hash, carried)
            out.append(events.signature_delta(self._index, signature))
        out.append(events.block_stop(self._index))
        self._open = NONE

    def _close_all(self, out: list[bytes], *, final: bool = False) -> None:
        """Close the open block, then send the waiting tool calls that are ready (in order: a call that is
        not stops the ones after it); with `final`, the provider has finished and every call is settled."""
        self._close_block(out)
        while self._calls and self._failure is None:
            call = self._calls[0]
            if not final and not call.ready():
                return
            self._calls.pop(0)
            self._send_call(call, out, final=final)

    def _send_call(self, call: CallT, out: list[bytes], *, final: bool) -> None:
        """One tool_use block, whole: start, input, stop; or nothing (withheld), or the stream's error."""
        call.closed = True
        stopped = self._stops.hit is not None or self._provider_stop is not None
        truncated = final and (self._finish_reason in _TRUNCATING or stopped)
        try:
            arguments = settle_call(
                call.name, call.raw_arguments(), provider=self._ctx.provider, truncated=truncated
            )
        except AnthropicError as err:
            log.warning("%s", err.message)
            self._fail(err, out)
            return
        if arguments is None:
            return
        text = arguments.json()
        self._index += 1
        tool_id = self._tool_ids.assign(call.upstream_id, call.thought_signature)
        out.append(events.tool_start(self._index, tool_id, call.name))
        self._output_chars += len(text)
        out.append(events.input_json_delta(self._index, text))
        out.append(events.block_stop(self._index))
        self._sent_tool_use = True
