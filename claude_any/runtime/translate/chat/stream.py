"""OpenAI Chat Completions SSE bytes in, Anthropic Messages SSE bytes out: the streaming state machine.

The rules (docs/PROTOCOL.md, "Stream grammar" and "Streaming") in one place:

- one block open at a time, indices 0..n in start order; within a chunk reasoning, then text, then tools;
- thinking blocks end with a non-empty `signature_delta`;
- tool arguments are buffered per call; a call's block (start, its arguments as one valid
  `input_json_delta`, stop) is sent whole once the model moved on from a call whose arguments are a whole
  JSON object, or at the finish, where a call the `length` limit cut is withheld and any other call that is
  not whole is an error (`message_stream.py`, `arguments.py`);
- the answer is complete only when the upstream said so: a `finish_reason` or `[DONE]`; a body that ends
  without either ends with `event: error`;
- the stream ends at `finish()` (upstream `[DONE]` or EOF), never at `finish_reason`, because the usage
  chunk (`choices: []`) comes after it (`stream_relay.py` waits a short silence for it, no longer);
- no content means no block; whitespace-only text never opens a block (Anthropic rejects such blocks when
  Claude Code replays them);
- stop sequences the upstream was not given are enforced here, holding back only a possible prefix.

Interleaved tool fragments (call 0, call 1, call 0 again) are why calls are sent in order and only once
whole: a call that is still receiving holds back the calls after it, which stay buffered.
"""

from __future__ import annotations

import logging
from typing import Any

from claude_any.runtime import errors
from claude_any.runtime.translate.anthropic.message_stream import THINKING, MessageStream, ToolCall
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import IdFactory, random_id
from claude_any.runtime.translate.parts import merge_details, read_parts
from claude_any.runtime.translate.replay import thought_signature_of
from claude_any.runtime.translate.sse import Event
from claude_any.runtime.translate.text_scan import ThinkSplitter
from claude_any.runtime.translate.usage import matched_stop

log = logging.getLogger(__name__)


class _ToolCall(ToolCall):
    """One upstream tool call being assembled, found again by its index or its id."""

    __slots__ = ("value",)

    def __init__(self, upstream_id: str | None, name: str) -> None:
        super().__init__(upstream_id, name)
        self.value: dict[str, Any] | None = None  # dict arguments sent as an object by some servers

    def add(self, fragment: Any) -> None:
        if isinstance(fragment, str):
            self.arguments.append(fragment)
        elif isinstance(fragment, dict):
            self.value = fragment

    def raw_arguments(self) -> Any:
        return self.value if self.value is not None else "".join(self.arguments)


