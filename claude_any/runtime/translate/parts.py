"""Reading reasoning and text out of an OpenAI message or stream delta, in every dialect we have met.

Reasoning rides in `reasoning_content` (DeepSeek, Kimi, GLM, older vLLM, most gateways), `reasoning`
(OpenRouter, newer vLLM, Ollama), OpenRouter's structured `reasoning_details` (text, summaries, encrypted
data; kept whole to be handed back on the next turn) or, on Databricks, in a list-form `content` with
`{"type": "reasoning", "summary": [{"type": "summary_text", "text", "signature"}]}` parts. Text is `content`
(a string or a list of parts) or, when the model declined, `refusal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Text-bearing fields of OpenRouter's reasoning details, by detail type (the rest are opaque data).
_DETAIL_TEXT = {"reasoning.text": "text", "reasoning.summary": "summary"}
# Fields whose fragments a stream sends in pieces, to be joined; the others are whole in one fragment.
_DETAIL_JOINED = ("text", "summary", "data")


@dataclass(slots=True)
class Parts:
    """What one message or delta carries, before block bookkeeping."""

    reasoning: str = ""
    text: str = ""
    signature: str = ""  # a provider-issued reasoning signature (Databricks), kept as given
    refusal: bool = False  # the text is the model's refusal (OpenAI's `refusal` field)
    details: list[dict[str, Any]] = field(default_factory=list)  # OpenRouter's reasoning_details, as sent


def read_parts(message: dict[str, Any]) -> Parts:
    """Reasoning, text and any provider signature of an OpenAI `message` or streaming `delta`."""
    parts = Parts()
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            parts.reasoning = value
            break
    details = message.get("reasoning_details")
    if isinstance(details, list):
        parts.details = [d for d in details if isinstance(d, dict)]
        if not parts.reasoning:
            parts.reasoning = _details_text(parts.details)
    content = message.get("content")
    if isinstance(content, str):
        parts.text = content
    elif isinstance(content, list):
        _read_list(content, parts)
    if not parts.text:
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal:
            parts.text = refusal
            parts.refusal = True
    return parts


def _details_text(details: list[dict[str, Any]]) -> str:
    """The readable reasoning in OpenRouter's details (for a server that sent no `reasoning` string)."""
    texts = [d.get(_DETAIL_TEXT.get(str(d.get("type")), "")) for d in details]
    return "".join(t for t in texts if isinstance(t, str))


def merge_details(into: list[dict[str, Any]], fragments: list[dict[str, Any]]) -> None:
    """Add streamed reasoning-detail `fragments` to `into`: a fragment with the `index` of a detail already
    there continues it (its text joined on, its other fields set), any other is a new detail."""
    for fragment in fragments:
        index = fragment.get("index")
        known = next((d for d in into if index is not None and d.get("index") == index), None)
        if known is None:
            into.append(dict(fragment))
            continue
        for key, value in fragment.items():
            if key in _DETAIL_JOINED and isinstance(value, str) and isinstance(known.get(key), str):
                known[key] += value
            elif value is not None and value != "":
                known[key] = value


def _read_list(content: list[Any], parts: Parts) -> None:
    text: list[str] = []
    reasoning: list[str] = [parts.reasoning] if parts.reasoning else []
    for item in content:
        if isinstance(item, str):
            text.append(item)
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "reasoning":
            for summary in item.get("summary") or []:
                if isinstance(summary, dict):
                    if isinstance(summary.get("text"), str):
                        reasoning.append(summary["text"])
                    if isinstance(summary.get("signature"), str) and summary["signature"]:
                        parts.signature = summary["signature"]
        elif kind in ("text", "output_text", None) and isinstance(item.get("text"), str):
            text.append(item["text"])
        elif kind == "refusal" and isinstance(item.get("refusal"), str):
            text.append(item["refusal"])
            parts.refusal = True
    parts.text = "".join(text)
    parts.reasoning = "".join(reasoning)
