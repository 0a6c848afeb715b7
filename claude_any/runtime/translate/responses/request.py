"""Anthropic Messages request -> OpenAI Responses API request body (`POST …/responses`).

The Responses dialect, as far as this gateway uses it (OpenAI API reference, "Responses"):

    {"model", "instructions": "<system text>", "input": [items], "tools": [...], "tool_choice",
     "parallel_tool_calls", "max_output_tokens", "reasoning": {"effort", "summary"},
     "text": {"format": {"type": "json_schema", "name", "schema", "strict"}},
     "store": false, "include": ["reasoning.encrypted_content"], "stream", "temperature", "top_p", "user"}

    input items:
      {"type": "message", "role": "user" | "developer", "content": [
          {"type": "input_text", "text"}, {"type": "input_image", "image_url", "detail"},
          {"type": "input_file", "filename", "file_data": "data:application/pdf;base64,…"}]}
      {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text"}]}
      {"type": "reasoning", "summary": [{"type": "summary_text", "text"}], "encrypted_content"}
      {"type": "function_call", "call_id", "name", "arguments": "<json text>"}
      {"type": "function_call_output", "call_id", "output": "<text>"}
    function tool: {"type": "function", "name", "description", "parameters", "strict": false}
    tool_choice: "auto" | "required" | "none" | {"type": "function", "name"}

The conversation is built by the chat path (`messages_to_openai`: ordering, repair of interrupted tool calls,
media moved out of tool results, name mapping) and then re-shaped into items, so both dialects repair a
history the same way. Differences from the chat path: function tools default to strict on this API (sent
`strict: false`, like chat); there is no `stop` parameter (every stop sequence is enforced on the output);
the chat-only rule "tools only at effort none" (gpt-5.4+) does not apply; `store: false` because the gateway
is stateless, so item ids are never sent back (the API cannot look them up) and reasoning survives between
turns only as `encrypted_content`, carried in the thinking block's signature (see `responses_response`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claude_any.runtime.errors import json_type
from claude_any.runtime.route.tokens import estimate
from claude_any.runtime.translate.chat.messages import THINKING_BLOCKS, bad, messages_to_openai
from claude_any.runtime.translate.chat.request import (
    add_cache_key,
    add_sampling,
    add_user,
    choose_effort,
    core_fields,
    token_limit,
    typed_field,
)
from claude_any.runtime.translate.context import Upstream
from claude_any.runtime.translate.request_checks import check_thinking
from claude_any.runtime.translate.responses.response import ResponsesContext
from claude_any.runtime.translate.signatures import decode_signature, target_tag
from claude_any.runtime.translate.structured_output import structured_output
from claude_any.runtime.translate.tools import ToolNameMap, tool_choice_to_openai, tools_to_openai

JSON = dict[str, Any]

# Where a reasoning model leaves its reasoning for the next turn when nothing is stored upstream.
ENCRYPTED_REASONING = "reasoning.encrypted_content"


def to_responses(
    body: Any,
    up: Upstream,
    *,
    estimated_input_tokens: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[JSON, ResponsesContext]:
    """The Responses API body for `body` sent to `up`, and the per-request context.

    Same contract as `to_openai`: unknown fields and blocks are ignored, input of the wrong JSON type (or
    a field the gateway cannot honour) is a 400 naming its path, and the client's body is never modified.
    """
    model, messages, stream = core_fields(body)
    check_thinking(body, headers)
    caps, params = up.capabilities, up.params
    names = ToolNameMap()

    chat = messages_to_openai(body.get("system"), messages, caps=caps, names=names, keep_thinking=True)
    out: JSON = {"model": up.model}
    instructions, items = _items(chat, up.model)
    if instructions:
        out["instructions"] = instructions
    out["input"] = items
    _add_tools(out, body, caps, names)
    limit = token_limit(body, caps, params)
    if limit is not None:
        out["max_output_tokens"] = limit
    effort = choose_effort(body, caps, params, has_tools=False)
    _add_reasoning(out, body, caps, effort)
    add_sampling(out, body, caps, params, effort)
    _add_text_format(out, body, caps)
    add_user(out, body)
    add_cache_key(out, caps, headers)
    out["store"] = False
    if stream:
        out["stream"] = True

    ctx = ResponsesContext(
        requested_model=model,
        stream=stream,
        tool_names=names,
        estimated_input_tokens=estimate(body) if estimated_input_tokens is None else estimated_input_tokens,
        stop_sequences=_stop_sequences(body),
        upstream_model=up.model,
        signer=target_tag(up.kind, up.model),
    )
    return out, ctx


# --- the conversation ------------------------------------------------------------------------------------


def _items(chat: list[JSON], upstream_model: str) -> tuple[str, list[JSON]]:
    """(instructions, input items) from chat-shaped messages; leading system messages are the instructions."""
    lead: list[str] = []
    i = 0
    while i < len(chat) and chat[i]["role"] == "system":
        lead.append(chat[i]["content"])
        i += 1
    items: list[JSON] = []
    for message in chat[i:]:
        role = message["role"]
        if role == "system":
            # Later system turns (Claude Code reminders) stay where they were, as developer messages.
            items.append(_message("developer", [_input_text(message["content"])]))
        elif role == "user":
            items.append(_message("user", _user_parts(message["content"])))
        elif role == "assistant":
            items.extend(_assistant(message, upstream_model))
        elif role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message["tool_call_id"],
                    "output": message["content"],
                }
            )
    return "\n\n".join(lead), items


def _message(role: str, content: list[JSON]) -> JSON:
    return {"type": "message", "role": role, "content": content}


def _input_text(text: str) -> JSON:
    return {"type": "input_text", "text": text}


def _user_parts(content: str | list[JSON]) -> list[JSON]:
    if isinstance(content, str):
        return [_input_text(content)]
    parts: list[JSON] = []
    for part in content:
        kind = part["type"]
        if kind == "text":
            parts.append(_input_text(part["text"]))
        elif kind == "image_url":
            parts.append({"type": "input_image", "image_url": part["image_url"]["url"], "detail": "auto"})
        elif kind == "file":
            file = part["file"]
            parts.append({"type": "input_file", "filename": file["filename"], "file_data": file["file_data"]})
    return parts


def _assistant(message: JSON, upstream_model: str) -> list[JSON]:
    """Reasoning items (replayable ones only), then the text, then the function calls: the output order."""
    items: list[JSON] = []
    for block in message.get(THINKING_BLOCKS, ()):
        encrypted = decode_signature(block.get("signature"), upstream_model)
        if encrypted is None:
            continue  # another model's (or Anthropic's) reasoning: this upstream cannot read it
        thought = block.get("thinking")
        summary = [{"type": "summary_text", "text": thought}] if isinstance(thought, str) and thought else []
        items.append({"type": "reasoning", "summary": summary, "encrypted_content": encrypted})
    if message.get("content"):
        items.append(_message("assistant", [{"type": "output_text", "text": message["content"]}]))
    for call in message.get("tool_calls", ()):
        function = call["function"]
        items.append(
            {
                "type": "function_call",
                "call_id": call["id"],
                "name": function["name"],
                "arguments": function["arguments"],
            }
        )
    return items


# --- fields ----------------------------------------------------------------------------------------------


def _add_tools(out: JSON, body: Mapping[str, Any], caps: Mapping[str, Any], names: ToolNameMap) -> None:
    dialect = str(caps.get("schema_dialect") or "openai")
    chat_tools = tools_to_openai(typed_field(body, "tools", list, []), names, dialect=dialect)
    if not chat_tools:  # tool_choice / parallel_tool_calls without tools are rejected
        return
    out["tools"] = [{"type": "function", "strict": False, **tool["function"]} for tool in chat_tools]
    choice = typed_field(body, "tool_choice", dict)
    if choice is None:
        return
    chosen = tool_choice_to_openai(choice, names, {t["name"] for t in out["tools"]})
    out["tool_choice"] = (
        {"type": "function", "name": chosen["function"]["name"]} if isinstance(chosen, dict) else chosen
    )
    if choice.get("disable_parallel_tool_use") is True and caps.get("parallel_tool_calls") != "omit":
        out["parallel_tool_calls"] = False


def _add_reasoning(out: JSON, body: Mapping[str, Any], caps: Mapping[str, Any], effort: str | None) -> None:
    """`reasoning` and the encrypted reasoning `include`, for reasoning models only (others reject both)."""
    if not caps.get("reasoning"):
        return
    reasoning: JSON = {}
    if effort is not None:
        reasoning["effort"] = effort
    thinking = typed_field(body, "thinking", dict, {})
    # Summaries only when the client shows thinking: OpenAI refuses them to unverified organisations, so
    # asking on every request would break clients that never wanted them.
    if thinking.get("type") in ("enabled", "adaptive") and thinking.get("display") != "omitted":
        reasoning["summary"] = "auto"
    if reasoning:
        out["reasoning"] = reasoning
    out["include"] = [ENCRYPTED_REASONING]


def _add_text_format(out: JSON, body: Mapping[str, Any], caps: Mapping[str, Any]) -> None:
    typed_field(body, "output_config", dict)
    found = structured_output(body, str(caps.get("schema_dialect") or "openai"))
    if found is not None:
        schema, strict = found
        out["text"] = {
            "format": {"type": "json_schema", "name": "output", "schema": schema, "strict": strict}
        }


def _stop_sequences(body: Mapping[str, Any]) -> tuple[str, ...]:
    """All stop sequences: the Responses API has no `stop`, so the output side enforces every one."""
    raw = typed_field(body, "stop_sequences", list, [])
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise bad(f"stop_sequences.{i}", f"expected a string, got {json_type(item)}")
    return tuple(s for s in raw if s)
