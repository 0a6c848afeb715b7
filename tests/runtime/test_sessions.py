"""Per-session summaries (`runtime/serve/sessions.py`) and `GET /v1/claude-any/sessions/{id}`: what answered a
Claude Code session, its tokens, cache reads and cost, over real HTTP against the fake provider."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from loopback import DONE, FakeUpstream, Reply, make_table, openai_provider, target

from claude_any.runtime.serve.access_log import RequestLog
from claude_any.runtime.serve.sessions import MAX_ID_CHARS, Sessions
from claude_any.table import Price, Provider, RoutingTable

HELLO = [{"role": "user", "content": "hello"}]
LARGE_PRICE = Price(input=2.5, output=10.0, cache_read=1.25)  # dollars per million tokens


def completion(prompt: int, cached: int, out: int) -> dict[str, Any]:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": out,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    message = {"role": "assistant", "content": "ok"}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage}


def stream(prompt: int, out: int) -> list[Any]:
    delta = {"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": out}}
    return [delta, usage, DONE]


def priced_table(upstream: FakeUpstream, auth_token: str | None = None) -> RoutingTable:
    provider = openai_provider(upstream.url + "/v1", name="fake")
    table = make_table(
        [provider],
        [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o-mini")],
        auth_token=auth_token,
    )
    return replace(table, prices={"large": LARGE_PRICE})  # small: no price (not OpenAI's own URL)


def send(
    url: str, session: str | None, model: str, *, stream: bool = False, **headers: str
) -> httpx.Response:
    if session is not None:
        headers["x-claude-code-session-id"] = session
    body = {"model": model, "max_tokens": 64, "messages": HELLO, "stream": stream}
    return httpx.post(url + "/v1/messages", json=body, headers=headers, timeout=10)


def summary(url: str, session: str, **headers: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/v1/claude-any/sessions/{session}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_a_session_sums_what_answered_it(upstream: FakeUpstream, gateway: Callable[..., str]) -> None:
    url = gateway(priced_table(upstream))
    session = str(uuid.uuid4())
    upstream.script(
        Reply(json=completion(prompt=1000, cached=400, out=100)),
        Reply(chunks=stream(prompt=300, out=20)),
        Reply(status=500, json={"error": {"message": "boom"}}),
    )
    assert send(url, session, "claude-sonnet-4-6").status_code == 200
    assert send(url, session, "claude-haiku-4-5", stream=True).status_code == 200
    assert send(url, session, "claude-sonnet-4-6").status_code == 500  # answered nothing: not counted

    assert summary(url, session) == {
        "session_id": session,
        "target": "small",  # the last target that answered, and its provider/model
        "model": "fake/gpt-4o-mini",
        "requests": 2,
        "unmetered": 0,
        "estimated": 0,
        "input_tokens": 600 + 300,  # prompt tokens not read from the cache
        "output_tokens": 120,
        "cache_read_tokens": 400,
        "cache_write_tokens": 0,
        "cost_usd": pytest.approx((600 * 2.5 + 400 * 1.25 + 100 * 10.0) / 1e6),  # large only
        "unpriced": 1,  # small has no price: its tokens are counted, its cost is not guessed
    }


def test_answers_without_usage_are_counted_as_estimated(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    """A provider that reports no usage (many local servers, some streams): the client still gets token
    counts (Claude Code compacts by them), and the summary says how many requests carry only estimates."""
    url = gateway(priced_table(upstream))
    session = str(uuid.uuid4())
    bare = completion(prompt=0, cached=0, out=0)
    del bare["usage"]
    delta = {"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}
    upstream.script(
        Reply(json=bare), Reply(chunks=[delta, DONE]), Reply(json=completion(prompt=10, cached=0, out=1))
    )
    assert send(url, session, "claude-sonnet-4-6").status_code == 200
    assert send(url, session, "claude-sonnet-4-6", stream=True).status_code == 200
    assert send(url, session, "claude-sonnet-4-6").status_code == 200
    found = summary(url, session)
    assert (found["requests"], found["estimated"], found["unmetered"]) == (3, 2, 0)


def test_sessions_are_kept_apart_and_unknown_ones_are_empty(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    url = gateway(priced_table(upstream))
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    upstream.script(*(Reply(json=completion(prompt=10, cached=0, out=1)) for _ in range(3)))
    send(url, first, "claude-sonnet-4-6")
    send(url, second, "claude-sonnet-4-6")
    send(url, None, "claude-sonnet-4-6")  # no session header: recorded nowhere

    assert summary(url, first)["requests"] == 1
    assert summary(url, second)["requests"] == 1
    empty = summary(url, "never-seen")
    assert empty["requests"] == 0 and empty["target"] == "" and empty["cost_usd"] == 0


@pytest.mark.parametrize("odd_id", ["s" * (MAX_ID_CHARS + 1), "a b", "x;rm -rf ~"])
def test_an_overlong_or_odd_session_id_is_not_kept(
    upstream: FakeUpstream, gateway: Callable[..., str], odd_id: str
) -> None:
    url = gateway(priced_table(upstream))
    upstream.script(Reply(json=completion(prompt=10, cached=0, out=1)))
    assert send(url, odd_id, "claude-sonnet-4-6").status_code == 200
    assert summary(url, quote(odd_id, safe=""))["requests"] == 0


def test_the_summary_needs_the_gateway_token(upstream: FakeUpstream, gateway: Callable[..., str]) -> None:
    url = gateway(priced_table(upstream, auth_token="${GATEWAY_TOKEN}"))
    session = str(uuid.uuid4())
    upstream.script(Reply(json=completion(prompt=10, cached=0, out=1)))
    send(url, session, "claude-sonnet-4-6", authorization="Bearer gw-secret")

    refused = httpx.get(f"{url}/v1/claude-any/sessions/{session}", timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert summary(url, session, authorization="Bearer gw-secret")["requests"] == 1


def anthropic_events(text: str) -> list[str]:
    """An Anthropic stream whose usage comes in message_start (input, cache) and message_delta (output)."""
    usage = {"input_tokens": 100, "cache_read_input_tokens": 50, "cache_creation_input_tokens": 0}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": []}
    message |= {"stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}
    events = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", block),
        ("content_block_delta", delta),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", end),
        ("message_stop", {"type": "message_stop"}),
    ]
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events]


def test_a_forwarded_anthropic_stream_counts_its_usage(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    provider = Provider(
        "claude", "anthropic", "chat", {"api_key": "${ANTHROPIC_API_KEY}", "base_url": upstream.url}
    )
    table = make_table(
        [provider],
        [target("large", provider, "claude-sonnet-4-6"), target("small", provider, "claude-haiku-4-5")],
    )
    url = gateway(replace(table, prices={"claude": Price(3.0, 15.0, 0.3)}))
    session = str(uuid.uuid4())
    upstream.script(Reply(chunks=anthropic_events("hi")))
    with httpx.stream(
        "POST",
        url + "/v1/messages",
        json={"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": HELLO, "stream": True},
        headers={"x-claude-code-session-id": session},
        timeout=10,
    ) as answer:
        assert answer.status_code == 200 and "message_stop" in answer.read().decode()
    found = summary(url, session)
    assert (found["requests"], found["unmetered"]) == (1, 0)
    assert (found["input_tokens"], found["cache_read_tokens"], found["output_tokens"]) == (100, 50, 7)
    assert found["cost_usd"] == pytest.approx((100 * 3.0 + 50 * 0.3 + 7 * 15.0) / 1e6)


def _answered(
    target: str,
    session: str,
    tokens_in: int | None = 10,
    tokens_out: int | None = 1,
    price: Price | None = None,
) -> RequestLog:
    log = RequestLog("POST", "/v1/messages", "req_test", target=target, upstream=f"p/{target}", status=200)
    log.tokens_in, log.tokens_out = tokens_in, tokens_out
    log.session, log.price_of = session, lambda target_id: price
    return log


def test_at_most_max_sessions_are_kept_least_recently_used_out() -> None:
    sessions = Sessions(max_sessions=2)
    for session in ("a", "b", "a", "c"):  # "a" is used again before "c" arrives, so "b" goes
        log = _answered("large", session)
        sessions.follow(log)
        log.emit()
    assert len(sessions) == 2
    assert sessions.get("b") is None
    assert sessions.get("a") is not None and sessions.get("c") is not None
    assert sessions.latest == "c"


def test_an_answer_without_usage_is_counted_but_not_priced() -> None:
    sessions = Sessions()
    log = _answered("large", "s", tokens_out=None, price=LARGE_PRICE)  # a stream ended without usage
    sessions.follow(log)
    log.emit()
    found = sessions.get("s")
    assert found is not None
    assert (found.requests, found.unmetered, found.input_tokens, found.cost_usd) == (1, 1, 0, 0.0)
