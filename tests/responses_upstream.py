"""A scripted OpenAI Responses API upstream, for tests that put claude-any in front of `/v1/responses`.

Build the output items of a response (`reasoning`, `message`, `function_call`), then either a whole response
object (`response_json`) or the event stream OpenAI sends for it (`stream_events`: created, in_progress, per
item added / deltas / done, then completed or incomplete), and hand it to `loopback.FakeUpstream` with
`reply(...)`. For multi-turn clients (Claude Code, the SDK in a loop) `tool_then_text` is a ready responder:
the first request gets a function call, the request carrying its output gets a final text.

    upstream.script(reply([message("Hello!")]))                       # one streamed text answer
    upstream.responder = tool_then_text("Bash", {"command": "ls"}, "Done.")
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from loopback import Recorded, Reply

JSON = dict[str, Any]

MODEL = "gpt-5-pro-2025-10-06"


# --- output items ----------------------------------------------------------------------------------------


def reasoning(*summary: str, encrypted: str | None = None, item_id: str = "rs_1") -> JSON:
    """A reasoning item: summary paragraphs and, when given, its `encrypted_content`."""
    item: JSON = {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": text} for text in summary],
    }
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def message(text: str, item_id: str = "msg_1") -> JSON:
    """An assistant message item with one output_text part."""
    part = {"type": "output_text", "text": text, "annotations": []}
    return {"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": [part]}


def function_call(call_id: str, name: str, arguments: Any, item_id: str | None = None) -> JSON:
    """A function_call item; `arguments` may be a dict (serialised) or the exact JSON text."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "type": "function_call",
        "id": item_id or "fc_" + call_id,
        "call_id": call_id,
        "name": name,
        "arguments": text,
        "status": "completed",
    }


def usage(
    input_tokens: int = 100, output_tokens: int = 20, cached: int = 0, reasoning_tokens: int = 0
) -> JSON:
    """A Responses usage object (cached tokens are part of input_tokens, as OpenAI counts them)."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }


def response_json(
    output: list[JSON],
    use: JSON | None = None,
    *,
    status: str = "completed",
    incomplete: str | None = None,
    error: JSON | None = None,
) -> JSON:
    """A complete Responses API response object."""
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1760000000,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "model": MODEL,
        "output": output,
        "usage": use if use is not None else usage(),
    }


# --- the event stream ------------------------------------------------------------------------------------


def event(kind: str, **fields: Any) -> str:
    """One SSE frame as OpenAI sends it: an `event:` line and the data (whose `type` repeats the name)."""
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n"


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _item_events(index: int, item: JSON, size: int) -> list[str]:
    kind = item["type"]
    item_id = item["id"]
    at = {"item_id": item_id, "output_index": index}
    added = dict(item)
    if kind == "function_call":
        added = {**item, "arguments": "", "status": "in_progress"}
    elif kind == "message":
        added = {**item, "content": [], "status": "in_progress"}
    elif kind == "reasoning":
        added = {k: v for k, v in item.items() if k != "encrypted_content"} | {"summary": []}
    out = [event("response.output_item.added", output_index=index, item=added)]
    if kind == "reasoning":
        for n, part in enumerate(item["summary"]):
            out.append(event("response.reasoning_summary_part.added", **at, summary_index=n, part=part))
            for piece in _pieces(part["text"], size):
                out.append(event("response.reasoning_summary_text.delta", **at, summary_index=n, delta=piece))
            out.append(
                event("response.reasoning_summary_text.done", **at, summary_index=n, text=part["text"])
            )
            out.append(event("response.reasoning_summary_part.done", **at, summary_index=n, part=part))
    elif kind == "message":
        for n, part in enumerate(item["content"]):
            out.append(event("response.content_part.added", **at, content_index=n, part={**part, "text": ""}))
            for piece in _pieces(part["text"], size):
                out.append(event("response.output_text.delta", **at, content_index=n, delta=piece))
            out.append(event("response.output_text.done", **at, content_index=n, text=part["text"]))
            out.append(event("response.content_part.done", **at, content_index=n, part=part))
    elif kind == "function_call":
        for piece in _pieces(item["arguments"], size):
            out.append(event("response.function_call_arguments.delta", **at, delta=piece))
        out.append(event("response.function_call_arguments.done", **at, arguments=item["arguments"]))
    out.append(event("response.output_item.done", output_index=index, item=item))
    return out


def stream_events(
    output: list[JSON], use: JSON | None = None, *, incomplete: str | None = None, size: int = 7
) -> list[str]:
    """The SSE frames OpenAI streams for a response with these output items (deltas of `size` chars)."""
    final = response_json(
        output, use, status="incomplete" if incomplete else "completed", incomplete=incomplete
    )
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    frames = [event("response.created", response=started), event("response.in_progress", response=started)]
    for index, item in enumerate(output):
        frames += _item_events(index, item, size)
    frames.append(event("response.incomplete" if incomplete else "response.completed", response=final))
    return frames


def failed_events(code: str = "server_error", message: str = "The model failed.") -> list[str]:
    """A stream that starts and then fails (`response.failed`)."""
    failed = response_json([], status="failed", error={"code": code, "message": message})
    return [
        event("response.created", response={**failed, "status": "in_progress"}),
        event("response.failed", response=failed),
    ]


def reply(
    output: list[JSON], use: JSON | None = None, *, stream: bool = True, incomplete: str | None = None
) -> Reply:
    """A FakeUpstream reply: the event stream, or the JSON response object when `stream` is false."""
    if stream:
        return Reply(chunks=stream_events(output, use, incomplete=incomplete))
    status = "incomplete" if incomplete else "completed"
    return Reply(json=response_json(output, use, status=status, incomplete=incomplete))


# --- multi-turn responders -------------------------------------------------------------------------------


def tool_outputs(recorded: Recorded) -> list[JSON]:
    """The function_call_output items of a recorded Responses request."""
    items = recorded.body.get("input") if isinstance(recorded.body, dict) else None
    return [i for i in items or [] if isinstance(i, dict) and i.get("type") == "function_call_output"]


def tool_then_text(
    tool: str,
    arguments: JSON,
    final_text: str,
    *,
    call_id: str = "call_resp_1",
    thought: str = "I should run the tool first.",
    encrypted: str = "enc-reasoning-1",
) -> Callable[[Recorded], Reply]:
    """A responder: reasoning + a call of `tool` until the request carries that call's output, then text.

    Each reply streams or not as the request asked. The reasoning carries `encrypted` so a test can check
    that it comes back on the next turn.
    """

    def respond(recorded: Recorded) -> Reply:
        stream = bool(isinstance(recorded.body, dict) and recorded.body.get("stream"))
        if any(o.get("call_id") == call_id for o in tool_outputs(recorded)):
            return reply([message(final_text)], usage(180, 12), stream=stream)
        items = [reasoning(thought, encrypted=encrypted), function_call(call_id, tool, arguments)]
        return reply(items, usage(150, 40, reasoning_tokens=16), stream=stream)

    return respond
