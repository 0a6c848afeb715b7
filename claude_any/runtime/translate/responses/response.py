"""An OpenAI Responses API response turned into an Anthropic message, and the pieces the stream shares.

The response object (OpenAI API reference, "Responses"):

    {"id": "resp_…", "object": "response", "status": "completed" | "incomplete" | "failed" | …,
     "error": null | {"code", "message"}, "incomplete_details": null | {"reason": "max_output_tokens" |
     "content_filter"}, "model",
     "output": [
       {"type": "reasoning", "id": "rs_…", "summary": [{"type": "summary_text", "text"}],
        "content": [{"type": "reasoning_text", "text"}]?, "encrypted_content"?},
       {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text", "annotations"},
                                                             {"type": "refusal", "refusal"}]},
       {"type": "function_call", "id": "fc_…", "call_id": "call_…", "name", "arguments": "<json text>"}],
     "usage": {"input_tokens", "input_tokens_details": {"cached_tokens"}, "output_tokens",
               "output_tokens_details": {"reasoning_tokens"}, "total_tokens"}}

Mapping: reasoning -> thinking (summary text, or the raw reasoning text some servers send instead), message
-> text, function_call -> tool_use (the `call_id` is the tool_use id, so it comes back as the call_id of the
next turn), `incomplete` for max_output_tokens -> `max_tokens`, for content_filter -> `refusal`, any tool
call -> `tool_use`, else `end_turn`. A body that is not a finished response (no `output` list, a status
other than completed / incomplete, an `error` object) is an error, never an empty message; a function call
cut by the output limit is withheld, one that is not whole otherwise is an error (`arguments.settle_call`).
Usage counts cached tokens inside `input_tokens`, as Chat Completions does inside `prompt_tokens`, so it
goes through the same mapping.

Reasoning carried across turns: the thinking block's signature is `ca1r.<model tag>.<encrypted_content>`;
the request side sends it back as a reasoning item only to the same upstream model (the tag), because
another model cannot decrypt it. Without encrypted content the signature is the chat path's text hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claude_any.runtime import errors
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate.arguments import settle_call
from claude_any.runtime.translate.chat.response import anthropic_message
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.ids import IdFactory, ToolIds, random_id
from claude_any.runtime.translate.signatures import encode_signature, signature
from claude_any.runtime.translate.sse import dumps
from claude_any.runtime.translate.text_scan import StopScanner

JSON = dict[str, Any]

# The statuses of a response that is an answer (failed is an error; queued / in_progress are not done).
_ANSWERED = ("completed", "incomplete")


@dataclass
class ResponsesContext(Context):
    """Context plus the upstream model, which tags the reasoning carried in thinking signatures."""

    upstream_model: str = ""


# --- reasoning signatures ------------------------------------------------------------------------------


def carried_signature(encrypted: Any, ctx: Context) -> str | None:
    """The signature carrying `encrypted` reasoning to the next turn; None when there is nothing to carry."""
    model = ctx.upstream_model if isinstance(ctx, ResponsesContext) else ""
    if isinstance(encrypted, str) and encrypted and model:
        return encode_signature(encrypted, model)
    return None


def reasoning_signature(thinking: str, encrypted: Any, ctx: Context) -> str:
    """A thinking block's signature: the encrypted reasoning when the upstream sent it, else a text hash."""
    return carried_signature(encrypted, ctx) or signature(ctx.signer, thinking)


# --- shared readers ------------------------------------------------------------------------------------


def reasoning_text(item: JSON) -> str:
    """The visible text of a reasoning item: its summary parts, else its raw reasoning (vLLM, gpt-oss)."""
    for key, kind in (("summary", "summary_text"), ("content", "reasoning_text")):
        parts = item.get(key)
        if isinstance(parts, list):
            texts = [
                p["text"]
                for p in parts
                if isinstance(p, dict) and p.get("type", kind) == kind and isinstance(p.get("text"), str)
            ]
            if any(texts):
                return "\n\n".join(t for t in texts if t)
    return ""


def message_text(item: JSON) -> str:
    """The text of an output message item (output_text parts, or the refusal when the model declined)."""
    texts: list[str] = []
    for part in item.get("content") or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    return "".join(texts)


