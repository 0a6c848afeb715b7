"""Start-up: secrets are resolved and templates rendered before anything listens; failures are clean."""

from __future__ import annotations

import socket
from dataclasses import replace
from typing import Any

import pytest
from loopback import TEST_ENV, make_table, openai_provider, target

from claude_any.runtime.serve.app import create_app
from claude_any.runtime.serve.server import StartupError, serve
from claude_any.table import Position, Provider


def table_with(provider: Provider, **kw: Any) -> Any:
    return make_table(
        [provider], [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o")], **kw
    )


def test_missing_provider_variable_names_the_field_and_position() -> None:
    provider = Provider(
        "openai",
        "openai",
        "chat",
        {"api_key": "${OPENAI_API_KEY}", "base_url": "https://api.openai.com/v1", "organization": None},
        pos=Position("config.yaml", 3, 17),
    )
    with pytest.raises(StartupError) as info:
        create_app(table_with(provider), {})
    assert info.value.problems == (
        "config.yaml:3:17: error: environment variable OPENAI_API_KEY is not set "
        "(used by providers.openai.api_key)",
    )
    assert info.value.message == "1 environment variable not set or empty: OPENAI_API_KEY; nothing started"


def test_every_unset_or_empty_variable_is_named_at_once_in_file_order() -> None:
    provider = Provider(
        "openai",
        "openai",
        "chat",
        {"api_key": "${OPENAI_API_KEY}", "base_url": "https://api.openai.com/v1", "organization": "${ORG}"},
        headers={"X-Team": "${TEAM} ${TEAM}"},
        pos=Position("config.yaml", 5, 3),
    )
    table = table_with(provider, auth_token="${CLAUDE_ANY_TOKEN}")
    table = replace(table, server=replace(table.server, auth_token_pos=Position("config.yaml", 2, 16)))
    with pytest.raises(StartupError) as info:
        create_app(table, {"OPENAI_API_KEY": "", "ORG": "org-1"})
    assert info.value.problems == (
        "config.yaml:2:16: error: environment variable CLAUDE_ANY_TOKEN is not set "
        "(used by server.auth_token)",
        "config.yaml:5:3: error: environment variable OPENAI_API_KEY is set but empty "
        "(used by providers.openai.api_key)",
        "config.yaml:5:3: error: environment variable TEAM is not set "
        "(used by providers.openai.headers.X-Team)",
    )
    assert info.value.message == (
        "3 environment variables not set or empty: CLAUDE_ANY_TOKEN, OPENAI_API_KEY, TEAM; nothing started"
    )
    assert str(info.value).splitlines() == [info.value.message, *info.value.problems]  # what `code` shows


def test_missing_variable_in_a_user_header() -> None:
    provider = Provider(
        "openai",
        "openai",
        "chat",
        {"api_key": None, "base_url": "http://x/v1"},
        headers={"X-Key": "${TEAM_KEY}"},
    )
    with pytest.raises(StartupError, match=r"TEAM_KEY is not set \(used by providers.openai.headers.X-Key\)"):
        create_app(table_with(provider), {})


def test_missing_auth_token_variable() -> None:
    provider = openai_provider("http://127.0.0.1:9/v1")
    with pytest.raises(StartupError, match="CLAUDE_ANY_TOKEN is not set .used by server.auth_token"):
        create_app(table_with(provider, auth_token="${CLAUDE_ANY_TOKEN}"), TEST_ENV)


def test_broken_user_template_fails_at_start_up() -> None:
    provider = Provider(
        "openai", "openai", "chat", {"api_key": None, "base_url": "http://x/v1"}, headers={"X": "{{ nope }}"}
    )
    with pytest.raises(StartupError, match="providers.openai.headers.X: 'nope' is undefined"):
        create_app(table_with(provider), {})


def test_serve_fails_before_binding_the_port() -> None:
    provider = openai_provider("http://127.0.0.1:9/v1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StartupError):
        serve(table_with(provider), "127.0.0.1", port, env={}, log_level="warning")
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # still free: nothing was left listening
