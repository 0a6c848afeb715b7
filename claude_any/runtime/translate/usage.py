"""Token usage and stop reasons: OpenAI's accounting mapped onto Anthropic's (docs/PROTOCOL.md)."""

from __future__ import annotations

from typing import Any

# Stop reasons with a fixed mapping; everything else (stop, eos, null, unknown) is a natural end.
_FINISH_TO_STOP = {
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}


def stop_reason(
    finish_reason: str | None, *, has_tool_use: bool, stop_sequence_hit: bool = False, refusal: bool = False
) -> str:
    """Anthropic `stop_reason` for an OpenAI `finish_reason`.

    A stop sequence (enforced by the gateway, or named by the provider) wins: the upstream only said
    `stop`. Any emitted tool call means `tool_use` even when the upstream said `stop` (Ollama, sometimes
    gpt-4o), except for truncation and filtering, which the client must learn about. An answer that is the
    model's `refusal` is a refusal, as Anthropic reports its own.
    """
    if stop_sequence_hit:
        return "stop_sequence"
    mapped = _FINISH_TO_STOP.get(finish_reason or "")
    if mapped is not None:
        return mapped
    if refusal:
        return "refusal"
    return "tool_use" if has_tool_use else "end_turn"


def matched_stop(choice: dict[str, Any], sent: tuple[str, ...]) -> str | None:
    """The stop sequence a provider says it stopped at: vLLM's `stop_reason`, SGLang's `matched_stop` (both
    also hold token ids), when it is one the request sent."""
    for key in ("stop_reason", "matched_stop"):
        value = choice.get(key)
        if isinstance(value, str) and value in sent:
            return value
    return None


def _int(value: Any) -> int:
    # Providers send null, floats or (rarely) strings; the client needs non-negative ints.
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


def map_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage from an OpenAI `usage` object.

    `prompt_tokens` includes cached tokens; moving them to `cache_read_input_tokens` keeps Claude Code's
    sum (input + cache read + cache creation), which drives auto-compaction, equal to the real prompt size.
    """
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    prompt = _int(usage.get("prompt_tokens"))
    # OpenAI's (and vLLM's, GLM's, OpenRouter's) details, Kimi's top-level count, DeepSeek's hit count.
    cache_read = _int(
        details.get("cached_tokens")
        or usage.get("cached_tokens")
        or usage.get("prompt_cache_hit_tokens")
        or usage.get("cache_read_input_tokens")
    )
    cache_write = _int(
        details.get("cache_write_tokens")
        or details.get("cache_creation_tokens")
        or usage.get("cache_creation_input_tokens")
    )
    out: dict[str, Any] = {
        "input_tokens": max(prompt - cache_read - cache_write, 0),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": _int(usage.get("completion_tokens")),
    }
    completion_details = usage.get("completion_tokens_details")
    if isinstance(completion_details, dict):
        thinking = _int(completion_details.get("reasoning_tokens"))
        if thinking:
            out["output_tokens_details"] = {"thinking_tokens": thinking}
    return out


def estimated_usage(input_tokens: int, output_chars: int) -> dict[str, Any]:
    """Usage when the provider sent none: the request-side estimate and ~4 characters per output token.

    Never all zeros: Claude Code decides when to compact from these numbers.
    """
    return {
        "input_tokens": max(input_tokens, 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": (output_chars + 3) // 4,
    }


def metered(upstream: Any, output_chars: int) -> bool:
    """True when `final_usage` reports the provider's own counts, False when it fills in an estimate (no
    usage sent, or zeros where there were tokens): the ledger keeps the difference."""
    if not isinstance(upstream, dict) or not upstream:
        return False
    usage = map_usage(upstream)
    prompt = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    return prompt > 0 and (usage["output_tokens"] > 0 or not output_chars)


def final_usage(upstream: Any, estimated_input: int, output_chars: int) -> dict[str, Any]:
    """The usage to report: the provider's when it sent any, with estimates filling in its zeros."""
    if not isinstance(upstream, dict) or not upstream:
        return estimated_usage(estimated_input, output_chars)
    usage = map_usage(upstream)
    # Some OpenAI-compatible servers send an all-zero usage object; that would stall auto-compaction.
    prompt = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    if prompt == 0:
        usage["input_tokens"] = max(estimated_input, 0)
    if usage["output_tokens"] == 0 and output_chars:
        usage["output_tokens"] = (output_chars + 3) // 4
    return usage
