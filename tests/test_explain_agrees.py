"""`explain` cannot describe a request the runtime does not send.

For every example config and every target in it, the gateway is started from the same compiled table (fake
`${VAR}` values, every provider URL pointed at the fake provider) and serves the request `explain` describes;
what the fake provider receives - URL, headers, fixed body fields, and the parameter changes `explain`
announces (max_tokens field, reasoning effort, thinking dropped, stream usage, pass-through) - must be what
`explain` printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import responses_upstream
from loopback import DONE, FakeUpstream, Recorded, Reply

from claude_any import secrets
from claude_any.compiler import compile_config
from claude_any.explain import build_request, explain
from claude_any.table import RoutingTable

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
URL_SETTINGS = ("base_url", "endpoint", "host")
# Headers every request carries whatever the provider (the HTTP client's own); explain leaves them out.
TRANSPORT_HEADERS = {"host", "content-length", "content-type", "accept", "accept-encoding", "connection"}
TRANSPORT_HEADERS |= {"user-agent"}

SAMPLING = {"temperature": 0.5, "top_p": 0.9, "top_k": 5, "stop_sequences": ["###"]}
VARIANTS: dict[str, dict[str, Any]] = {
    "stream": {"stream": True},
    "sync": {"stream": False},
    "thinking-stream": {"stream": True, "thinking": True},
    "thinking-tools-sync": {"stream": False, "thinking": True, "tools": ("Bash",)},
    "sampling-stream": {"stream": True, "fields": SAMPLING},
}


def _table(example: str) -> RoutingTable:
    result = compile_config(str(ROOT / "examples" / f"{example}.yaml"))
    assert result.table is not None, [d.render() for d in result.diagnostics]
    return result.table


def _cases() -> list[tuple[str, str]]:
    return [(example, target) for example in EXAMPLES for target in sorted(_table(example).targets)]


def _pointed_at(table: RoutingTable, base: str) -> RoutingTable:
    """The table with every provider URL setting on the fake provider (its path kept)."""
    providers = {}
    for name, provider in table.providers.items():
        settings = dict(provider.settings)
        for key in URL_SETTINGS:
            if isinstance(settings.get(key), str):
                settings[key] = base + urlsplit(settings[key]).path
        providers[name] = replace(provider, settings=settings)
    return replace(table, providers=providers)


def _fake_env(table: RoutingTable) -> dict[str, str]:
    return {name: f"fake-{name.lower()}" for name in secrets.references(table.dumps())}


# --- what explain says -----------------------------------------------------------------------------------


@dataclass
class Described:
    """The first target of an explanation, as printed."""

    url: str | None = None  # None: no request leaves the gateway
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)


def _described(text: str) -> Described:
    section = text.split("\ntarget ", 1)[1].split("\nfallback ", 1)[0]
    out = Described()
    for line in section.splitlines():
        label, _, value = line.strip().partition(" ")
        value = value.strip()
        if label == "request" and value.startswith("POST "):
            out.url = value.removeprefix("POST ")
        elif label == "header":
            name, _, shown = value.partition(": ")
            out.headers[name.lower()] = shown
        elif label == "body":
            name, _, shown = value.partition(": ")
            out.body[name] = json.loads(shown)
        elif label == "change":
            out.changes.append(value)
    return out


def _announced(changes: list[str]) -> set[tuple[Any, ...]]:
    """The claims about the outgoing body in explain's `change` lines."""
    claims: set[tuple[Any, ...]] = set()
    for line in changes:
        if m := re.fullmatch(r"max_tokens -> (\w+): ([\d,]+).*", line):
            claims.add(("token field", m[1], int(m[2].replace(",", ""))))
        elif m := re.fullmatch(r"thinking/effort -> [\w.]+: (\"\w+\").*", line):
            claims.add(("effort", json.loads(m[1])))
        elif line.startswith("thinking dropped"):
            claims.add(("thinking dropped",))
        elif line.startswith("stream_options.include_usage: true"):
            claims.add(("stream usage",))
        elif line.startswith("request passed through unchanged"):
            claims.add(("passed through",))
        elif m := re.fullmatch(r"(temperature|top_p|top_k) dropped .*", line):
            claims.add(("dropped", m[1]))
    return claims