class StreamTranslator(MessageStream[_ToolCall]):
    """Translates one upstream OpenAI stream; see the module docstring for the rules it keeps.

    Use: `start()` once, `feed(chunk)` per upstream read, `finish()` at `[DONE]`/EOF (or as soon as `done`
    is true), `error(err)` for a failure after the headers went out. Each returns the bytes to send.
    """

    def __init__(self, ctx: Context, *, make_id: IdFactory = random_id) -> None:
        super().__init__(ctx, make_id=make_id)
        self._think = ThinkSplitter()
        self._by_index: dict[int, _ToolCall] = {}
        self._by_id: dict[str, _ToolCall] = {}
        self._last_call: _ToolCall | None = None

    # --- upstream events --------------------------------------------------------------------------------

    def _payload(self, event: Event, payload: dict[str, Any], out: list[bytes]) -> None:
        if event.name == "error" or payload.get("error") is not None:
            self._fail(errors.in_band(payload, self._ctx.provider), out)
            return
        self._usage(payload.get("usage"))
        choices = payload.get("choices")
        if not choices or not isinstance(choices, list):
            return  # Azure prompt_filter_results chunk, or the usage-only chunk
        choice = choices[0]
        if not isinstance(choice, dict):
            return
        self._usage(choice.get("usage"))  # Moonshot (Kimi) puts it in the last chunk's choice
        delta = choice.get("delta") or choice.get("message")
        if isinstance(delta, dict) and self._stops.hit is None:
            self._delta(delta, out)
        finish = choice.get("finish_reason")
        if finish == "error":  # OpenRouter: the generation failed mid-way
            self._fail(errors.api_error(f"{self._ctx.provider}: the generation stopped with an error"), out)
        elif finish and isinstance(finish, str):
            self._finish_reason = finish
            self._ended = True
            if finish == "stop":
                self._provider_stop = matched_stop(choice, self._ctx.sent_stops)

    def _usage(self, usage: Any) -> None:
        if usage and isinstance(usage, dict):
            self._upstream_usage = usage  # cumulative (Databricks sends it in every chunk): keep the last

    def _unreadable(self, event: Event, out: list[bytes]) -> None:
        # A server that separates JSON data lines with single newlines joins them into one event.
        lines = event.data.split("\n")
        if len(lines) == 1:
            super()._unreadable(event, out)
            return
        for line in lines:
            self._event(Event(event.name, line), out)
            if self._failure is not None:
                return

    def _delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        calls = delta.get("tool_calls")
        fragments = [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            fragments.append({"index": 0, "function": legacy})
        # A chunk may carry text (or reasoning) and the rest of a call's arguments together (vLLM's
        # speculative decoding does): the fragments of calls already begun go first, so no text can close a
        # call before its arguments are all there; calls that begin here come after the text, as models write.
        later: list[dict[str, Any]] = []
        for fragment in fragments:
            if self._find_call(fragment) is None:
                later.append(fragment)
            elif self._stops.hit is None and self._failure is None:
                self._tool_fragment(fragment, out)
        parts = read_parts(delta)
        reasoning = parts.reasoning
        text = ""
        if parts.text:
            tagged, text = self._think.feed(parts.text)
            reasoning += tagged
        if reasoning:
            self._reasoning(reasoning, out)
        if parts.details:
            if self._open != THINKING:
                self._open_thinking(out)
            merge_details(self._details, parts.details)
        if parts.signature:
            self._signature = parts.signature  # after _reasoning: a new block resets it
        if text:
            self._refusal = self._refusal or parts.refusal
            self._visible(self._stops.feed(text), out)
        for fragment in later:
            if self._stops.hit is not None or self._failure is not None:
                return
            self._tool_fragment(fragment, out)

    # --- reasoning and text -----------------------------------------------------------------------------

    def _reasoning(self, text: str, out: list[bytes]) -> None:
        if self._open != THINKING:
            self._open_thinking(out)
        self._thinking(text, out)

    def _settle_text(self, out: list[bytes]) -> None:
        """Release text held by the scanners: the content is moving on to tools, or ending."""
        reasoning, text = self._think.close()
        if reasoning:
            self._reasoning(reasoning, out)
        if text:
            self._visible(self._stops.feed(text), out)
        self._flush_held(out)

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
            arguments = function.get("arguments")
            if isinstance(arguments, dict) or (isinstance(arguments, str) and arguments.strip()):
                # What was sent as the whole call was not: the stream must not end as if it were.
                log.warning("tool call %r: arguments arrived after it was sent whole", call.name)
                self._fail(
                    errors.not_an_answer(
                        self._ctx.provider, f"tool call {call.name!r} went on after its arguments were whole"
                    ),
                    out,
                )
            return
        elif not call.name and isinstance(name, str) and name:
            call.name = self._ctx.tool_names.to_claude(name)
        call.thought_signature = thought_signature_of(fragment) or call.thought_signature
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
        call = _ToolCall(upstream_id, claude_name)
        index = fragment.get("index")
        if isinstance(index, int):
            self._by_index[index] = call
        if upstream_id:
            self._by_id[upstream_id] = call
        self._last_call = call
        return call
