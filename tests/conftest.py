"""Shared pytest fixtures: the fake upstream and claude-any itself, both on loopback over real HTTP.

The servers and table builders are in `tests/loopback.py` (importable as `loopback` from any test module,
since this directory is on sys.path for the rootdir conftest).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from loopback import TEST_ENV, FakeUpstream, ThreadServer, make_table, openai_provider, target
from postgres_server import postgres_server, postgres_url, private_postgres  # noqa: F401  (fixtures)

from claude_any.table import Price, RoutingTable


@pytest.fixture(scope="session")
def _state_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(autouse=True)
def _private_state(
    _state_root: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    """Every test's state directory (the usage ledger's SQLite file) is its own temporary one, never the
    real home's: XDG_STATE_HOME, and LOCALAPPDATA on Windows."""
    state = _state_root / request.node.nodeid.replace("/", "_").replace(":", "_")[-120:]
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("LOCALAPPDATA", str(state))
    return state


@pytest.fixture(scope="session")
def _upstream_server() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture
def upstream(_upstream_server: FakeUpstream) -> FakeUpstream:
    """The fake provider, with an empty script and no recorded requests."""
    _upstream_server.reset()
    return _upstream_server


@pytest.fixture(scope="session")
def _gateway_servers() -> Iterator[dict[str, ThreadServer]]:
    servers: dict[str, ThreadServer] = {}
    yield servers
    for server in servers.values():
        server.request_stop()  # all at once: each takes a uvicorn tick to notice
    for server in servers.values():
        server.stop()


@pytest.fixture
def gateway(_gateway_servers: dict[str, ThreadServer]) -> Callable[..., str]:
    """Start claude-any for a table (and environment); returns its base URL.

    Servers are shared by tests that ask for the same table and environment (the app keeps no
    per-request state), which keeps the HTTP tests fast; they stop at the end of the session.
    """
    from claude_any.runtime.serve.app import create_app
    from claude_any.runtime.serve.server import client_limits

    def start(table: RoutingTable, env: Mapping[str, str] = TEST_ENV) -> str:
        key = table.dumps() + repr(sorted(env.items()))
        if key not in _gateway_servers:
            server = ThreadServer(create_app(table, env), limits=client_limits(table))
            _gateway_servers[key] = server.start()
        return _gateway_servers[key].url

    return start


@pytest.fixture
def propagating(monkeypatch: pytest.MonkeyPatch) -> None:
    """caplog sees the gateway's log lines even after a test ran `serve` (which stops propagation)."""
    monkeypatch.setattr(logging.getLogger("claude_any"), "propagate", True)


@pytest.fixture
def openai_gateway(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    """claude-any with large → fake/gpt-4o and small → fake/gpt-4o-mini on the fake upstream."""
    provider = openai_provider(upstream.url + "/v1", name="fake")
    table = make_table(
        [provider], [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o-mini")]
    )
    return gateway(table)


TEAM_ENV = {**TEST_ENV, "ALICE_TOKEN": "alice-secret-1", "BOB_TOKEN": "bob-secret-2"}


@pytest.fixture
def status_gateway(upstream: FakeUpstream) -> Iterator[str]:
    """A gateway of its own (its ring starts empty): `large` priced at $2/$8 per million tokens, `small` a
    model without a price; tokens for alice and bob beside the shared one."""
    from claude_any.runtime.serve.app import create_app
    from claude_any.runtime.serve.server import client_limits

    provider = openai_provider(upstream.url + "/v1", name="fake")
    targets = [target("large", provider, "gpt-4o"), target("small", provider, "local-model")]
    tokens = {"alice": "${ALICE_TOKEN}", "bob": "${BOB_TOKEN}"}
    table = make_table([provider], targets, auth_token="${GATEWAY_TOKEN}", tokens=tokens)
    table = dataclasses.replace(table, prices={"large": Price(2.0, 8.0)})
    server = ThreadServer(create_app(table, TEAM_ENV), limits=client_limits(table)).start()
    yield server.url
    server.stop()
