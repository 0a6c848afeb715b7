"""What a request must not be silently degraded for: fields the gateway cannot honour, and `thinking`
configurations Anthropic itself refuses. Both are a 400 with Anthropic's wording, naming the field.

Fields of the Messages API that an OpenAI-style provider cannot do, decided one by one (docs/DECISIONS.md):

    thread          refused: the conversation lives on Anthropic's servers; the provider would get a lone
                    tool result with no history and no tools
    mcp_servers     refused: the MCP connector calls the servers from Anthropic's side
    inference_geo   refused unless "global": the gateway cannot keep inference in a region
    context_management, container, cache_control, service_tier, speed, top_k, citations
                    ignored: each only saves cost or tunes sampling or presentation; the answer itself is
                    still what was asked for (context edits only remove history, the server tools
                    a container serves are refused in tools.py)

Unknown fields are ignored (a newer Claude Code's fields must not break it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claude_any.runtime.errors import invalid_request

MIN_THINKING_BUDGET = 1_024
# With interleaved thinking (a beta Claude Code sends) the budget may exceed max_tokens (Anthropic's docs).
_INTERLEAVED_BETA = "interleaved-thinking"
_THINKING_TYPES = ("enabled", "disabled", "adaptive")
_BUDGET_DOCS = (
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
)


def refuse_unhonourable(body: Mapping[str, Any]) -> None:
    """Raise a 400 naming the first field of `body` the gateway cannot honour (see the module docstring)."""
    if body.get("thread") is not None:
        raise invalid_request(
            "thread: server-side threads are not supported by this gateway (its providers keep no "
            "conversation, so the history would be lost); send the whole conversation in `messages`"
        )
    if body.get("mcp_servers"):
        raise invalid_request(
            "mcp_servers: the MCP connector is not supported by this gateway (its providers cannot call "
            "MCP servers); connect the servers in the client and pass their tools in `tools`"
        )
    geo = body.get("inference_geo")
    if geo is not None and geo != "global":
        raise invalid_request(
            f"inference_geo: {geo!r} is not supported by this gateway (it cannot keep inference in a "
            "region; the provider is chosen by its configuration)"
        )


def check_thinking(body: Mapping[str, Any], headers: Mapping[str, str] | None) -> None:
    """Raise the 400 Anthropic gives for a `thinking` configuration it refuses: no `type`, an unknown one,
    a budget that is missing, not an integer, under 1,024, or not below `max_tokens`."""
    thinking = body.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, dict):
        raise invalid_request("thinking: Input should be a valid dictionary or object")
    kind = thinking.get("type")
    if kind is None:
        raise invalid_request("thinking: Unable to extract tag using discriminator 'type'")
    if kind not in _THINKING_TYPES:
        expected = ", ".join(f"'{t}'" for t in _THINKING_TYPES)
        raise invalid_request(
            f"thinking: Input tag {_quoted(kind)} found using 'type' does not match any of the expected "
            f"tags: {expected}"
        )
    if kind != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if budget is None:
        raise invalid_request("thinking.enabled.budget_tokens: Field required")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise invalid_request("thinking.enabled.budget_tokens: Input should be a valid integer")
    if budget < MIN_THINKING_BUDGET:
        raise invalid_request(
            f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}"
        )
    max_tokens = body.get("max_tokens")
    interleaved = _INTERLEAVED_BETA in ((headers or {}).get("anthropic-beta") or "")
    if isinstance(max_tokens, int) and budget >= max_tokens and not interleaved:
        raise invalid_request(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation "
            f"at {_BUDGET_DOCS}"
        )


def _quoted(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)
