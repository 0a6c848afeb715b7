"""`claude-any explain MODEL`: how one request would be routed, offline, from the same code the server runs.

The facts come from a real request body (`--request`) or from a sample request (by default a turn of Claude
Code as it really sends it, `--as` for others: sample_requests.py) with the flags applied; the rules are
traced with the runtime's evaluator; the parameter changes are what the runtime's translator really does to
that request for each target of the chain. Credentials are never resolved: headers show `${VAR}` or ***.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from claude_any import provider_templates
from claude_any.claude_code_settings import claude_code_settings
from claude_any.provider_kinds import ANTHROPIC, RESPONSES, UnknownKind, kind_named
from claude_any.provider_templates import TemplateError
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.route.facts import FACTS, Facts, facts_from_request
from claude_any.runtime.route.router import Decision, NoRoute, Router, RuleTrace
from claude_any.runtime.serve.client_limits import ClientLimits
from claude_any.runtime.translate.chat.request import to_openai
from claude_any.runtime.translate.context import Upstream
from claude_any.runtime.translate.responses.request import to_responses
from claude_any.sample_requests import DEFAULT_PRESET, sample_request
from claude_any.table import Provider, RetryPolicy, RoutingTable, Server, Target

FACTS_PER_LINE = 8  # the request facts, in their declared order, this many to a line


class ExplainError(Exception):
    """A flag or request file explain cannot use (message phrased for the user)."""


def build_request(
    model: str,
    *,
    thinking: bool,
    effort: str | None = None,
    image: bool,
    tools: Sequence[str],
    stream: bool,
    request_file: str | None,
    preset: str = DEFAULT_PRESET,
) -> dict[str, Any]:
    """The request to explain: the file's body with `model` replaced, or the preset's (sample_requests.py),
    with the flags applied."""
    if request_file:
        try:
            with open(request_file, encoding="utf-8") as fh:
                raw = json.load(fh)
        except OSError as exc:
            raise ExplainError(f"{request_file}: cannot read: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise ExplainError(f"{request_file}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
        except UnicodeDecodeError:
            raise ExplainError(f"{request_file}: not a JSON request (not UTF-8 text)") from None
        if not isinstance(raw, dict):
            raise ExplainError(f"{request_file}: expected an Anthropic Messages request (a JSON object)")
        loaded: dict[str, Any] = {**raw, "model": model}
        _overlay_flags(loaded, thinking=thinking, effort=effort, image=image, tools=tools)
        return loaded
    body, _ = sample_request(preset, model, stream=stream)
    _overlay_flags(body, thinking=thinking, effort=effort, image=image, tools=tools)
    return body


def _overlay_flags(
    body: dict[str, Any], *, thinking: bool, effort: str | None, image: bool, tools: Sequence[str]
) -> None:
    if thinking:
        body["thinking"] = {"type": "enabled", "budget_tokens": 16_000}
    if effort is not None:
        output_config = body.get("output_config")
        body["output_config"] = {
            **(output_config if isinstance(output_config, dict) else {}),
            "effort": effort,
        }
    if image:
        pixel = (
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
        )
        block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": pixel}}
        body["messages"] = [*body.get("messages", []), {"role": "user", "content": [block]}]
    if tools:
        offered = list(body.get("tools") or [])
        known = {t.get("name") for t in offered if isinstance(t, dict)}
        for name in tools:
            if name not in known:
                schema = {"type": "object", "properties": {}}
                offered.append({"name": name, "description": f"the {name} tool", "input_schema": schema})
        body["tools"] = offered


def parse_headers(pairs: Sequence[str]) -> dict[str, str]:
    """`K=V` flags as a header mapping (names lower-cased, as HTTP servers see them)."""
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ExplainError(f"--header {pair!r}: expected NAME=VALUE")
        headers[name.strip().lower()] = value
    return headers


def _show(value: Any) -> str:
    if isinstance(value, str):
        short = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(short, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        names = list(value)
        shown = names if len(names) <= 8 else [*names[:8], f"... {len(names) - 8} more"]
        return "[" + ", ".join(json.dumps(v) for v in shown) + "]"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def _facts_lines(facts: Facts) -> list[str]:
    out = ["request facts"]
    names = list(FACTS)
    for start in range(0, len(names), FACTS_PER_LINE):
        line = names[start : start + FACTS_PER_LINE]
        out.append("  " + "  ".join(f"{name} = {_show(facts.get(name))}" for name in line))
    return out


def _rule_lines(traces: list[RuleTrace], direct: bool) -> list[str]:
    out = [
        "rules, in order (first match wins)" + ("; not consulted: the model names a target" if direct else "")
    ]
    width = max((len(t.route.name) for t in traces), default=0)
    for t in traces:
        mark = "✓" if t.matched else "✗"
        if t.chosen and not direct:
            mark = "→"
        where = str(t.route.pos) if t.route.pos else "built-in"
        reads = ", ".join(f"{name} = {_show(value)}" for name, value in t.reads)
        verdict = "matches" if t.matched else "no match"
        out.append(f"  {mark} {t.route.name:<{width}}  {t.route.source}")
        out.append(
            f"      {verdict}{' (' + reads + ')' if reads else ''}  [{where}]  -> {', '.join(t.route.chain)}"
        )
    return out


def _changes(body: dict[str, Any], target: Target, request: Mapping[str, Any], kind: str) -> list[str]:
    """What the runtime does to this request for this target, in words: the translator's changes (run on
    the request), or that it is passed through or answered in-process."""
    if request["in_process"]:
        return ["request answered in-process"]
    if request["protocol"] == ANTHROPIC:
        replaced = " (model replaced)" if "model" in request["body"] else ""
        return [f"request passed through unchanged{replaced}"]
    up = Upstream(model=target.model, capabilities=target.capabilities, params=target.params, kind=kind)
    responses = request["protocol"] == RESPONSES
    translate = to_responses if responses else to_openai
    try:
        sent, _ = translate(body, up, estimated_input_tokens=0)
    except AnthropicError as exc:
        return [f"the request would be refused: {exc.status} {exc.type}: {exc.message}"]
    caps = target.capabilities
    out: list[str] = []
    asked = body.get("max_tokens")
    for field in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        if field in sent:
            note = ""
            if isinstance(asked, int) and sent[field] != asked:
                cap = caps.get("max_output")
                note = (
                    f" (clamped from {asked:,}; model output limit {cap:,})" if cap else f" (from {asked:,})"
                )
            out.append(f"max_tokens -> {field}: {sent[field]:,}{note}")
    thinking = body.get("thinking")
    effort = sent.get("reasoning", {}).get("effort") if responses else sent.get("reasoning_effort")
    if effort is not None:
        field = "reasoning.effort" if responses else "reasoning_effort"
        why = ""
        if (
            effort == "none"
            and not responses
            and caps.get("tools_effort") == "none_only"
            and sent.get("tools")
        ):
            why = (
                " (with tools, Chat Completions takes no reasoning on this model; `api: responses` keeps it)"
            )
        out.append(f"thinking/effort -> {field}: {json.dumps(effort)}{why}")
    elif isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        out.append("thinking dropped: the model takes no reasoning_effort")
    for field in ("temperature", "top_p"):
        if field in body and field not in sent:
            out.append(f"{field} dropped (reasoning model)")
    if "top_k" in body:
        out.append("top_k dropped (OpenAI has none)")
    offered = body.get("tools") or []
    sent_tools = sent.get("tools") or []
    if len(sent_tools) != len(offered):
        out.append(f"tools: {len(sent_tools)} of {len(offered)} sent (server and deferred tools dropped)")
    renamed = [
        f"{t.get('name')} -> {_tool_name(s)}"
        for t, s in zip([t for t in offered if isinstance(t, dict)], sent_tools, strict=False)
        if t.get("name") != _tool_name(s)
    ]
    if renamed:
        out.append("tool names mapped: " + ", ".join(renamed))
    if body.get("stream") and "stream_options" in sent:
        out.append("stream_options.include_usage: true (usage on streams)")
    if "response_format" in sent:
        out.append("output_config.format -> response_format json_schema")
    if "text" in sent:
        out.append("output_config.format -> text.format json_schema")
    if responses and body.get("stop_sequences"):
        out.append("stop_sequences enforced by the gateway (the Responses API has no stop)")
    params = {k: v for k, v in target.params.items() if v not in (None, {}, [])}
    if params:
        out.append("target params: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items())))
    return out or ["no parameter changes"]


def _tool_name(sent_tool: dict[str, Any]) -> Any:
    """The upstream name of a translated tool (Responses tools are flat, chat tools nest a function)."""
    return sent_tool["name"] if "name" in sent_tool else sent_tool["function"]["name"]


def _api(provider: Provider, target: Target, request: Mapping[str, Any]) -> str:
    """`api X` for the API a target uses, saying why when it was not simply configured."""
    kind = kind_named(provider.kind)
    if request["in_process"]:
        return "answered in-process"
    if request["protocol"] == ANTHROPIC and kind.protocol is None and kind.anthropic_models:
        return f"api anthropic (pass-through: {kind.anthropic_models}* models are served natively)"
    if request["protocol"] == ANTHROPIC:
        return "api anthropic (pass-through)"
    if request["api"] != provider.api and request["api"] == RESPONSES:
        return f"api responses (automatic: {target.base_model} is Responses-only)"
    return f"api {request['api']}"


def _limits(target: Target) -> str:
    caps = target.capabilities
    parts = [f"family {caps.get('family')}"]
    if caps.get("context"):
        parts.append(f"context {caps['context']:,}")
    if caps.get("max_output"):
        parts.append(f"max output {caps['max_output']:,}")
    if caps.get("efforts"):
        parts.append("efforts " + "/".join(caps["efforts"]))
    if caps.get("reasoning"):
        parts.append("reasoning model")
    if caps.get("responses_only"):
        parts.append("Responses API only")
    return ", ".join(parts)


def _target_lines(
    router: Router, table: RoutingTable, target_id: str, role: str, body: dict[str, Any]
) -> list[str]:
    try:
        target = table.targets.get(target_id) or router.ad_hoc_target(target_id)
        provider: Provider = table.providers[target.provider]
        request = provider_templates.describe(provider, target)
    except (TemplateError, UnknownKind) as exc:
        raise ExplainError(f"{target_id}: the gateway cannot call this target: {exc}") from None
    out = [f"{role} {target_id}"]
    out.append(f"  provider   {provider.name} (kind {provider.kind}, {_api(provider, target, request)})")
    base = f" (capabilities of {target.base_model})" if target.base_model != target.model else ""
    out.append(f"  model      {target.model}{base}")
    out.append(f"  limits     {_limits(target)}")
    if request["in_process"]:
        out.append(f"  request    none: the {provider.kind} provider answers in-process")
    else:
        out.append(f"  request    {request['method']} {request['url']}")
        for name, value in sorted(request["headers"].items()):
            out.append(f"  header     {name}: {value}")
        auth = kind_named(provider.kind).auth_for(provider.settings)
        if auth is not None and auth.identity is not None:
            out.append(f"  auth       {auth.description} (as Authorization: Bearer, fetched at run time)")
        for name, value in sorted(request["body"].items()):
            out.append(f"  body       {name}: {json.dumps(value)}")
    for line in _changes(body, target, request, provider.kind):
        out.append(f"  change     {line}")
    settings = claude_code_settings([target])
    if settings:
        out.append("  Claude Code: this target is smaller than Claude; start Claude Code with")
        out.append("             " + " ".join(f"{name}={value}" for name, value in settings.items()))
    return out


def _resilience_lines(table: RoutingTable, decision: Decision) -> list[str]:
    """The retry policy that applies to this request (and where it comes from) and the timeouts."""
    override = decision.route.retry if decision.route is not None else None
    policy = override or table.retry
    if override is not None and decision.route is not None:
        origin = f"{decision.route.name}.retry"
    else:
        origin = "defaults" if table.retry == RetryPolicy() else "retry:"
    t, server = table.timeouts, table.server
    origins = ", ".join(server.allowed_origins) or "none (requests from web pages are refused)"
    return [
        f"retry:  up to {policy.attempts} tries per target, backoff {policy.initial_backoff_ms} ms doubling "
        f"to {policy.max_backoff_ms} ms (or the provider's Retry-After), budget {policy.budget_s:g} s "
        f"[{origin}]",
        f"timeouts: connect {t.connect_s:g} s, first byte {t.first_byte_s:g} s, idle {t.idle_s:g} s, "
        f"keep-alive ping every {t.ping_s:g} s, client write {t.client_write_s:g} s",
        f"clients:  request headers within {ClientLimits.header_s:g} s, up to {server.max_connections} "
        f"connections, bodies up to {server.max_body_mb} MB, web origins: {origins}",
        f"inbound:  {_inbound(server)}",
    ]


def _inbound(server: Server) -> str:
    """Which tokens the server accepts, by name (never a value)."""
    kinds = ["the shared server.auth_token"] if server.auth_token is not None else []
    if server.tokens:
        kinds.append("server.tokens of " + ", ".join(entry.name for entry in server.tokens))
    return " and ".join(kinds) if kinds else "no token (loopback only)"


def explain(
    table: RoutingTable,
    *,
    model: str,
    source: str,
    tokens: int | None = None,
    thinking: bool = False,
    effort: str | None = None,
    image: bool = False,
    tools: Sequence[str] = (),
    headers: Sequence[str] = (),
    request_file: str | None = None,
    stream: bool = True,
    preset: str = DEFAULT_PRESET,
) -> tuple[str, bool]:
    """The explanation text and whether the model is routable (the CLI exits 0 or 2 on it)."""
    body = build_request(
        model,
        thinking=thinking,
        effort=effort,
        image=image,
        tools=tools,
        stream=stream,
        request_file=request_file,
        preset=preset,
    )
    sample_headers = {} if request_file else sample_request(preset, model, stream=stream)[1]
    header_map: Mapping[str, str] = sample_headers | parse_headers(headers)
    router = Router(table)
    facts = facts_from_request(body, header_map)
    if tokens is not None:
        facts.__dict__["tokens"] = (
            tokens  # an explicit --tokens wins over the estimate (cached_property slot)
        )
    shown = f"request from {request_file}" if request_file else f"request: --as {preset}"
    lines = [f"claude-any explain {model}   (routes from {source}; {shown})", ""]
    lines += _facts_lines(facts)
    lines.append("")
    try:
        decision: Decision | None = router.decide(facts)
    except NoRoute as exc:
        decision = None
        failure = str(exc)
    traces = router.trace(facts)
    lines += _rule_lines(traces, direct=decision is not None and decision.route is None)
    lines.append("")
    if decision is None:
        lines.append(f"not routable: {failure}")
        return "\n".join(lines), False
    chain = decision.chain
    lines.append(f"chosen: {decision.reason}")
    lines.append(
        "chain:  " + " -> ".join(chain) + ("   (later ones are fallbacks)" if len(chain) > 1 else "")
    )
    lines += _resilience_lines(table, decision)
    for i, target_id in enumerate(chain):
        lines.append("")
        lines += _target_lines(router, table, target_id, "target" if i == 0 else "fallback", body)
    return "\n".join(lines), True
