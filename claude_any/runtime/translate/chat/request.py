"""Anthropic Messages request -> OpenAI Chat Completions request body (docs/PROTOCOL.md).

`to_openai` runs on every request, so it builds new small dicts around the client's strings and never
deep-copies or re-encodes the (often 50 KB+) body. What the target accepts comes from its capabilities
(capabilities.py, overridable per target in the config); what the user configured for the target
(`params`: reasoning_effort, max_tokens, temperature) wins over what the request asked for.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from claude_any.capabilities import EFFORT_ORDER, REASONING_REPLAYS
from claude_any.runtime.errors import invalid_request, json_type
from claude_any.runtime.route.tokens import estimate
from claude_any.runtime.translate.chat.messages import bad, messages_to_openai
from claude_any.runtime.translate.context import Context, Upstream
from claude_any.runtime.translate.replay import Replay
from claude_any.runtime.translate.request_checks import check_thinking, refuse_unhonourable
from claude_any.runtime.translate.signatures import target_tag
from claude_any.runtime.translate.structured_output import structured_output
from claude_any.runtime.translate.tools import ToolNameMap, tool_choice_to_openai, tools_to_openai

log = logging.getLogger(__name__)

JSON = dict[str, Any]

MAX_UPSTREAM_STOP = 4  # OpenAI's limit on `stop`; the rest is enforced on the output text

# Thinking budgets -> effort: Claude Code's "think" (4k) is low, "think hard" (10k) medium, more is high.
_BUDGET_LOW = 4_096
_BUDGET_MEDIUM = 16_384


def to_openai(
    body: Any,
    up: Upstream,
    *,
    estimated_input_tokens: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[JSON, Context]:
    """The Chat Completions body for `body` sent to `up`, and the per-request Context.

    Unknown fields and block types are ignored (logged); input of the wrong JSON type, a field the gateway
    cannot honour and a `thinking` Anthropic would refuse raise AnthropicError(400, "invalid_request_error")
    naming the field. Pass `estimated_input_tokens` when the caller already has `tokens.estimate(body)`
    (the router's `tokens` fact): the estimate costs more than the translation itself. `headers` are the
    client's (the session id keys the prompt cache, `anthropic-beta` may allow a larger thinking budget).
    """
    model, messages, stream = core_fields(body)
    check_thinking(body, headers)
    caps = up.capabilities
    params = up.params
    names = ToolNameMap()

    out: JSON = {"model": up.model}
    out["messages"] = messages_to_openai(
        body.get("system"), messages, caps=caps, names=names, replay=replay_for(up)
    )
    has_tools = _add_tools(out, body, caps, names)
    _add_max_tokens(out, body, caps, params)
    effort = choose_effort(body, caps, params, has_tools)
    if effort is not None:
        out["reasoning_effort"] = effort
    add_sampling(out, body, caps, params, effort)
    sent_stops, held_stops = _add_stop(out, body, caps)
    _add_response_format(out, body, caps)
    add_user(out, body)
    add_cache_key(out, caps, headers)
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    # params.body is not merged here: provider_templates renders it (Jinja, ${VAR}) into the prepared
    # request's body extras, which upstream.py lays over this body, so the user's fields win there.

    ctx = Context(
        requested_model=model,
        stream=stream,
        tool_names=names,
        estimated_input_tokens=estimate(body) if estimated_input_tokens is None else estimated_input_tokens,
        stop_sequences=held_stops,
        sent_stops=sent_stops,
        signer=target_tag(up.kind, up.model),
    )
    return out, ctx


# --- field helpers ------------------------------------------------------------------------------------


def core_fields(body: Any) -> tuple[str, list[Any], bool]:
    """(model, messages, stream) of a Messages request, checked first by every dialect's translation.

    Raises AnthropicError(400) when `body` is not an object or one of these has the wrong JSON type.
    """
    if not isinstance(body, dict):
        raise invalid_request("request body: expected a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model", "field required (a non-empty string)")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad("messages", "field required (a list)" if messages is None else "expected a list")
    refuse_unhonourable(body)
    return model, messages, typed_field(body, "stream", bool, False)


def typed_field(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """`body[key]` when present and of `kind` (bools are not numbers here), else a 400 naming the key."""
    value = body.get(key)
    if value is None:
        return default
    is_bool = isinstance(value, bool)
    wants_bool = kind is bool or (isinstance(kind, tuple) and bool in kind)
    if not isinstance(value, kind) or (is_bool and not wants_bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise bad(key, f"expected {names}, got {json_type(value)}")
    return value


def replay_for(up: Upstream) -> Replay:
    """How `up` takes its own reasoning back on the next turn (capabilities `reasoning_replay`)."""
    caps = up.capabilities
    mode = caps.get("reasoning_replay")
    return Replay(
        mode=mode if mode in REASONING_REPLAYS else "drop",
        tag=target_tag(up.kind, up.model),
        thought_signatures=caps.get("thought_signatures") is True,
    )


def _add_tools(out: JSON, body: Mapping[str, Any], caps: Mapping[str, Any], names: ToolNameMap) -> bool:
    raw = typed_field(body, "tools", list, [])
    tools = tools_to_openai(raw, names, dialect=str(caps.get("schema_dialect") or "openai"))
    if not tools:  # OpenAI rejects tool_choice / parallel_tool_calls without tools
        return False
    out["tools"] = tools
    choice = typed_field(body, "tool_choice", dict)
    if choice is not None:
        sent = {t["function"]["name"] for t in tools}
        out["tool_choice"] = tool_choice_to_openai(choice, names, sent)
        if choice.get("disable_parallel_tool_use") is True and caps.get("parallel_tool_calls") != "omit":
            out["parallel_tool_calls"] = False
    return True


def _add_max_tokens(
    out: JSON, body: Mapping[str, Any], caps: Mapping[str, Any], params: Mapping[str, Any]
) -> None:
    limit = token_limit(body, caps, params)
    if limit is not None:
        out[caps.get("token_param") or "max_tokens"] = limit


def token_limit(body: Mapping[str, Any], caps: Mapping[str, Any], params: Mapping[str, Any]) -> int | None:
    """The output token limit to send: the request's max_tokens clamped to the model's and the target's."""
    requested = typed_field(body, "max_tokens", int)
    limits = [n for n in (caps.get("max_output"), params.get("max_tokens")) if isinstance(n, int) and n > 0]
    if requested is not None:
        limits.append(max(requested, 1))  # 0 means "pre-warm the cache" to Anthropic; upstreams want >= 1
    return min(limits) if limits else None


def nearest_effort(requested: str, accepted: list[str]) -> str | None:
    """`requested` if accepted, else the nearest accepted value (ties go up: more effort, not less)."""
    if requested in accepted:
        return requested
    order = {name: i for i, name in enumerate(EFFORT_ORDER)}
    if requested not in order:
        return None
    want = order[requested]
    ranked = sorted((a for a in accepted if a in order), key=lambda a: (abs(order[a] - want), -order[a]))
    return ranked[0] if ranked else None


def _requested_effort(body: Mapping[str, Any], caps: Mapping[str, Any]) -> str | None:
    """The effort the client's `thinking` / `output_config` asks for, before fitting it to the model."""
    thinking = typed_field(body, "thinking", dict, {})
    config = typed_field(body, "output_config", dict, {})
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        budget = budget if isinstance(budget, int) and not isinstance(budget, bool) else _BUDGET_MEDIUM
        return "low" if budget < _BUDGET_LOW else "medium" if budget < _BUDGET_MEDIUM else "high"
    if kind == "adaptive" and isinstance(config.get("effort"), str):
        return str(config["effort"])
    if kind == "disabled":  # an explicit "do not think": the least the model accepts
        efforts = caps.get("efforts") or []
        return str(efforts[0]) if efforts else None
    default = caps.get("default_effort")
    return str(default) if default else None


def choose_effort(
    body: Mapping[str, Any], caps: Mapping[str, Any], params: Mapping[str, Any], has_tools: bool
) -> str | None:
    """The reasoning_effort to send, or None to leave the field out."""
    accepted = list(caps.get("efforts") or [])
    configured = params.get("reasoning_effort")
    if isinstance(configured, str) and configured:
        effort: str | None = configured
    elif accepted:
        requested = _requested_effort(body, caps)
        effort = nearest_effort(requested, accepted) if requested else None
    else:
        return None
    if has_tools and caps.get("tools_effort") == "none_only" and effort != "none":
        # gpt-5.4+ on /chat/completions: function tools are rejected with any other effort (MODELS.md F5).
        # Debug level: Claude Code always sends tools, so this happens on every request to such a model.
        log.debug(
            "reasoning_effort %r replaced by 'none': this model takes tools only without reasoning", effort
        )
        effort = "none"
    return effort


def add_sampling(
    out: JSON, body: Mapping[str, Any], caps: Mapping[str, Any], params: Mapping[str, Any], effort: str | None
) -> None:
    sampling = caps.get("sampling", "ok")
    effective = effort if effort is not None else caps.get("default_effort")
    if sampling == "ok" or (sampling == "only_at_none" and effective == "none"):
        for key in ("temperature", "top_p"):
            value = typed_field(body, key, (int, float))
            if value is not None:
                out[key] = value
    if params.get("temperature") is not None:
        out["temperature"] = params["temperature"]


def _add_stop(
    out: JSON, body: Mapping[str, Any], caps: Mapping[str, Any]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sets `stop`; returns the sequences sent, and those left for the output side to enforce."""
    raw = typed_field(body, "stop_sequences", list, [])
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise bad(f"stop_sequences.{i}", f"expected a string, got {json_type(item)}")
    sequences = [s for s in raw if s]
    sent = [] if caps.get("stop") == "drop" else sequences[:MAX_UPSTREAM_STOP]
    if sent:
        out["stop"] = sent
    return tuple(sent), tuple(sequences[len(sent) :])


def _add_response_format(out: JSON, body: Mapping[str, Any], caps: Mapping[str, Any]) -> None:
    typed_field(body, "output_config", dict)
    found = structured_output(body, str(caps.get("schema_dialect") or "openai"))
    if found is not None:
        schema, strict = found
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": strict},
        }


def add_cache_key(out: JSON, caps: Mapping[str, Any], headers: Mapping[str, str] | None) -> None:
    """`prompt_cache_key` from Claude Code's session (and subagent) id, where the provider takes it: it
    routes a session's requests to a server that has its prompt prefix cached. Hashed: the id is the
    client's, not the provider's to see."""
    session = (headers or {}).get("x-claude-code-session-id")
    if caps.get("prompt_cache_key") is True and session:
        agent = (headers or {}).get("x-claude-code-agent-id") or ""
        digest = hashlib.sha256(f"{session}\0{agent}".encode()).hexdigest()[:32]
        out["prompt_cache_key"] = "ca-" + digest


def add_user(out: JSON, body: Mapping[str, Any]) -> None:
    user_id = typed_field(body, "metadata", dict, {}).get("user_id")
    if isinstance(user_id, str) and user_id:
        # Claude Code's id is long and personal; a short stable hash still groups a user's requests.
        out["user"] = "ca-" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:16]
