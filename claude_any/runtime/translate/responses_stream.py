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

The client-facing grammar is the chat path's (docs/PROTOCOL.md), kept by their shared base class
`message_stream.MessageStream`: one block open at a time, indices in order; a thinking block per reasoning
item, closed with its signature (the encrypted reasoning when the upstream sent it, see
`responses_response`); whitespace-only text opens no block; stop sequences are enforced here (the Responses
API has no `stop`). Tool arguments are buffered per call and sent as one valid `input_json_delta` when the
call's block closes, so calls whose events interleave are emitted one after another, each complete.
"""

from __future__ import annotations

import logging
from typing import Any

from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import IdFactory, random_id
from claude_any.runtime.translate.message_stream import THINKING, MessageStream, ToolCall
from claude_any.runtime.translate.responses_response import (
    carried_signature,
    chat_usage,
    failure,
    finish_reason,
    message_text,
    reasoning_text,
)
from claude_any.runtime.translate.sse import Event

log = logging.getLogger(__name__)

_REASONING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")
_TEXT_DELTAS = ("response.output_text.delta", "response.refusal.delta")
_ENDS = ("response.completed", "response.incomplete")


class _Call(ToolCall):
    """One function call being assembled; its block opens when announced and closes once it is complete."""

    __slots__ = ("complete",)

    def __init__(self, tool_id: str, name: str) -> None:
        super().__init__(tool_id, name)
        self.complete = False  # its output_item.done arrived: no more arguments will


class ResponsesStreamTranslator(MessageStream[_Call]):
    """Translates one upstream Responses stream; the interface is `stream.StreamTranslator`'s.

    `start()` once, `feed(chunk)` per upstream read, `finish()` at the end (as soon as `done` is true, or
    at EOF), `error(err)` for a failure after the headers went out. Each returns the bytes to send.
    """

    def __init__(self, ctx: Context, *, make_id: IdFactory = random_id) -> None:
        super().__init__(ctx, make_id=make_id)
        self._reasoning_item: str | None = None  # the reasoning item the open thinking block belongs to
        self._summary_index = 0
        self._streamed: set[str] = set()  # items whose text arrived as deltas (their `done` repeats it)
        self._calls: dict[str, _Call] = {}  # by item id

    # --- upstream events ----------------------------------------------------------------------------------

    def _payload(self, event: Event, payload: dict[str, Any], out: list[bytes]) -> None:
        kind = payload.get("type")
        kind = kind if isinstance(kind, str) else event.name
        if self._stops.hit is not None and kind not in _ENDS:
            return  # generation is over for the client; only the final usage still matters
        if kind in _REASONING_DELTAS:
            self._reasoning_delta(payload, out)
        elif kind in _TEXT_DELTAS:
            self._text_delta(payload, out)
        elif kind == "response.function_call_arguments.delta":
            call = self._calls.get(str(payload.get("item_id")))
            if call is not None and isinstance(payload.get("delta"), str):
                call.arguments.append(payload["delta"])
        elif kind == "response.function_call_arguments.done":
            call = self._calls.get(str(payload.get("item_id")))
            if call is not None and isinstance(payload.get("arguments"), str):
                call.arguments = [payload["arguments"]]  # the complete text wins over the fragments
        elif kind == "response.output_item.added":
            item = payload.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                self._call_added(item, out)
        elif kind == "response.output_item.done":
            item = payload.get("item")
            if isinstance(item, dict):
                self._item_done(item, out)
        elif kind in _ENDS:
            response = payload.get("response")
            response = response if isinstance(response, dict) else {}
            self._finish_reason = finish_reason(response)
            self._upstream_usage = chat_usage(response.get("usage"))
            self._upstream_done = True
        elif kind == "response.failed":
            response = payload.get("response")
            self._fail(failure(response.get("error") if isinstance(response, dict) else None), out)
        elif kind == "error":
            nested = payload.get("error")
            self._fail(failure(nested if isinstance(nested, dict) else payload), out)
        # Anything else (created, in_progress, part added/done, built-in tool progress) carries nothing new.

    def _settle_text(self, out: list[bytes]) -> None:
        # Only finish() settles text on this path, so this is where a missing response.completed shows.
        if not self._upstream_done:
            log.warning("upstream Responses stream ended without response.completed")
        super()._settle_text(out)

    # --- reasoning and text -------------------------------------------------------------------------------

    def _reasoning_delta(self, data: dict[str, Any], out: list[bytes]) -> None:
        text = data.get("delta")
        if not isinstance(text, str) or not text:
            return
        item_id = str(data.get("item_id"))
        part = data.get("summary_index", data.get("content_index", 0))
        part = part if isinstance(part, int) else 0
        if self._open == THINKING and self._reasoning_item == item_id:
            if part != self._summary_index:
                text = "\n\n" + text  # summary parts are paragraphs of one thinking block
        else:
            self._open_reasoning(item_id, out)
        self._summary_index = part
        self._streamed.add(item_id)
        self._thinking(text, out)

    def _open_reasoning(self, item_id: str, out: list[bytes]) -> None:
        self._open_thinking(out)
        self._reasoning_item = item_id
        self._summary_index = 0

    def _text_delta(self, data: dict[str, Any], out: list[bytes]) -> None:
        text = data.get("delta")
        if isinstance(text, str) and text:
            self._streamed.add(str(data.get("item_id")))
            self._visible(self._stops.feed(text), out)

    # --- items --------------------------------------------------------------------------------------------

    def _call_added(self, item: dict[str, Any], out: list[bytes]) -> _Call:
        item_id = str(item.get("id") or item.get("call_id"))
        known = self._calls.get(item_id)
        if known is not None:
            return known
        self._flush_held(out)  # text held by the stop scanner comes before the call
        name = item.get("name")
        claude_name = self._ctx.tool_names.to_claude(name) if isinstance(name, str) and name else ""
        call = _Call(self._tool_ids.assign(item.get("call_id")), claude_name or "unknown_tool")
        if isinstance(item.get("arguments"), str) and item["arguments"]:
            call.arguments.append(item["arguments"])
        self._calls[item_id] = call
        self._has_tool_use = True
        # The open call may still receive fragments until its output_item.done.
        self._queue_or_start(call, out, queue=self._open_tool is not None)
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
            while self._open_tool is not None and self._open_tool.complete:
                self._close_block(out)
                if self._waiting:
                    self._start_tool(self._waiting.pop(0), out)

    def _reasoning_done(self, item: dict[str, Any], item_id: str, out: list[bytes]) -> None:
        is_open = self._open == THINKING and self._reasoning_item == item_id
        if not is_open:
            text = reasoning_text(item) if item_id not in self._streamed else ""
            if not text and not item.get("encrypted_content"):
                return  # nothing to show and nothing to carry to the next turn
            self._open_reasoning(item_id, out)
            if text:
                self._thinking(text, out)
        # Without encrypted reasoning the signature is the hash of the text, computed at close.
        self._signature = carried_signature(item.get("encrypted_content"), self._ctx) or ""
        self._close_block(out)