def is_refusal(item: JSON) -> bool:
    """True when an output message item is the model's refusal."""
    parts = item.get("content")
    return isinstance(parts, list) and any(isinstance(p, dict) and p.get("type") == "refusal" for p in parts)


def finish_reason(response: JSON) -> str:
    """The chat-style finish reason of a response object, for `usage.stop_reason`."""
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return "content_filter" if reason == "content_filter" else "length"
    return "stop"


def chat_usage(usage: Any) -> JSON | None:
    """Responses usage in Chat Completions' shape, so `usage.final_usage` maps it (cached split out)."""
    if not isinstance(usage, dict) or not usage:
        return None
    input_details = usage.get("input_tokens_details")
    output_details = usage.get("output_tokens_details")
    return {
        "prompt_tokens": usage.get("input_tokens"),
        "completion_tokens": usage.get("output_tokens"),
        "prompt_tokens_details": input_details if isinstance(input_details, dict) else {},
        "completion_tokens_details": output_details if isinstance(output_details, dict) else {},
    }


def failure(err: Any, provider: str) -> AnthropicError:
    """A `response.failed` error object or an `error` event, mapped like an HTTP error of the same kind."""
    err = err if isinstance(err, dict) else {}
    message = err.get("message") if isinstance(err.get("message"), str) else "the response failed"
    return errors.in_band({"error": {**err, "message": message}}, provider)


# --- the whole message ---------------------------------------------------------------------------------


def from_responses(resp: JSON, ctx: Context, *, make_id: IdFactory = random_id) -> JSON:
    """The Anthropic message for a Responses API response object.

    Blocks come in the order of the output items; `content` may be empty but never holds an empty text
    block. Raises AnthropicError for a failed response or an error body.
    """
    message_id = make_id("msg_")
    if resp.get("status") == "failed" or resp.get("error") is not None:
        raise failure(resp.get("error"), ctx.provider)
    output = resp.get("output")
    if not isinstance(output, list):
        raise errors.not_an_answer(ctx.provider, "the answer is not a Responses API response (no output)")
    status = resp.get("status")
    if status is not None and status not in _ANSWERED:
        raise errors.not_an_answer(ctx.provider, f"the response is not finished (status {status!r})")
    finish = finish_reason(resp)
    truncated = finish != "stop"
    stops = StopScanner(ctx.stop_sequences)
    ids = ToolIds(make_id)
    content: list[JSON] = []
    output_chars = 0
    refusal = False
    for item in output:
        if not isinstance(item, dict) or stops.hit is not None:
            continue
        kind = item.get("type")
        if kind == "reasoning":
            thought = reasoning_text(item)
            encrypted = item.get("encrypted_content")
            if thought or encrypted:
                sig = reasoning_signature(thought, encrypted, ctx)
                content.append({"type": "thinking", "thinking": thought, "signature": sig})
                output_chars += len(thought)
        elif kind == "message":
            refusal = refusal or is_refusal(item)
            text = stops.feed(message_text(item))
            text += stops.flush()
            if text and not text.isspace():
                content.append({"type": "text", "text": text})
                output_chars += len(text)
        elif kind == "function_call":
            block = _tool_use(item, ctx, ids, truncated=truncated)
            if block is not None:
                content.append(block)
                output_chars += len(dumps(block["input"]))
    return anthropic_message(
        message_id,
        ctx,
        content,
        finish_reason=finish,
        stop_sequence=stops.hit,
        upstream_usage=chat_usage(resp.get("usage")),
        output_chars=output_chars,
        refusal=refusal,
    )


def _tool_use(item: JSON, ctx: Context, ids: ToolIds, *, truncated: bool) -> JSON | None:
    """The tool_use block of a function_call item; None when the output limit cut it (withheld)."""
    name = item.get("name")
    claude_name = ctx.tool_names.to_claude(name) if isinstance(name, str) and name else ""
    arguments = settle_call(claude_name, item.get("arguments"), provider=ctx.provider, truncated=truncated)
    if arguments is None:
        return None
    call_id = ids.assign(item.get("call_id"))
    return {"type": "tool_use", "id": call_id, "name": claude_name, "input": arguments.value}
