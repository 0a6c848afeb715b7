"""OpenAI Responses API SSE bytes in, Anthropic Messages SSE bytes out.

Upstream events (OpenAI API reference, "Streaming events"; each is `event: <type>` + `data: {"type": …}`,
servers that omit the `event:` line are read by `data.type`):

    response.created / response.in_progress / response.queued          ignored
    response.output_item.added      {output_index, item: {type: reasoning | message | function_call, id,
                                     call_id?, name?, arguments?}}
    response.reasoning_summary_text.delta {item_id, summary_index, delta}   (and reasoning_text.delta)
    response.output_text.delta      {item_id, content_index, delta}         (and refusal.delta)
    response.function_call_arguments.delta {item_id, delta}; ….done {item_id, arguments}
    response.output_item.done       {item}: the complete item (a reasoning item's encrypted_content is here)
    response.completed | response.incomplete {response: {status, incomplete_details, usage, …}}
    response.failed {response: {error: {code, message}}};  error {code, message}

The client-facing grammar is the chat path's (`stream.py`, translation.md §4.2), built with the same
emitters: one block open at a time, indices in order; a thinking block per reasoning item, closed with its
signature (the encrypted reasoning when the upstream sent it, see `responses_response`); whitespace-only text
opens no block; stop sequences are enforced here (the Responses API has no `stop`). Tool arguments are
buffered per call and sent as one valid `input_json_delta` when the call's block closes, so calls whose
events interleave are emitted one after another, each complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from claude_any.runtime import errors
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate import events
from claude_any.runtime.translate.arguments import arguments_json
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import IdFactory, ToolIds, random_id
from claude_any.runtime.translate.parts import signature_of
from claude_any.runtime.translate.responses_response import (
    carried_signature,
    chat_usage,
    failure,
    finish_reason,
    message_text,
    reasoning_text,
)
from claude_any.runtime.translate.sse import Event, SSEReader
from claude_any.runtime.translate.text_scan import StopScanner
from claude_any.runtime.translate.usage import final_usage, stop_reason

log = logging.getLogger(__name__)

_NONE, _THINKING, _TEXT, _TOOL = range(4)
_REASONING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")
_TEXT_DELTAS = ("response.output_text.delta", "response.refusal.delta")
_ENDS = ("response.completed", "response.incomplete")


class _Call:
    """One function call being assembled; its block opens when announced and closes once it is complete."""

    __slots__ = ("arguments", "complete", "id", "name")

    def __init__(self, tool_id: str, name: str) -> None:
        self.id = tool_id
        self.name = name
        self.arguments: list[str] = []
        self.complete = False


class ResponsesStreamTranslator:
    """Translates one upstream Responses stream; the interface is `stream.StreamTranslator`'s.

    `start()` once, `feed(chunk)` per upstream read, `finish()` at the end (as soon as `done` is true, or
    at EOF), `error(err)` for a failure after the headers went out. Each returns the bytes to send.
    """

    def __init__(self, ctx: Context, *, make_id: IdFactory = random_id) -> None:
        self._ctx = ctx
        self._message_id = make_id("msg_")
        self._tool_ids = ToolIds(make_id)
        self._reader = SSEReader()
        self._stops = StopScanner(ctx.stop_sequences)

        self._started = False
        self._upstream_done = False  # response.completed / incomplete (or a [DONE]) seen
        self._finished = False
        self._failure: AnthropicError | None = None

        self._index = -1
        self._open = _NONE
        self._has_tool_use = False
        self._pending_space = ""

        self._reasoning_item: str | None = None  # the reasoning item the open thinking block belongs to
        self._summary_index = 0
        self._thinking_hash: Any = None
        self._thinking_signature = ""
        self._streamed: set[str] = set()  # items whose text arrived as deltas (their `done` repeats it)

        self._calls: dict[str, _Call] = {}  # by item id
        self._open_call: _Call | None = None
        self._waiting: list[_Call] = []  # announced while another call's block was open

        self._response: dict[str, Any] = {}
        self._output_chars = 0
        self._stop_reason: str | None = None

    # --- public API (as StreamTranslator) -----------------------------------------------------------------

    @property
    def upstream_done(self) -> bool:
        """The upstream ended its answer normally (`response.completed`, incomplete or [DONE]); only the end
        of its body follows."""
        return self._upstream_done

    @property
    def done(self) -> bool:
        """True once no more upstream input matters: the response ended, a stop sequence hit, or an error."""
        return (
            self._upstream_done or self._finished or self._failure is not None or self._stops.hit is not None
        )

    @property
    def failure(self) -> AnthropicError | None:
        """The error the stream ended with (already sent as `event: error`), if any."""
        return self._failure

    @property
    def stop_reason(self) -> str | None:
        """The stop_reason sent in `message_delta`; None before `finish()` or after an error."""
        return self._stop_reason

    @property
    def usage(self) -> dict[str, Any]:
        """Usage as reported (or as it would be reported now)."""
        upstream = chat_usage(self._response.get("usage"))
        return final_usage(upstream, self._ctx.estimated_input_tokens, self._output_chars)

    def start(self) -> bytes:
        """`message_start` and a `ping`."""
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
        """A keep-alive `ping` for long upstream silences."""
        return events.PING if self._started and not self._closed() else b""

    def feed(self, chunk: bytes) -> bytes:
        """Consume upstream bytes split anywhere; return the Anthropic events they complete."""
        if self._closed():
            return b""
        out: list[bytes] = [] if self._started else [self.start()]
        for event in self._reader.feed(chunk):
            self._event(event, out)
            if self._failure is not None:
                break
        return b"".join(out)

    def finish(self) -> bytes:
        """Close the open blocks, then `message_delta` (stop reason, usage) and `message_stop`."""
        if self._closed():
            return b""
        out: list[bytes] = [] if self._started else [self.start()]
        for event in self._reader.close():
            self._event(event, out)
            if self._failure is not None:
                return b"".join(out)
        if not self._upstream_done and self._stops.hit is None:
            log.warning("upstream Responses stream ended without response.completed")
        if self._stops.hit is None:
            self._visible(self._stops.flush(), out)
        self._close_all(out)
        self._stop_reason = stop_reason(
            finish_reason(self._response),
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

    # --- upstream events ----------------------------------------------------------------------------------

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
            payload = json.loads(data)
        except ValueError:
            log.warning("upstream stream: unreadable data line (%d chars)", len(data))
            self._fail(errors.api_error("the upstream sent a malformed stream event"), out)
            return
        if not isinstance(payload, dict):
            self._fail(errors.api_error("the upstream sent an unexpected stream event"), out)
            return
        kind = payload.get("type")
        kind = kind if isinstance(kind, str) else event.name
        if self._stops.hit is not None and kind not in _ENDS:
            return  # generation is over for the client; only the final usage still matters
        self._dispatch(kind, payload, out)

    def _dispatch(self, kind: str, data: dict[str, Any], out: list[bytes]) -> None:
        if kind in _REASONING_DELTAS:
            self._reasoning_delta(data, out)
        elif kind in _TEXT_DELTAS:
            self._text_delta(data, out)
        elif kind == "response.function_call_arguments.delta":
            call = self._calls.get(str(data.get("item_id")))
            if call is not None and isinstance(data.get("delta"), str):
                call.arguments.append(data["delta"])
        elif kind == "response.function_call_arguments.done":
            call = self._calls.get(str(data.get("item_id")))
            if call is not None and isinstance(data.get("arguments"), str):
                call.arguments = [data["arguments"]]  # the complete text wins over the fragments
        elif kind == "response.output_item.added":
            item = data.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                self._call_added(item, out)
        elif kind == "response.output_item.done":
            item = data.get("item")
            if isinstance(item, dict):
                self._item_done(item, out)
        elif kind in _ENDS:
            response = data.get("response")
            self._response = response if isinstance(response, dict) else {}
            self._upstream_done = True
        elif kind == "response.failed":
            response = data.get("response")
            self._fail(failure(response.get("error") if isinstance(response, dict) else None), out)
        elif kind == "error":
            nested = data.get("error")
            self._fail(failure(nested if isinstance(nested, dict) else data), out)
        # Anything else (created, in_progress, part added/done, built-in tool progress) carries nothing new.

    # --- reasoning and text -------------------------------------------------------------------------------

    def _reasoning_delta(self, data: dict[str, Any], out: list[bytes]) -> None:
        text = data.get("delta")
        if not isinstance(text, str) or not text:
            return
        item_id = str(data.get("item_id"))
        part = data.get("summary_index", data.get("content_index", 0))
        part = part if isinstance(part, int) else 0
        if self._open == _THINKING and self._reasoning_item == item_id:
            if part != self._summary_index:
                text = "\n\n" + text  # summary parts are paragraphs of one thinking block
        else:
            self._open_thinking(item_id, out)
        self._summary_index = part
        self._streamed.add(item_id)
        self._thinking(text, out)

    def _open_thinking(self, item_id: str, out: list[bytes]) -> None:
        self._visible(self._stops.flush(), out)  # held text belongs before the new block
        self._close_all(out)
        self._begin(_THINKING)
        self._reasoning_item = item_id
        self._summary_index = 0
        self._thinking_hash = hashlib.sha256()
        self._thinking_signature = ""
        out.append(events.thinking_start(self._index))

    def _thinking(self, text: str, out: list[bytes]) -> None:
        self._thinking_hash.update(text.encode("utf-8"))
        self._output_chars += len(text)
        out.append(events.thinking_delta(self._index, text))

    def _text_delta(self, data: dict[str, Any], out: list[bytes]) -> None:
        text = data.get("delta")
        if isinstance(text, str) and text:
            self._streamed.add(str(data.get("item_id")))
            self._visible(self._stops.feed(text), out)

    def _visible(self, text: str, out: list[bytes]) -> None:
        if not text:
            return
        if self._open != _TEXT:
            if text.isspace():
                self._pending_space += text
                return
            # Leading whitespace is kept at the start of the message, dropped after tool calls.
            text = text.lstrip() if self._has_tool_use else self._pending_space + text
            self._pending_space = ""
            self._close_all(out)
            self._begin(_TEXT)
            out.append(events.text_start(self._index))
        self._output_chars += len(text)
        out.append(events.text_delta(self._index, text))

    # --- items --------------------------------------------------------------------------------------------

    def _call_added(self, item: dict[str, Any], out: list[bytes]) -> _Call:
        item_id = str(item.get("id") or item.get("call_id"))
        known = self._calls.get(item_id)
        if known is not None:
            return known
        self._visible(self._stops.flush(), out)  # text held by the stop scanner comes before the call
        name = item.get("name")
        claude_name = self._ctx.tool_names.to_claude(name) if isinstance(name, str) and name else ""
        call = _Call(self._tool_ids.assign(item.get("call_id")), claude_name or "unknown_tool")
        if isinstance(item.get("arguments"), str) and item["arguments"]:
            call.arguments.append(item["arguments"])
        self._calls[item_id] = call
        self._has_tool_use = True
        if self._open_call is not None:
            self._waiting.append(call)  # the open call may still receive fragments
        else:
            self._pending_space = ""  # whitespace between text and tools is dropped
            self._close_all(out)
            self._start_tool(call, out)
        return call

    def _item_done(self, item: dict[str, Any], out: list[bytes]) -> None:
        kind = item.get("type")
        item_id = str(item.get("id"))
        if kind == "reasoning":
            self._reasoning_done(item, item_id, out)
        elif kind == "message" and item_id not in self._streamed:
            self._visible(self._stops.feed(message_text(item)), out)  # a server that sent no deltas
        elif kind == "function_call":
            call = self._call_added(item, out)
            if isinstance(item.get("arguments"), str):
                call.arguments = [item["arguments"]]
            call.complete = True
            while self._open_call is not None and self._open_call.complete:
                self._close_block(out)
                if self._waiting:
                    self._start_tool(self._waiting.pop(0), out)

    def _reasoning_done(self, item: dict[str, Any], item_id: str, out: list[bytes]) -> None:
        is_open = self._open == _THINKING and self._reasoning_item == item_id
        if not is_open:
            text = reasoning_text(item) if item_id not in self._streamed else ""
            if not text and not item.get("encrypted_content"):
                return  # nothing to show and nothing to carry to the next turn
            self._open_thinking(item_id, out)
            if text:
                self._thinking(text, out)
        # Without encrypted reasoning the signature is the hash of the text, computed at close.
        self._thinking_signature = carried_signature(item.get("encrypted_content"), self._ctx) or ""
        self._close_block(out)

    # --- blocks -------------------------------------------------------------------------------------------

    def _begin(self, kind: int) -> None:
        self._index += 1
        self._open = kind

    def _start_tool(self, call: _Call, out: list[bytes]) -> None:
        self._begin(_TOOL)
        self._open_call = call
        out.append(events.tool_start(self._index, call.id, call.name))

    def _close_block(self, out: list[bytes]) -> None:
        if self._open == _NONE:
            return
        if self._open == _THINKING:
            sig = self._thinking_signature or signature_of(self._thinking_hash)
            out.append(events.signature_delta(self._index, sig))
            self._reasoning_item = None
        elif self._open == _TOOL and self._open_call is not None:
            call = self._open_call
            arguments = arguments_json("".join(call.arguments), tool=call.name)
            self._output_chars += len(arguments)
            out.append(events.input_json_delta(self._index, arguments))
            self._open_call = None
        out.append(events.block_stop(self._index))
        self._open = _NONE

    def _close_all(self, out: list[bytes]) -> None:
        """Close the open block, then emit every call that was waiting for it."""
        self._close_block(out)
        while self._waiting:
            self._start_tool(self._waiting.pop(0), out)
            self._close_block(out)
