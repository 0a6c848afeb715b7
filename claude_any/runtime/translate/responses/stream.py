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
API has no `stop`). Tool arguments are buffered per call; a call's block is sent whole (start, one valid
`input_json_delta`, stop) after its `output_item.done` when its arguments are a whole object, else at the
end, where a call cut by `max_output_tokens` is withheld and any other call that is not whole is an error;
calls whose events interleave are sent one after another, in order. The answer is complete only at
`response.completed` or `response.incomplete`: a stream that ends without one (`[DONE]` included) ends
with `event: error`.
"""

from __future__ import annotations

from typing import Any

from claude_any.runtime.translate.anthropic.message_stream import THINKING, MessageStream, ToolCall
from claude_any.runtime.translate.arguments import read_arguments
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import IdFactory, random_id
from claude_any.runtime.translate.responses.response import (
    carried_signature,
    chat_usage,
    failure,
    finish_reason,
    is_refusal,
    message_text,
    reasoning_text,
)
from claude_any.runtime.translate.sse import Event

_REASONING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")
_TEXT_DELTAS = ("response.output_text.delta", "response.refusal.delta")
_ENDS = ("response.completed", "response.incomplete")


class _Call(ToolCall):
    """One function call being assembled; its block is sent once it is complete and whole."""

    __slots__ = ("complete",)

    def __init__(self, upstream_id: str | None, name: str) -> None:
        super().__init__(upstream_id, name)
        self.complete = False  # its output_item.done arrived: no more arguments will

    def ready(self) -> bool:
        return self.complete and bool(self.name) and read_arguments(self.raw_arguments()).whole


class ResponsesStreamTranslator(MessageStream[_Call]):
    """Translates one upstream Responses stream; the interface is `stream.StreamTranslator`'s.

    `start()` once, `feed(chunk)` per upstream read, `finish()` at the end (as soon as `done` is true, or
    at EOF), `error(err)` for a failure after the headers went out. Each returns the bytes to send.
    """

    _DONE_ENDS_ANSWER = False  # only response.completed / response.incomplete say the answer is complete

    def __init__(self, ctx: Context, *, make_id: IdFactory = random_id) -> None:
        super().__init__(ctx, make_id=make_id)
        self._reasoning_item: str | None = None  # the reasoning item the open thinking block belongs to
        self._summary_index = 0
        self._streamed: set[str] = set()  # items whose text arrived as deltas (their `done` repeats it)
        self._by_item: dict[str, _Call] = {}  # function calls by item id

    # --- upstream events ----------------------------------------------------------------------------------

    def _payload(self, event: Event, payload: dict[str, Any], out: list[bytes]) -> None:
        kind = payload.get("type")
        kind = kind if isinstance(kind, str) else event.name
        if self._stops.hit is not None and kind not in _ENDS:
            return  # generation is over for the client; only the final usage still matters
        if kind in _REASONING_DELTAS:
            self._reasoning_delta(payload, out)
        elif kind in _TEXT_DELTAS:
            self._text_delta(payload, out, refusal=kind == "response.refusal.delta")
        elif kind == "response.function_call_arguments.delta":
            call = self._by_item.get(str(payload.get("item_id")))
            if call is not None and isinstance(payload.get("delta"), str):
                call.arguments.append(payload["delta"])
        elif kind == "response.function_call_arguments.done":
            call = self._by_item.get(str(payload.get("item_id")))
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
            self._ended = self._upstream_done = True
        elif kind == "response.failed":
            response = payload.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            self._fail(failure(error, self._ctx.provider), out)
        elif kind == "error":
            nested = payload.get("error")
            self._fail(failure(nested if isinstance(nested, dict) else payload, self._ctx.provider), out)
        # Anything else (created, in_progress, part added/done, built-in tool progress) carries nothing new.

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

    def _text_delta(self, data: dict[str, Any], out: list[bytes], *, refusal: bool = False) -> None:
        text = data.get("delta")
        if isinstance(text, str) and text:
            self._refusal = self._refusal or refusal
            self._streamed.add(str(data.get("item_id")))
            self._visible(self._stops.feed(text), out)

    # --- items --------------------------------------------------------------------------------------------

    def _call_added(self, item: dict[str, Any], out: list[bytes]) -> _Call:
        item_id = str(item.get("id") or item.get("call_id"))
        known = self._by_item.get(item_id)
        if known is not None:
            return known
        self._flush_held(out)  # text held by the stop scanner comes before the call
        call_id = item.get("call_id")
        call = _Call(call_id if isinstance(call_id, str) else None, self._claude_name(item))
        if isinstance(item.get("arguments"), str) and item["arguments"]:
            call.arguments.append(item["arguments"])
        self._by_item[item_id] = call
        self._announce(call, out)
        return call

    def _claude_name(self, item: dict[str, Any]) -> str:
        name = item.get("name")
        return self._ctx.tool_names.to_claude(name) if isinstance(name, str) and name else ""

    def _item_done(self, item: dict[str, Any], out: list[bytes]) -> None:
        kind = item.get("type")
        item_id = str(item.get("id"))
        if kind == "reasoning":
            self._reasoning_done(item, item_id, out)
        elif kind == "message" and item_id not in self._streamed:
            self._refusal = self._refusal or is_refusal(item)
            self._visible(self._stops.feed(message_text(item)), out)  # a server that sent no deltas
        elif kind == "function_call":
            call = self._call_added(item, out)
            if isinstance(item.get("arguments"), str):
                call.arguments = [item["arguments"]]
            call.name = call.name or self._claude_name(item)
            call.complete = True
            self._send_ready(out)

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
