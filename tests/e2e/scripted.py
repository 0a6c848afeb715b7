"""A fake OpenAI-compatible model for the end-to-end runs: it decides each answer from what it receives.

Claude Code is a multi-turn client, so a fixed list of replies would depend on how many requests it makes
(and in what order). `Model` instead looks at each request: no tool result yet → the scripted tool calls
(or a plain answer); `role: "tool"` messages present → a text answer quoting every tool output. It is a
`FakeUpstream.responder`; the upstream records the requests for the assertions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from loopback import DONE, Recorded, Reply

ANSWER = "scripted answer"
TOOL_ANSWER = "tool said:"


def error_reply(status: int, message: str, **headers: str) -> Reply:
    """An OpenAI-style error answer."""
    return Reply(status=status, json={"error": {"message": message, "type": "e2e_error"}}, headers=headers)


@dataclass(frozen=True)
class Call:
    """One tool call the model asks for."""

    name: str
    arguments: dict[str, Any]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-e2e",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {"id": "chatcmpl-e2e", "object": "chat.completion.chunk", "choices": [], "usage": usage}


def text_of(content: Any) -> str:
    """Text of an OpenAI message content: a string or a list of `{"type": "text"}` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def tool_outputs(body: dict[str, Any]) -> list[str]:
    """The text of every `role: "tool"` message, in order."""
    return [text_of(m.get("content")) for m in body.get("messages", []) if m.get("role") == "tool"]


@dataclass
class Model:
    """The scripted model. `calls` are asked for on the first turn (all in one response, so several calls
    are parallel calls); `reasoning` is streamed as `reasoning_content` before the text; the first requests
    get the `failures` replies instead, one each."""

    calls: list[Call] = field(default_factory=list)
    reasoning: str | None = None
    failures: list[Reply] = field(default_factory=list)
    answer: str = ANSWER
    prompt_tokens: int = 1234

    def __call__(self, request: Recorded) -> Reply:
        if self.failures:
            return self.failures.pop(0)
        body = request.body if isinstance(request.body, dict) else {}
        outputs = tool_outputs(body)
        offered = {t["function"]["name"] for t in body.get("tools", []) if t.get("type") == "function"}
        chunks: list[Any] = [chunk({"role": "assistant", "content": ""})]
        if self.reasoning:
            chunks += [chunk({"reasoning_content": part}) for part in _halves(self.reasoning)]
        if not outputs and self.calls and all(c.name in offered for c in self.calls):
            chunks += _tool_call_chunks(self.calls)
            chunks.append(chunk({}, "tool_calls"))
        else:
            text = " ".join([TOOL_ANSWER, *outputs]) if outputs else self.answer
            chunks += [chunk({"content": part}) for part in _halves(text)]
            chunks.append(chunk({}, "stop"))
        chunks += [usage_chunk(self.prompt_tokens, 42), DONE]
        if body.get("stream") is not True:
            # Answer a non-streaming retry too, so that only upstream_checks (not a hang) reveals it.
            return Reply(json=_collapse(chunks))
        return Reply(chunks=chunks)


def _halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


def _tool_call_chunks(calls: list[Call]) -> list[dict[str, Any]]:
    """Each call in two fragments (id and name first, as OpenAI streams them)."""
    out = []
    for index, call in enumerate(calls):
        arguments = json.dumps(call.arguments)
        first, rest = _halves(arguments)
        head = {"index": index, "id": f"call_e2e_{index}", "type": "function"}
        out.append(chunk({"tool_calls": [head | {"function": {"name": call.name, "arguments": first}}]}))
        out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": rest}}]}))
    return out


def _collapse(chunks: list[Any]) -> dict[str, Any]:
    """The non-streaming completion equivalent to `chunks`."""
    message: dict[str, Any] = {"role": "assistant", "content": ""}
    calls: dict[int, dict[str, Any]] = {}
    finish, usage = "stop", None
    for item in chunks:
        if not isinstance(item, dict):
            continue
        usage = item.get("usage") or usage
        for choice in item["choices"]:
            delta = choice["delta"]
            finish = choice["finish_reason"] or finish
            message["content"] += delta.get("content") or ""
            if "reasoning_content" in delta:
                message["reasoning_content"] = (
                    message.get("reasoning_content", "") + delta["reasoning_content"]
                )
            for fragment in delta.get("tool_calls", []):
                call = calls.setdefault(
                    fragment["index"], {"type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["id"] = fragment.get("id", call.get("id"))
                function = fragment.get("function", {})
                call["function"]["name"] += function.get("name", "")
                call["function"]["arguments"] += function.get("arguments", "")
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {
        "id": "chatcmpl-e2e",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }
