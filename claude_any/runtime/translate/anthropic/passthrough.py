"""The client's body for an Anthropic upstream (the pass-through), after a conversation that went through
other targets: the thinking blocks the gateway signed are left out, since Anthropic refuses a thinking
block whose signature it did not make ("Invalid signature in thinking block"). Everything else is the
client's, untouched; a body without such blocks is returned as it is (no copy).
"""

from __future__ import annotations

from typing import Any

from claude_any.runtime.translate.signatures import is_gateway_signature


def without_gateway_thinking(body: Any) -> Any:
    """`body` less the gateway-signed thinking blocks of its assistant turns (a turn left empty goes too)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not any(_has_gateway_thinking(m) for m in messages):
        return body
    kept: list[Any] = []
    for message in messages:
        if not _has_gateway_thinking(message):
            kept.append(message)
            continue
        content = [b for b in message["content"] if not _is_gateway_thinking(b)]
        if content:
            kept.append({**message, "content": content})
    return {**body, "messages": kept}


def _is_gateway_thinking(block: Any) -> bool:
    return (
        isinstance(block, dict)
        and block.get("type") == "thinking"
        and is_gateway_signature(block.get("signature"))
    )


def _has_gateway_thinking(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") == "assistant"
        and isinstance(message.get("content"), list)
        and any(_is_gateway_thinking(b) for b in message["content"])
    )
