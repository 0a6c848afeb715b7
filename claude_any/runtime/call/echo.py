"""The `echo` provider: answers in-process, no network, so a config can be tried before any key exists.

To the gateway it is a provider like the others (provider_kinds.py): an Anthropic Messages server, mounted as
the provider's HTTP client (`client`), to which the relay passes requests through. Inside, it writes an
OpenAI-style completion (or its SSE chunks) and runs it through the same translators as a real provider's
answer. Its URL (templates/echo.j2) names the target and model it stands for. Replies are deterministic:

- plain text: names the requested model, the target and the last user text;
- `/tool NAME {json}` lines in the last user text, for tools the request offers: those tool calls
  (several lines give parallel calls);
- after a tool result: a one-line summary of the result text.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import httpx

from claude_any.capabilities import lookup
from claude_any.runtime.errors import AnthropicError, envelope
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.chat.response import from_openai
from claude_any.runtime.translate.chat.stream import StreamTranslator
from claude_any.runtime.translate.context import Upstream
from claude_any.runtime.translate.tools import ToolNameMap
from claude_any.table import empty_params

_QUOTE_LIMIT = 200


def _text_of(content: Any) -> str:
    """The text of a message's content (a string or a list of blocks), text blocks joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _tool_results(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def _last_user(body: dict[str, Any]) -> Any:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return message.get("content")
    return ""


# Claude Code wraps context it adds to a user turn (attribution, environment) in these tags; echo quotes what
# the user typed, not that.
_REMINDER = re.compile(r"<system-reminder>.*?(</system-reminder>|$)", re.S)


def _said(text: str) -> str:
    """The user's own words: the text without Claude Code's `<system-reminder>` sections."""
    return _REMINDER.sub("", text).strip()


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 1] + "…"


def _tool_calls(text: str, offered: set[str], names: ToolNameMap) -> list[dict[str, Any]]:
    """`/tool NAME {json}` lines naming offered tools, as OpenAI tool calls (arguments `{}` when omitted)."""
    calls: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=2)
        if len(parts) < 2 or parts[0] != "/tool" or parts[1] not in offered:
            continue
        arguments = parts[2] if len(parts) == 3 else "{}"
        try:
            arguments = json.dumps(json.loads(arguments))
        except ValueError:
            arguments = json.dumps({"input": arguments})
        calls.append(
            {
                "id": f"call_echo_{len(calls)}",
                "type": "function",
                "function": {"name": names.to_upstream(parts[1]), "arguments": arguments},
            }
        )
    return calls


def _summary(results: list[dict[str, Any]]) -> str:
    parts = []
    for result in results:
        text = _text_of(result.get("content"))
        status = "an error" if result.get("is_error") else "a result"
        parts.append(f'tool call {result.get("tool_use_id", "?")} returned {status}: "{_clip(text)}"')
    return "echo from claude-any: " + "; ".join(parts)


def completion(
    body: dict[str, Any], *, target_id: str, label: str, tool_names: ToolNameMap, input_tokens: int
) -> dict[str, Any]:
    """The echo reply to an Anthropic request, as an OpenAI Chat Completions response."""
    content = _last_user(body)
    results = _tool_results(content)
    text = _text_of(content)
    offered = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    calls = [] if results else _tool_calls(text, {n for n in offered if isinstance(n, str)}, tool_names)
    message: dict[str, Any] = {"role": "assistant"}
    if calls:
        message["content"] = None
        message["tool_calls"] = calls
        output = json.dumps(calls)
    else:
        if results:
            reply = _summary(results)
        else:
            reply = (
                f"echo from claude-any: model {body.get('model')} → target {target_id} ({label}). "
                f'You said: "{_clip(_said(text))}"'
            )
        message["content"] = reply
        output = reply
    completion_tokens = max(1, len(output) // 4)
    return {
        "id": "chatcmpl-echo",
        "object": "chat.completion",
        "created": 0,
        "model": label,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": input_tokens + completion_tokens,
        },
    }


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False).encode("utf-8") + b"\n\n"


def chunks(full: dict[str, Any]) -> list[bytes]:
    """The same completion as an OpenAI SSE stream: text in a few pieces, tool arguments in two fragments."""
    choice = full["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {
                "id": full["id"],
                "object": "chat.completion.chunk",
                "created": 0,
                "model": full["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                "usage": None,
            }
        )

    out = [chunk({"role": "assistant", "content": ""})]
    text = message.get("content") or ""
    step = max(1, len(text) // 3)
    out += [chunk({"content": text[i : i + step]}) for i in range(0, len(text), step)]
    for index, call in enumerate(message.get("tool_calls") or []):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        first = {"index": index, "id": call["id"], "type": "function"}
        first["function"] = {"name": call["function"]["name"], "arguments": arguments[:half]}
        out.append(chunk({"tool_calls": [first]}))
        out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]}))
    out.append(chunk({}, choice["finish_reason"]))
    out.append(
        _sse({"id": full["id"], "object": "chat.completion.chunk", "choices": [], "usage": full["usage"]})
    )
    out.append(b"data: [DONE]\n\n")
    return out


def answer(request: httpx.Request) -> httpx.Response:
    """The echo server: an Anthropic Messages answer (JSON or SSE) to one request passed through to it."""
    path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
    target_id, provider, model = (unquote(part) for part in path.split("/")[1:4])
    upstream = Upstream(model=model, capabilities=lookup("echo", model), params=empty_params(), kind="echo")
    try:
        body = json.loads(request.content)
        _, ctx = to_openai(body, upstream)
    except AnthropicError as err:
        return httpx.Response(err.status, json=envelope(err, "echo"))
    except ValueError:
        return httpx.Response(400, json={"type": "error", "error": {"message": "body is not JSON"}})
    full = completion(
        body,
        target_id=target_id,
        label=f"{provider}/{model}",
        tool_names=ctx.tool_names,
        input_tokens=ctx.estimated_input_tokens,
    )
    if not ctx.stream:
        return httpx.Response(200, json=from_openai(full, ctx))
    translator = StreamTranslator(ctx)
    events = [translator.start(), *(translator.feed(chunk) for chunk in chunks(full)), translator.finish()]
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(events))


def client() -> httpx.AsyncClient:
    """The echo provider's HTTP client: every request is answered by `answer`, in-process."""
    return httpx.AsyncClient(transport=httpx.MockTransport(answer))
