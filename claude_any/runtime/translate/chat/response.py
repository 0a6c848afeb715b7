"""A complete OpenAI Chat Completions response turned into an Anthropic message (docs/PROTOCOL.md).

Only an answer becomes a message: an `{"error": …}` body is the error it states (mapped as if it came with its
own HTTP status), a body without a choice holding a message is an error, never an empty `end_turn`; a tool
call is passed on only whole (`arguments.settle_call`: withheld when `length` cut it, else an error).
"""

from __future__ import annotations

from typing import Any

from claude_any.runtime import errors
from claude_any.runtime.translate.arguments import settle_call
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import IdFactory, ToolIds, random_id
from claude_any.runtime.translate.parts import read_parts
from claude_any.runtime.translate.replay import thought_signature_of
from claude_any.runtime.translate.signatures import signature
from claude_any.runtime.translate.sse import dumps
from claude_any.runtime.translate.text_scan import StopScanner, ThinkSplitter
from claude_any.runtime.translate.usage import final_usage, matched_stop, metered, stop_reason


def from_openai(resp: dict[str, Any], ctx: Context, *, make_id: IdFactory = random_id) -> dict[str, Any]:
    """The Anthropic message for an OpenAI chat completion `resp`.

    Blocks come in Anthropic's order (thinking, text, tool_use); `content` may be empty but never holds
    an empty text block. Raises AnthropicError when the body is an error rather than a completion.
    """
    message_id = make_id("msg_")
    if resp.get("error") is not None:
        raise errors.in_band(resp, ctx.provider)
    choices = resp.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise errors.not_an_answer(
            ctx.provider, "the answer is not a chat completion (no choice with a message)"
        )
    finish = choice.get("finish_reason")
    if finish == "error":
        raise errors.api_error(f"{ctx.provider}: the generation stopped with an error")

    parts = read_parts(message)
    reasoning, text = _split_think(parts.text)
    reasoning = parts.reasoning + reasoning
    stops = StopScanner(ctx.stop_sequences)
    text = stops.feed(text)
    text += stops.flush()

    content: list[dict[str, Any]] = []
    if reasoning or parts.details:
        carried = {"reasoning_details": parts.details} if parts.details else None
        sig = parts.signature or signature(ctx.signer, reasoning, carried)
        content.append({"type": "thinking", "thinking": reasoning, "signature": sig})
    if text and not text.isspace():
        content.append({"type": "text", "text": text})
    # A stop sequence ends generation: any tool calls the upstream produced after it are not part of it.
    provider_stop = matched_stop(choice, ctx.sent_stops) if finish == "stop" else None
    cut = finish in ("length", "content_filter") or provider_stop is not None
    tools = _tool_uses(message, ctx, make_id, truncated=cut)
    tools = tools if stops.hit is None else []
    content.extend(tools)

    output_chars = len(reasoning) + len(text) + sum(len(dumps(t["input"])) for t in tools)
    return anthropic_message(
        message_id,
        ctx,
        content,
        finish_reason=finish if isinstance(finish, str) else None,
        stop_sequence=stops.hit or provider_stop,
        upstream_usage=resp.get("usage") or choice.get("usage"),
        output_chars=output_chars,
        refusal=parts.refusal,
    )


def anthropic_message(
    message_id: str,
    ctx: Context,
    content: list[dict[str, Any]],
    *,
    finish_reason: str | None,
    stop_sequence: str | None,
    upstream_usage: Any,
    output_chars: int,
    refusal: bool = False,
) -> dict[str, Any]:
    """The Anthropic message around translated `content`, whichever OpenAI dialect it came from.

    `finish_reason` and `upstream_usage` are in Chat Completions' shape; `stop_sequence` is the stop sequence
    the text ended at (cut by the gateway, or named by the provider), if any; `output_chars` estimates output
    tokens when the usage has none; `refusal`: the text is the model's refusal.
    """
    has_tool_use = any(block["type"] == "tool_use" for block in content)
    ctx.usage_metered = metered(upstream_usage, output_chars)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": ctx.requested_model,
        "content": content,
        "stop_reason": stop_reason(
            finish_reason,
            has_tool_use=has_tool_use,
            stop_sequence_hit=stop_sequence is not None,
            refusal=refusal,
        ),
        "stop_sequence": stop_sequence,
        "usage": final_usage(upstream_usage, ctx.estimated_input_tokens, output_chars),
    }


def _split_think(text: str) -> tuple[str, str]:
    """A leading `<think>…</think>` (raw open-weight models) as reasoning, and the rest as text."""
    if not text:
        return "", ""
    splitter = ThinkSplitter()
    reasoning, visible = splitter.feed(text)
    more_reasoning, more_visible = splitter.close()
    return reasoning + more_reasoning, visible + more_visible


def _tool_uses(
    message: dict[str, Any], ctx: Context, make_id: IdFactory, *, truncated: bool
) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    calls = list(calls) if isinstance(calls, list) else []
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"function": legacy})
    ids = ToolIds(make_id)
    blocks: list[dict[str, Any]] = []
    for call in calls:
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        upstream_name = function.get("name")
        name = (
            ctx.tool_names.to_claude(upstream_name)
            if isinstance(upstream_name, str) and upstream_name
            else ""
        )
        arguments = settle_call(name, function.get("arguments"), provider=ctx.provider, truncated=truncated)
        if arguments is not None:
            block_id = ids.assign(call.get("id"), thought_signature_of(call))
            blocks.append({"type": "tool_use", "id": block_id, "name": name, "input": arguments.value})
    return blocks
