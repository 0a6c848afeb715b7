"""`auth: oauth`: Databricks Model Serving called with the Databricks SDK's unified auth, offline.

The workspace is the fake upstream: its OAuth side (host metadata, OIDC discovery, the client-credentials
token endpoint) from `identity_fakes.DatabricksWorkspace`, its serving endpoints answering chat. The host is
the fake's loopback URL, so the SDK discovers the endpoints the way it does on a real workspace.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from faults import chunk, completion, request_body
from identity_fakes import DatabricksWorkspace
from loopback import DONE, FakeUpstream, Recorded, Reply, ThreadServer, make_table, target

from claude_any.runtime.call import credentials
from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve.app import create_app
from claude_any.table import Provider, RoutingTable

ENV = {"DBX_CLIENT_ID": "sp-client-id", "DBX_CLIENT_SECRET": "sp-client-secret"}


def serving(recorded: Recorded) -> Reply:
    body = recorded.body if isinstance(recorded.body, dict) else {}
    if recorded.path == "/serving-endpoints/anthropic/v1/messages":
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [{"type": "text", "text": "hello"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
        return Reply(json=message)
    if body.get("stream"):
        return Reply(chunks=[chunk({"content": "hello"}), chunk(finish="stop"), DONE])
    return Reply(json=completion("hello"))


def oauth_provider(host: str, **settings: str | None) -> Provider:
    base = {"token": None, "host": host, "auth": "oauth", "client_id": None, "client_secret": None}
    return Provider("databricks", "databricks", "chat", {**base, "profile": None, **settings})


def oauth_table(host: str, **settings: str | None) -> RoutingTable:
    provider = oauth_provider(host, **settings)
    targets = [
        target("large", provider, "databricks-gpt-5-4"),
        target("small", provider, "databricks-claude-haiku-4-5"),
    ]
    return make_table([provider], targets)


@pytest.fixture
def workspace(upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DatabricksWorkspace:
    """The fake workspace, and an environment with no Databricks settings of the machine's own."""
    for name in ("HOST", "TOKEN", "CLIENT_ID", "CLIENT_SECRET", "AUTH_TYPE", "CONFIG_PROFILE"):
        monkeypatch.delenv(f"DATABRICKS_{name}", raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "databrickscfg"))
    fake = DatabricksWorkspace(upstream.url, serving)
    upstream.responder = fake
    return fake


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    servers: list[ThreadServer] = []

    def start(table: RoutingTable, env: dict[str, str] | None = None) -> str:
        servers.append(ThreadServer(create_app(table, env or {})).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def ask(url: str, model: str = "claude-sonnet-4-6", stream: bool = False) -> httpx.Response:
    return httpx.post(f"{url}/v1/messages", json={**request_body(stream=stream), "model": model}, timeout=30)


def served(upstream: FakeUpstream) -> list[Recorded]:
    return [r for r in upstream.requests if r.path.startswith("/serving-endpoints/")]


REFERENCES = {"client_id": "${DBX_CLIENT_ID}", "client_secret": "${DBX_CLIENT_SECRET}"}


def test_m2m_oauth_from_config_references_sends_the_sdk_token_and_keeps_it(
    upstream: FakeUpstream, workspace: DatabricksWorkspace, serve: Callable[..., str]
) -> None:
    url = serve(oauth_table(upstream.url, **REFERENCES), ENV)
    for model, stream in (
        ("claude-sonnet-4-6", False),
        ("claude-sonnet-4-6", True),
        ("claude-haiku-4-5", False),
    ):
        assert ask(url, model, stream).status_code == 200
    calls = served(upstream)
    assert [r.path for r in calls] == [
        "/serving-endpoints/chat/completions",
        "/serving-endpoints/chat/completions",
        "/serving-endpoints/anthropic/v1/messages",  # the pass-through carries it too
    ]
    assert {r.headers["authorization"] for r in calls} == {"Bearer dbx-oauth-1"}
    assert workspace.issued == ["dbx-oauth-1"], "one token, fetched at start-up and kept while fresh"
    token_call = next(r for r in upstream.requests if r.path == "/oidc/v1/token")
    expected = base64.b64encode(b"sp-client-id:sp-client-secret").decode()
    assert token_call.headers["authorization"] == f"Basic {expected}"


def test_m2m_oauth_from_the_sdk_environment_variables(
    upstream: FakeUpstream,
    workspace: DatabricksWorkspace,
    serve: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", "sp-client-id")
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", "sp-client-secret")
    url = serve(oauth_table(upstream.url))
    assert ask(url).status_code == 200
    assert served(upstream)[0].headers["authorization"] == "Bearer dbx-oauth-1"


def test_a_profile_of_databrickscfg(
    upstream: FakeUpstream,
    workspace: DatabricksWorkspace,
    serve: Callable[..., str],
    tmp_path: Path,
) -> None:
    (tmp_path / "databrickscfg").write_text(
        f"[team]\nhost = {upstream.url}\nclient_id = sp-client-id\nclient_secret = sp-client-secret\n"
    )
    url = serve(oauth_table(upstream.url, profile="team"))
    assert ask(url).status_code == 200
    assert served(upstream)[0].headers["authorization"] == "Bearer dbx-oauth-1"


def test_a_token_near_its_expiry_is_replaced_before_the_next_request(
    upstream: FakeUpstream,
    workspace: DatabricksWorkspace,
    serve: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every token lives 30 s, which the SDK counts as expired (it refreshes 40 s early).
    workspace.expires_in = 30
    start = time.time()
    monkeypatch.setattr(credentials, "now", lambda: start)
    url = serve(oauth_table(upstream.url, **REFERENCES), ENV)
    assert ask(url).status_code == 200
    monkeypatch.setattr(credentials, "now", lambda: start + credentials.LIBRARY_KEEPS_S + 1)
    assert ask(url).status_code == 200
    tokens = [r.headers["authorization"] for r in served(upstream)]
    assert tokens == ["Bearer dbx-oauth-1", "Bearer dbx-oauth-2"]


def test_a_fresh_token_is_the_sdk_s_own_until_it_goes_stale(
    upstream: FakeUpstream,
    workspace: DatabricksWorkspace,
    serve: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = time.time()
    monkeypatch.setattr(credentials, "now", lambda: start)
    url = serve(oauth_table(upstream.url, **REFERENCES), ENV)
    assert ask(url).status_code == 200
    monkeypatch.setattr(credentials, "now", lambda: start + credentials.LIBRARY_KEEPS_S + 1)
    assert ask(url).status_code == 200
    assert {r.headers["authorization"] for r in served(upstream)} == {"Bearer dbx-oauth-1"}
    assert workspace.issued == ["dbx-oauth-1"]


def test_a_rejected_client_secret_stops_start_up_saying_what_to_run(
    upstream: FakeUpstream, workspace: DatabricksWorkspace
) -> None:
    with pytest.raises(StartupError) as caught:
        create_app(
            oauth_table(upstream.url, **REFERENCES), {**ENV, "DBX_CLIENT_SECRET": "wrong-secret-value"}
        )
    message = str(caught.value)
    assert message.startswith("databricks: no OAuth token via the Databricks SDK could be had")
    assert "oauth-m2m auth: invalid_client" in message, "the way tried, and what the workspace said"
    assert f"databricks auth login --host {upstream.url}" in message
    assert "wrong-secret-value" not in message
    assert served(upstream) == []


def test_a_token_that_cannot_be_renewed_at_run_time_is_a_401(
    upstream: FakeUpstream,
    workspace: DatabricksWorkspace,
    serve: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workspace.expires_in = 30
    start = time.time()
    monkeypatch.setattr(credentials, "now", lambda: start)
    url = serve(oauth_table(upstream.url, **REFERENCES), ENV)
    workspace.client_secret = "rotated"  # the service principal's secret was rotated since start-up
    monkeypatch.setattr(credentials, "now", lambda: start + credentials.LIBRARY_KEEPS_S + 1)
    response = ask(url)
    assert response.status_code == 401
    assert response.headers["x-should-retry"] == "false"
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert "databricks auth login" in error["message"]
    assert "sp-client-secret" not in error["message"]
    assert served(upstream) == []
