"""`server.tokens`: a token per person. Each request knows whose it is (its log line, `RequestLog.user`);
the names are written in the config, the tokens never appear anywhere."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import anthropic
import httpx
import pytest
from loopback import TEST_ENV, FakeUpstream, Reply, make_table, openai_provider, target

from claude_any.compiler import compile_text
from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve.app import create_app
from claude_any.table import RoutingTable

HELLO = [{"role": "user", "content": "hello"}]
ENV = {**TEST_ENV, "ALICE_TOKEN": "alice-secret-1", "BOB_TOKEN": "bob-secret-2"}
OK = {
    "id": "c1",
    "object": "chat.completion",
    "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}


def team_table(**tokens: str) -> RoutingTable:
    provider = openai_provider("http://127.0.0.1:1/v1", name="fake")
    targets = [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o-mini")]
    return make_table([provider], targets, auth_token="${GATEWAY_TOKEN}", tokens=tokens)


@pytest.fixture
def team_gateway(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    provider = openai_provider(upstream.url + "/v1", name="fake")
    targets = [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o-mini")]
    tokens = {"alice": "${ALICE_TOKEN}", "bob": "${BOB_TOKEN}"}
    return gateway(make_table([provider], targets, auth_token="${GATEWAY_TOKEN}", tokens=tokens), ENV)


def test_each_token_names_its_user_in_the_log(
    upstream: FakeUpstream, team_gateway: str, caplog: pytest.LogCaptureFixture, propagating: None
) -> None:
    upstream.script(*[Reply(json=OK)] * 4)
    caplog.set_level(logging.INFO, logger="claude_any")
    alice = anthropic.Anthropic(base_url=team_gateway, api_key="alice-secret-1", max_retries=0)
    bob = anthropic.Anthropic(base_url=team_gateway, auth_token="bob-secret-2", max_retries=0)
    shared = anthropic.Anthropic(base_url=team_gateway, api_key="gw-secret", max_retries=0)
    for client in (alice, bob, shared):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    # A browser sends the token as a Basic password (the user name it asks for is not what counts).
    basic = base64.b64encode(b"anyone:alice-secret-1").decode()
    body = {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": HELLO}
    response = httpx.post(
        team_gateway + "/v1/messages", json=body, headers={"authorization": f"Basic {basic}"}
    )
    assert response.status_code == 200
    lines = [r.getMessage() for r in caplog.records if "POST /v1/messages" in r.getMessage()]
    users = [next((part for part in line.split() if part.startswith("user=")), "") for line in lines]
    assert users == ["user=alice", "user=bob", "", "user=alice"]
    assert not any(secret in "\n".join(lines) for secret in ("alice-secret-1", "bob-secret-2", "gw-secret"))


def test_a_wrong_or_partial_token_is_refused(upstream: FakeUpstream, team_gateway: str) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": HELLO}
    basic_wrong = base64.b64encode(b"alice:alice-secret-2").decode()
    for headers in (
        {"x-api-key": "alice-secret-"},
        {"x-api-key": "alice"},  # a name is not a token
        {"authorization": "Bearer bob-secret-22"},
        {"authorization": f"Basic {basic_wrong}"},
        {"authorization": "Basic !!!"},
    ):
        response = httpx.post(team_gateway + "/v1/messages", json=body, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
    assert upstream.requests == []


def test_two_people_with_one_token_is_refused_at_start() -> None:
    table = team_table(alice="${ALICE_TOKEN}", bob="${ALICE_TOKEN}")
    with pytest.raises(StartupError, match=r"server.tokens.bob is the same token as server.tokens.alice"):
        create_app(table, ENV)
    with pytest.raises(StartupError, match=r"server.tokens.alice is the same token as server.auth_token"):
        create_app(team_table(alice="${GATEWAY_TOKEN}"), ENV)


def test_an_unset_token_variable_is_named_with_its_entry() -> None:
    with pytest.raises(StartupError) as info:
        create_app(team_table(alice="${ALICE_TOKEN}", carol="${CAROL_TOKEN}"), ENV)
    assert "CAROL_TOKEN" in str(info.value) and "server.tokens.carol" in str(info.value)


def test_tokens_alone_allow_listening_beyond_loopback() -> None:
    config = """
server: {host: 0.0.0.0, tokens: {alice: "${ALICE_TOKEN}", bob.smith: "${BOB_TOKEN}"}}
providers: {openai: {api_key: "${OPENAI_API_KEY}"}}
model_categories: {large: openai/gpt-4.1, small: openai/gpt-4.1-mini}
"""
    result = compile_text(config, "c.yaml")
    assert [d.render() for d in result.diagnostics] == []
    assert result.table is not None
    names = [token.name for token in result.table.server.tokens]
    assert names == ["alice", "bob.smith"]
    again = RoutingTable.from_json(result.table.to_json())
    assert again.server.tokens == result.table.server.tokens and again.server.requires_token


def test_token_names_and_literal_tokens_are_reported_where_written() -> None:
    config = """
server: {tokens: {"-x": "${A}", "al ice": "${B}", carol: sk-literal-secret-123, dave: 42}}
providers: {openai: {api_key: "${OPENAI_API_KEY}"}}
model_categories: {large: openai/gpt-4.1, small: openai/gpt-4.1-mini}
"""
    rendered = [d.render() for d in compile_text(config, "c.yaml").diagnostics]
    assert rendered == [
        "c.yaml:2:19: error: server.tokens.-x: '-x' is not a token name: 1 to 64 letters, digits and "
        ". _ @ -, starting with a letter or digit",
        "c.yaml:2:33: error: server.tokens.al ice: 'al ice' is not a token name: 1 to 64 letters, digits and "
        ". _ @ -, starting with a letter or digit",
        "c.yaml:2:58: warning: server.tokens.carol: literal secret in config; use ${CAROL_TOKEN} instead",
        "c.yaml:2:87: error: server.tokens.dave: expected a string, got a number (quote it)",
    ]
    assert not any("sk-literal-secret-123" in line for line in rendered)


def test_a_version_1_routes_json_is_still_read() -> None:
    """Tables compiled before routes.json version 2 (no named tokens) keep working as they are."""
    table = team_table()
    written = {**table.to_json(), "version": 1}
    assert RoutingTable.from_json(written).server == table.server
