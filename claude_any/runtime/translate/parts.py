"""Reading reasoning and text out of an OpenAI message or stream delta, in every dialect we have met.

Reasoning rides in `reasoning_content` (DeepSeek, older vLLM, most gateways), `reasoning` (OpenRouter,
newer vLLM, Ollama) or, on Databricks, in a list-form `content` with `{"type": "reasoning", "summary":
[{"type": "summary_text", "text", "signature"}]}` parts. Text is `content` (a string or a list of parts)
or, when the model declined, `refusal`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

# Our own thinking signatures: opaque to the client, which stores and replays them; only we read them.
SIGNATURE_PREFIX = "ca1."


def signature_of(digest: Any) -> str:
    """The signature for thinking text whose sha256 object is `digest` (the stream hashes incrementally)."""
    return SIGNATURE_PREFIX + str(digest.hexdigest()[:32])


def signature(thinking: str) -> str:
    """The signature `signature_of` gives for the complete thinking text."""
    return signature_of(hashlib.sha256(thinking.encode("utf-8")))


@dataclass(slots=True)
class Parts:
    """What one message or delta carries, before block bookkeeping."""

    reasoning: str = ""
    text: str = ""
    signature: str = ""  # a provider-issued reasoning signature (Databricks), kept as given


def read_parts(message: dict[str, Any]) -> Parts:
    """Reasoning, text and any provider signature of an OpenAI `message` or streaming `delta`."""
    parts = Parts()
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            parts.reasoning = value
            break
    content = message.get("content")
    if isinstance(content, str):
        parts.text = content
    elif isinstance(content, list):
        _read_list(content, parts)
    if not parts.text:
        refusal = message.get("refusal")
        if isinstance(refusal, str):
            parts.text = refusal
    return parts


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
    parts.text = "".join(text)
    parts.reasoning = "".join(reasoning)
