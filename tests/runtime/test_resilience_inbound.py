"""Inbound protection over real loopback HTTP: body size limit, malformed input named by JSON path, the
loopback-only rule without a token, and credentials an upstream echoes back never reaching the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from faults import error_body, fake_provider, request_body, resilient_table
from loopback import TEST_ENV, FakeUpstream, Reply

from claude_any.runtime.serve import access_log as log
from claude_any.runtime.serve.server import StartupError, check_exposure, serve
from claude_any.table import Server

Gateway = Callable[..., str]


@pytest.fixture
def small_limit(upstream: FakeUpstream, gateway: Gateway) -> str:
    return gateway(resilient_table([fake_provider(upstream.url)], max_body_mb=1))


def _big_body() -> bytes:
    body = request_body()
    body["messages"] = [{"role": "user", "content": "x" * (1024 * 1024 + 10)}]
    return json.dumps(body).encode()


def test_body_over_the_limit_is_413_by_content_length(upstream: FakeUpstream, small_limit: str) -> None:
    response = httpx.post(
        small_limit + "/v1/messages", content=_big_body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    assert "server.max_body_mb: 1" in response.json()["error"]["message"]
    assert upstream.requests == []


def test_body_over_the_limit_is_413_when_chunked(upstream: FakeUpstream, small_limit: str) -> None:
    raw = _big_body()

    def pieces() -> Iterator[bytes]:  # no content-length: the limit is counted while reading
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    response = httpx.post(
        small_limit + "/v1/messages",
        content=pieces(),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    assert upstream.requests == []


def test_body_under_the_limit_passes(upstream: FakeUpstream, small_limit: str) -> None:
    upstream.script(Reply(json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}))
    assert httpx.post(small_limit + "/v1/messages", json=request_body(), timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b'{"model": "m", "messages": [}',
            "request body is not valid JSON: Expecting value at line 1 column 29",
        ),
        (b"[1, 2]", "request body must be a JSON object, got an array"),
        (b'{"model": 5, "messages": []}', "model: expected a string, got a number"),
        (b'{"model": "m", "messages": {}}', "messages: expected an array, got an object"),
        (b'{"model": "m", "messages": ["hi"]}', "messages.0: expected an object, got a string"),
        (
            b'{"model": "m", "messages": [], "max_tokens": "9"}',
            "max_tokens: expected an integer, got a string",
        ),
        (b'{"model": "m", "messages": [], "stream": 1}', "stream: expected a boolean, got a number"),
        (b'{"model": "\x80"}', "request body is not valid JSON: it is not UTF-8 text"),
    ],
)
def test_malformed_requests_are_400_naming_the_path(
    upstream: FakeUpstream, small_limit: str, raw: bytes, expected: str
) -> None:
    response = httpx.post(
        small_limit + "/v1/messages", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": expected}
    assert upstream.requests == []


def test_credentials_echoed_by_the_upstream_are_scrubbed(upstream: FakeUpstream, small_limit: str) -> None:
    key = TEST_ENV["OPENAI_API_KEY"]
    upstream.script(
        Reply(status=401, json=error_body(f"Incorrect API key provided: {key}.", "invalid_api_key"))
    )
    response = httpx.post(small_limit + "/v1/messages", json=request_body(), timeout=10)
    assert response.status_code == 401
    assert key not in response.text
    assert response.json()["error"]["message"] == "fake: Incorrect API key provided: ***."


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "gateway.example.com"])
def test_refuses_a_non_loopback_address_without_a_token(
    upstream: FakeUpstream, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        log, "configure", lambda level, file=None, log_format="text": None
    )  # keep the session's logging
    table = resilient_table([fake_provider(upstream.url)])
    with pytest.raises(StartupError, match=f"refusing to listen on {host} without server.auth_token"):
        serve(table, host=host, port=1, env=TEST_ENV, log_level="warning")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_is_fine_without_a_token(upstream: FakeUpstream, host: str) -> None:
    check_exposure(resilient_table([fake_provider(upstream.url)]), host)


def test_any_address_is_fine_with_a_token(upstream: FakeUpstream) -> None:
    table = resilient_table([fake_provider(upstream.url)])
    guarded = table.__class__(**{**table.__dict__, "server": Server(auth_token="${GATEWAY_TOKEN}")})
    check_exposure(guarded, "0.0.0.0")
