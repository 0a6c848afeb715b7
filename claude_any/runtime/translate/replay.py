"""Reasoning sent back to the provider that wrote it, on the next turn, in the form that provider reads.

Reasoning models think before and between tool calls; several need that thinking back while a tool loop
runs, and some reject a tool-calling turn without it. The capability table says, per model or service,
how (`reasoning_replay`):

    drop               nothing goes back (OpenAI, Azure and Databricks chat; Gemini: see below)
    reasoning_content  the text in the assistant message's `reasoning_content` (DeepSeek, Kimi, GLM); on
                       a turn with tool calls always, empty if need be (DeepSeek and Kimi reject the turn
                       without it)
    reasoning          the text in `reasoning` (vLLM >= 0.16, Ollama: gpt-oss and other open weights)
    reasoning_details  OpenRouter's `reasoning_details`, as the provider sent them (encrypted parts and
                       signatures included), else the text in `reasoning`
    think_tags         `<think>…</think>` before the text (MiniMax M2 reads its thinking inline)

Only thinking this target signed (`signatures.target_tag`) goes back: after a model switch another model's
reasoning, or Anthropic's, means nothing to the provider and a foreign signature can make it refuse the
request. Gemini's thought signatures ride on the tool calls instead (`ids.read_carried`, `tool_call_extra`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claude_any.runtime.translate.signatures import read_signature

JSON = dict[str, Any]

# Google's documented stand-in for a thought signature on a function call the model did not write (history
# from another model): Gemini 3 refuses a function call without one in the current turn.
SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"


@dataclass(frozen=True, slots=True)
class Replay:
    """How one target takes its reasoning back (`mode`, one of capabilities.REASONING_REPLAYS), the tag of
    the thinking it wrote, and whether its tool calls carry thought signatures."""

    mode: str = "drop"
    tag: str = ""
    thought_signatures: bool = False

    def add(self, message: JSON, thinking: list[JSON], has_calls: bool) -> None:
        """Add the reasoning among `thinking` (an assistant turn's thinking blocks) that this target wrote to
        the OpenAI assistant `message`."""
        if self.mode == "drop":
            return
        own = [(block, signed) for block in thinking if (signed := read_signature(block.get("signature")))]
        own = [(block, signed) for block, signed in own if signed.tag == self.tag]
        text = "\n\n".join(t for block, _ in own if isinstance(t := block.get("thinking"), str) and t)
        if self.mode == "reasoning_content":
            if text or has_calls:
                message["reasoning_content"] = text
        elif self.mode == "reasoning_details":
            details = [d for _, signed in own for d in _details(signed.carried)]
            if details:
                message["reasoning_details"] = details
            elif text:
                message["reasoning"] = text
        elif self.mode == "think_tags":
            if text:
                thought = text.strip("\n")  # as MiniMax writes it: the tags on lines of their own
                message["content"] = f"<think>\n{thought}\n</think>\n\n{message.get('content') or ''}"
        elif text:  # "reasoning"
            message["reasoning"] = text


def _details(carried: Any) -> list[JSON]:
    details = carried.get("reasoning_details") if isinstance(carried, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def tool_call_extra(thought_signature: str) -> JSON:
    """The field Gemini's OpenAI endpoint reads a tool call's thought signature from."""
    return {"extra_content": {"google": {"thought_signature": thought_signature}}}


def thought_signature_of(call: Any) -> str | None:
    """The thought signature Gemini's OpenAI endpoint put on a tool call, if any."""
    extra = call.get("extra_content") if isinstance(call, dict) else None
    google = extra.get("google") if isinstance(extra, dict) else None
    value = google.get("thought_signature") if isinstance(google, dict) else None
    return value if isinstance(value, str) and value else None