# --- what the provider got -------------------------------------------------------------------------------


def _observed(sent: Recorded, request: dict[str, Any]) -> set[tuple[Any, ...]]:
    """The same claims, read from the request the fake provider received."""
    body = sent.body
    if sent.path.endswith("/messages"):
        assert body == {**request, "model": body["model"]}, "a pass-through changed more than the model"
        return {("passed through",)}
    claims: set[tuple[Any, ...]] = set()
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        if name in body:
            claims.add(("token field", name, body[name]))
    effort = body.get("reasoning_effort") or (body.get("reasoning") or {}).get("effort")
    if effort is not None:
        claims.add(("effort", effort))
    elif "thinking" in request:
        claims.add(("thinking dropped",))
    if (body.get("stream_options") or {}).get("include_usage") is True:
        claims.add(("stream usage",))
    claims |= {
        ("dropped", name)
        for name in ("temperature", "top_p", "top_k")
        if name in request and name not in body
    }
    return claims


def _answer(recorded: Recorded) -> Reply:
    """A short answer in the dialect of the path asked."""
    stream = bool(isinstance(recorded.body, dict) and recorded.body.get("stream"))
    if recorded.path.endswith("/responses"):
        return responses_upstream.reply([responses_upstream.message("ok")], stream=stream)
    if recorded.path.endswith("/messages"):
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
        if not stream:
            return Reply(json=message)
        start = {**message, "content": [], "stop_reason": None}
        events = [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
            {"type": "message_stop"},
        ]
        return Reply(chunks=[f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events])
    if stream:
        chunk = {"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}
        return Reply(chunks=[chunk, DONE])
    message = {"role": "assistant", "content": "ok"}
    return Reply(json={"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})


@pytest.mark.parametrize(("example", "target_id"), _cases())
def test_explain_describes_what_the_provider_receives(
    example: str, target_id: str, upstream: FakeUpstream, gateway: Callable[..., str], tmp_path: Path
) -> None:
    table = _pointed_at(_table(example), upstream.url)
    env = _fake_env(table)
    url = gateway(table, env)
    token = secrets.resolve(table.server.auth_token, env) if table.server.auth_token else "unused"
    upstream.responder = _answer
    for variant, flags in VARIANTS.items():
        upstream.requests.clear()
        thinking, tools = bool(flags.get("thinking")), tuple(flags.get("tools", ()))
        request = build_request(
            target_id, thinking=thinking, image=False, tools=tools, stream=flags["stream"], request_file=None
        )
        request |= flags.get("fields", {})
        # explain reads the very body the gateway is sent
        written = tmp_path / f"{variant}.json"
        written.write_text(json.dumps(request), encoding="utf-8")
        text, routable = explain(table, model=target_id, source=example, request_file=str(written))
        assert routable
        said = _described(text)
        answer = httpx.post(f"{url}/v1/messages", json=request, headers={"x-api-key": token}, timeout=30)
        assert answer.status_code == 200, (variant, answer.text)
        where = f"{example} {target_id} {variant}"
        if said.url is None:
            assert upstream.requests == [], f"{where}: explain says no request leaves the gateway"
            continue
        (sent,) = upstream.requests
        wire_url = f"{upstream.url}{sent.raw_path}" + (f"?{sent.query}" if sent.query else "")
        assert secrets.resolve(said.url, env) == wire_url, where
        for name, shown in said.headers.items():
            assert secrets.resolve(shown, env) == sent.headers.get(name), f"{where}: header {name}"
        unexplained = set(sent.headers) - set(said.headers) - TRANSPORT_HEADERS
        assert not unexplained, f"{where}: headers explain does not show: {sorted(unexplained)}"
        for name, shown in said.body.items():
            assert sent.body.get(name) == secrets.resolve(shown, env), f"{where}: body {name}"
        assert _announced(said.changes) == _observed(sent, request), f"{where}: {said.changes}"
