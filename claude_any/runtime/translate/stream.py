"""OpenAI Chat Completions SSE bytes in, Anthropic Messages SSE bytes out: the streaming state machine.

The rules (translation.md §4.2, §13) in one place:

- one block open at a time, indices 0..n in start order; within a chunk reasoning, then text, then tools;
- thinking blocks end with a non-empty `signature_delta`;
- tool arguments are buffered per call and sent as one valid (repaired) `input_json_delta` just before the
  block's stop; the block itself starts as soon as the call appears, so the client sees progress;
- the stream ends at `finish()` (upstream `[DONE]` or EOF), never at `finish_reason`, because the usage
  chunk (`choices: []`) comes after it;
- no content means no block; whitespace-only text never opens a block (Anthropic rejects such blocks when
  Claude Code replays them);
- stop sequences the upstream was not given are enforced here, holding back only a possible prefix.

Interleaved tool fragments (call 0, call 1, call 0 again) are why a new call only closes the open tool block
when that block's arguments are already a complete JSON object; otherwise the new call waits, buffered,
and is emitted after the open one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from claude_any.runtime import errors
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate import events, json_codec
from claude_any.runtime.translate.arguments import arguments_json
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import IdFactory, ToolIds, random_id
from claude_any.runtime.translate.parts import read_parts, signature_of
from claude_any.runtime.translate.sse import Event, SSEReader
from claude_any.runtime.translate.text_scan import StopScanner, ThinkSplitter
from claude_any.runtime.translate.usage import final_usage, stop_reason

log = logging.getLogger(__name__)

_NONE, _THINKING, _TEXT, _TOOL = range(4)


class _ToolCall:
    """One upstream tool call being assembled."""

    __slots__ = ("arguments", "closed", "id", "name", "upstream_id", "value")

    def __init__(self, tool_id: str, upstream_id: str | None, name: str) -> None:
        self.id = tool_id
        self.upstream_id = upstream_id
        self.name = name
        self.arguments: list[str] = []
        self.value: dict[str, Any] | None = None  # dict arguments sent as an object by some servers
        self.closed = False

    def add(self, fragment: Any) -> None:
        if isinstance(fragment, str):
            self.arguments.append(fragment)
        elif isinstance(fragment, dict):
            self.value = fragment

    def complete(self) -> bool:
        """True when the arguments so far already form a JSON object (so no more fragments are expected)."""
        if self.value is not None:
            return True
        text = "".join(self.arguments).strip()
        if text.startswith("{}") and len(text) > 2:
            text = text[2:]  # Databricks' placeholder before the real arguments
        try:
            return isinstance(json.loads(text), dict)
        except ValueError:
            return False

    def input_json(self) -> str:
        raw: Any = self.value if self.value is not None else "".join(self.arguments)
        return arguments_json(raw, tool=self.name)


class StreamTranslator:
    """Translates one upstream OpenAI stream; see the module docstring for the rules it keeps.

    Use: `start()` once, `feed(chunk)` per upstream read, `finish()` at `[DONE]`/EOF (or as soon as `done`
    is true), `error(err)` for a failure after the headers went out. Each returns the bytes to send.
    """

    def __init__(self, ctx: Context, *, make_id: IdFactory = random_id) -> None:
        self._ctx = ctx
        self._message_id = make_id("msg_")
        self._tool_ids = ToolIds(make_id)
        self._reader = SSEReader()
        self._stops = StopScanner(ctx.stop_sequences)
        self._think = ThinkSplitter()

        self._started = False
        self._upstream_done = False  # saw `data: [DONE]`
        self._finished = False  # message_stop sent
        self._failure: AnthropicError | None = None

        self._index = -1
        self._open = _NONE
        self._open_tool: _ToolCall | None = None
        self._waiting: list[_ToolCall] = []  # announced while another tool block was still receiving
        self._by_index: dict[int, _ToolCall] = {}
        self._by_id: dict[str, _ToolCall] = {}
        self._last_call: _ToolCall | None = None
        self._has_tool_use = False
        self._pending_space = ""  # whitespace not yet known to belong to a text block

        self._thinking_hash: Any = None
        self._provider_signature = ""
        self._finish_reason: str | None = None
        self._upstream_usage: dict[str, Any] | None = None
        self._output_chars = 0
        self._stop_reason: str | None = None

    # --- public API -------------------------------------------------------------------------------------

    @property
    def upstream_done(self) -> bool:
        """The upstream ended its answer normally (`data: [DONE]`); only the end of its body follows."""
        return self._upstream_done

    @property
    def done(self) -> bool:
        """True once no more upstream input matters: `[DONE]`, a stop sequence hit, an error, or finished."""
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

        An upstream error object or an unreadable data line ends the stream with `event: error` (returned
        here, after any events that came before it); `failure` then says why.
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
        """At upstream EOF or `[DONE]`: close blocks, then `message_delta` (stop, usage), `message_stop`."""
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

    # --- upstream events --------------------------------------------------------------------------------

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
            chunk = json_codec.loads(data)
        except ValueError:
            self._lenient(event, out)
            return
        if not isinstance(chunk, dict):
            self._fail(errors.api_error("the upstream sent an unexpected stream event"), out)
        elif event.name == "error" or chunk.get("error") is not None:
            self._fail(_upstream_error(chunk), out)
        else:
            self._chunk(chunk, out)

    def _lenient(self, event: Event, out: list[bytes]) -> None:
        # A server that separates JSON data lines with single newlines joins them into one event.
        lines = event.data.split("\n")
        if len(lines) > 1:
            for line in lines:
                self._event(Event(event.name, line), out)
                if self._failure is not None:
                    return
            return
        log.warning("upstream stream: unreadable data line (%d chars)", len(event.data))
        self._fail(errors.api_error("the upstream sent a malformed stream event"), out)

    def _chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        usage = chunk.get("usage")
        if usage and isinstance(usage, dict):
            self._upstream_usage = usage  # cumulative (Databricks sends it in every chunk): keep the last
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list):
            return  # Azure prompt_filter_results chunk, or the usage-only chunk
        choice = choices[0]
        if not isinstance(choice, dict):
            return
        delta = choice.get("delta") or choice.get("message")
        if isinstance(delta, dict) and self._stops.hit is None:
            self._delta(delta, out)
        finish = choice.get("finish_reason")
        if finish == "error":  # OpenRouter: the generation failed mid-way
            self._fail(errors.api_error("the upstream stopped with an error"), out)
        elif finish and isinstance(finish, str):
            self._finish_reason = finish

    def _delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        parts = read_parts(delta)
        reasoning = parts.reasoning
        text = ""
        if parts.text:
            tagged, text = self._think.feed(parts.text)
            reasoning += tagged
        if reasoning:
            self._reasoning(reasoning, out)
        if parts.signature:
            self._provider_signature = parts.signature  # after _reasoning: a new block resets it
        if text:
            self._text(text, out)
        calls = delta.get("tool_calls")
        if calls and isinstance(calls, list):
            for call in calls:
                if self._stops.hit is not None:
                    return
                if isinstance(call, dict):
                    self._tool_fragment(call, out)
        legacy = delta.get("function_call")
        if isinstance(legacy, dict) and self._stops.hit is None:
            self._tool_fragment({"index": 0, "function": legacy}, out)

    # --- reasoning and text -----------------------------------------------------------------------------

    def _reasoning(self, text: str, out: list[bytes]) -> None:
        if self._open != _THINKING:
            self._visible(self._stops.flush(), out)  # held text belongs before the new block
            self._close_all(out)
            self._begin(_THINKING)
            self._thinking_hash = hashlib.sha256()
            self._provider_signature = ""
            out.append(events.thinking_start(self._index))
        self._thinking_hash.update(text.encode("utf-8"))
        self._output_chars += len(text)
        out.append(events.thinking_delta(self._index, text))

    def _text(self, text: str, out: list[bytes]) -> None:
        self._visible(self._stops.feed(text), out)

    def _settle_text(self, out: list[bytes]) -> None:
        """Release text held by the scanners: the content is moving on to tools, or ending."""
        reasoning, text = self._think.close()
        if reasoning:
            self._reasoning(reasoning, out)
        if text:
            self._text(text, out)
        self._visible(self._stops.flush(), out)

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

    # --- tool calls -------------------------------------------------------------------------------------

    def _tool_fragment(self, fragment: dict[str, Any], out: list[bytes]) -> None:
        function = fragment.get("function")
        function = function if isinstance(function, dict) else {}
        name = function.get("name")
        call = self._find_call(fragment)
        if call is None:
            self._settle_text(out)
            if self._stops.hit is not None:
                return
            call = self._new_call(fragment, name)
            self._announce(call, out)
        elif call.closed:
            log.warning("tool call %r: arguments arrived after its block closed; ignored", call.name)
            return
        elif not call.name and isinstance(name, str) and name:
            call.name = self._ctx.tool_names.to_claude(name)
        arguments = function.get("arguments")
        if arguments:
            call.add(arguments)

    def _find_call(self, fragment: dict[str, Any]) -> _ToolCall | None:
        index = fragment.get("index")
        upstream_id = fragment.get("id") if isinstance(fragment.get("id"), str) else None
        if isinstance(index, int):
            call = self._by_index.get(index)
            if call is None:
                return None  # a new index is a new call, even if a buggy server reuses an id
            # Ollama sends index 0 for every parallel call: a different id there is a new call.
            if upstream_id and call.upstream_id and upstream_id != call.upstream_id:
                return self._by_id.get(upstream_id)
            return call
        if upstream_id:
            return self._by_id.get(upstream_id)
        return self._last_call

    def _new_call(self, fragment: dict[str, Any], name: Any) -> _ToolCall:
        upstream_id = fragment.get("id") if isinstance(fragment.get("id"), str) else None
        claude_name = self._ctx.tool_names.to_claude(name) if isinstance(name, str) and name else ""
        call = _ToolCall(self._tool_ids.assign(upstream_id), upstream_id, claude_name)
        index = fragment.get("index")
        if isinstance(index, int):
            self._by_index[index] = call
        if upstream_id:
            self._by_id[upstream_id] = call
        self._last_call = call
        self._has_tool_use = True
        return call

    def _announce(self, call: _ToolCall, out: list[bytes]) -> None:
        current = self._open_tool
        if current is not None and (self._waiting or not current.complete()):
            self._waiting.append(call)  # the open call may still receive fragments
            return
        self._pending_space = ""  # whitespace between text and tools is dropped
        self._close_all(out)
        self._start_tool(call, out)

    def _start_tool(self, call: _ToolCall, out: list[bytes]) -> None:
        self._begin(_TOOL)
        self._open_tool = call
        out.append(events.tool_start(self._index, call.id, call.name or "unknown_tool"))

    # --- blocks -----------------------------------------------------------------------------------------

    def _begin(self, kind: int) -> None:
        self._index += 1
        self._open = kind

    def _close_block(self, out: list[bytes]) -> None:
        if self._open == _NONE:
            return
        if self._open == _THINKING:
            signature = self._provider_signature or signature_of(self._thinking_hash)
            out.append(events.signature_delta(self._index, signature))
        elif self._open == _TOOL and self._open_tool is not None:
            call = self._open_tool
            arguments = call.input_json()
            self._output_chars += len(arguments)
            out.append(events.input_json_delta(self._index, arguments))
            call.closed = True
            self._open_tool = None
        out.append(events.block_stop(self._index))
        self._open = _NONE

    def _close_all(self, out: list[bytes]) -> None:
        """Close the open block, then emit every tool call that was waiting for it."""
        self._close_block(out)
        while self._waiting:
            self._start_tool(self._waiting.pop(0), out)
            self._close_block(out)


def _upstream_error(chunk: dict[str, Any]) -> AnthropicError:
    """An in-stream `{"error": …}` object, mapped like an HTTP error response of the same status."""
    err = chunk.get("error")
    status = 500
    if isinstance(err, dict):
        # OpenRouter puts the HTTP status in `code`, Azure as a string ("429"), others in `status`.
        for value in (err.get("status"), err.get("code")):
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if isinstance(value, int) and 400 <= value <= 599:
                status = value
                break
    return errors.from_upstream(status, json.dumps(chunk).encode(), {}, "upstream")
