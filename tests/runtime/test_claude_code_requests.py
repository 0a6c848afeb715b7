"""Every Claude Code request of tests/fixtures/claude-code through claude-any over real HTTP.

The upstream must receive a structurally valid OpenAI request and the client a valid Anthropic answer (SSE
grammar, and the official SDK's stream accumulator), for several provider kinds, with the headers Claude
Code sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopback import FIXTURES, FakeUpstream, make_table
from matrix_cases import KINDS, Answer, Call, Kind, Scenario, upstream_reply
from translate.sse_check import check_anthropic_sse, sdk_message
from translate.test_request_fixtures import check_openai_body

# Sent by the client but never meant for a server to see twice (or the client's credential).
_NOT_REPLAYED = {"x-api-key", "authorization", "host", "content-length", "connection", "accept-encoding"}


def _bodies() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("cc_*.json") if "headers" not in p.name)


def _client_headers() -> dict[str, str]:
    """The headers Claude Code sent with its first request, minus credentials and hop-by-hop ones."""
    captured = json.loads((FIXTURES / "cc_first_request_headers.json").read_text(encoding="utf-8"))
    return {k: str(v) for k, v in captured.items() if k.lower() not in _NOT_REPLAYED}


def _answer(request: dict[str, Any]) -> Answer:
    """Some text and a call of the first tool the request offers, as a real turn would have."""
    tools = [t for t in request.get("tools", []) if "input_schema" in t and not t.get("defer_loading")]
    calls = (Call("call_fixture_1", tools[0]["name"], {}),) if tools else ()
    return Answer(text="Looking into it.", calls=calls, prompt_tokens=9000, completion_tokens=25)


@pytest.mark.parametrize(
    "kind", [KINDS[k] for k in ("openai", "azure_deployment", "openai_compatible")], ids=lambda k: k.name
)
@pytest.mark.parametrize("path", _bodies(), ids=lambda p: p.stem)
def test_fixture_through_the_gateway(
    path: Path, kind: Kind, upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    request = json.loads(path.read_text(encoding="utf-8"))
    stream = request.get("stream") is True
    answer = _answer(request)
    provider = kind.provider(upstream.url)
    url = gateway(make_table([provider], [kind.target("large", provider), kind.target("small", provider)]))
    upstream.script(upstream_reply(kind, Scenario(path.stem, request, answer), stream))

    response = httpx.post(url + "/v1/messages?beta=true", json=request, headers=_client_headers(), timeout=10)

    assert response.status_code == 200, response.text[:500]
    (sent,) = upstream.requests
    check_openai_body(sent.body)
    assert sent.body["model"] == kind.model
    assert sent.body.get("stream", False) is stream
    if stream:
        assert sent.body["stream_options"] == {"include_usage": True}
    assert not [h for h in sent.headers if h.startswith(("anthropic", "x-claude-code", "x-stainless"))]

    if stream:
        assert response.headers["content-type"].startswith("text/event-stream")
        check_anthropic_sse(response.text)
        message = sdk_message(response.content).model_dump()
    else:
        message = response.json()
    assert message["type"] == "message" and message["model"] == request["model"]
    calls = [(b["name"], b["input"]) for b in message["content"] if b["type"] == "tool_use"]
    assert calls == [(call.name, call.input) for call in answer.calls]
    assert [b["text"] for b in message["content"] if b["type"] == "text"] == [answer.text]
    assert message["stop_reason"] == answer.stop_reason
    assert message["usage"]["output_tokens"] == answer.completion_tokens


@pytest.mark.parametrize("path", _bodies(), ids=lambda p: p.stem)
def test_fixture_token_count(path: Path, upstream: FakeUpstream, gateway: Callable[..., str]) -> None:
    kind = KINDS["openai"]
    provider = kind.provider(upstream.url)
    url = gateway(make_table([provider], [kind.target("large", provider), kind.target("small", provider)]))
    request = json.loads(path.read_text(encoding="utf-8"))
    counted = {key: request[key] for key in ("model", "messages", "system", "tools") if key in request}

    response = httpx.post(url + "/v1/messages/count_tokens?beta=true", json=counted, timeout=10)

    assert response.status_code == 200, response.text[:500]
    assert response.json()["input_tokens"] > 100
    assert upstream.requests == [], "counting is offline"
