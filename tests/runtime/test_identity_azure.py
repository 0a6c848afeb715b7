"""`auth: entra`: Azure OpenAI called with Microsoft Entra ID tokens from azure-identity, offline.

The tokens come from a fake `az` on PATH (the Azure CLI credential of azure-identity's default chain runs
it) or a fake App Service managed identity endpoint; the provider is the fake upstream. Checked: the token is
sent as `Authorization: Bearer` and no `api-key`, kept while fresh and fetched again before it expires, one
fetch for many waiting requests, a clear exit at start-up and a 401 at run time when there is none, and
`explain` names the credential without fetching one.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from faults import chunk, completion, request_body
from identity_fakes import ENTRA_RESOURCE, AppServiceIdentity, FakeAzureCli
from loopback import DONE, FakeUpstream, Recorded, Reply, ThreadServer, make_table, target

from claude_any.explain import explain
from claude_any.runtime.call import credentials
from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve.app import create_app
from claude_any.table import Provider, RoutingTable

DEPLOYMENT = "team-gpt4o"
AZ_ARGS = ["account", "get-access-token", "--output", "json", "--resource", ENTRA_RESOURCE]


def entra_provider(endpoint: str, client_id: str | None = None) -> Provider:
    settings = {"api_key": None, "endpoint": endpoint, "api_version": "2024-10-21", "auth": "entra"}
    return Provider("azure", "azure", "chat", {**settings, "client_id": client_id})


def entra_table(endpoint: str, client_id: str | None = None) -> RoutingTable:
    provider = entra_provider(endpoint, client_id)
    return make_table(
        [provider], [target("large", provider, DEPLOYMENT), target("small", provider, DEPLOYMENT)]
    )


@pytest.fixture
def az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAzureCli:
    return FakeAzureCli(tmp_path / "bin", monkeypatch)


@pytest.fixture
def serve() -> Iterator[Callable[[RoutingTable], str]]:
    """Start the gateway for a table (a server of its own: tokens are held per app); stopped afterwards."""
    servers: list[ThreadServer] = []

    def start(table: RoutingTable) -> str:
        servers.append(ThreadServer(create_app(table, {})).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def ask(url: str, stream: bool = False) -> httpx.Response:
    return httpx.post(f"{url}/v1/messages", json=request_body(stream=stream), timeout=30)


def chat_answer(recorded: Recorded) -> Reply:
    """A Chat Completions answer, streamed when the request asks for a stream."""
    if isinstance(recorded.body, dict) and recorded.body.get("stream"):
        return Reply(chunks=[chunk({"content": "hello"}), chunk(finish="stop"), DONE])
    return Reply(json=completion("hello"))


def answering(upstream: FakeUpstream) -> None:
    upstream.responder = chat_answer


def bearer(recorded: Recorded) -> str:
    return recorded.headers.get("authorization", "")


def test_the_token_is_sent_as_bearer_without_a_key_and_kept_while_fresh(
    upstream: FakeUpstream, az: FakeAzureCli, serve: Callable[[RoutingTable], str]
) -> None:
    answering(upstream)
    az.hand_out(("entra-token-1", time.time() + 3600), ("entra-token-2", time.time() + 3600))
    url = serve(entra_table(upstream.url))
    assert az.calls == [AZ_ARGS], "start-up fetches the token once, for the Cognitive Services scope"
    for stream in (False, False, True):
        assert ask(url, stream).status_code == 200
    assert [bearer(r) for r in upstream.requests] == ["Bearer entra-token-1"] * 3
    assert all("api-key" not in r.headers for r in upstream.requests)
    assert upstream.requests[0].path == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert len(az.calls) == 1, "a fresh token is not fetched again"


@pytest.mark.parametrize("later_s", [3600 + 1, 3600 - 60], ids=["expired", "about-to-expire"])
def test_a_token_is_fetched_again_before_the_next_request_once_it_expires(
    upstream: FakeUpstream,
    az: FakeAzureCli,
    serve: Callable[[RoutingTable], str],
    monkeypatch: pytest.MonkeyPatch,
    later_s: float,
) -> None:
    answering(upstream)
    start = time.time()
    az.hand_out(("entra-token-1", start + 3600), ("entra-token-2", start + 7200))
    monkeypatch.setattr(credentials, "now", lambda: start)
    url = serve(entra_table(upstream.url))
    assert ask(url).status_code == 200
    monkeypatch.setattr(credentials, "now", lambda: start + later_s)
    assert ask(url).status_code == 200
    assert [bearer(r) for r in upstream.requests] == ["Bearer entra-token-1", "Bearer entra-token-2"]
    assert len(az.calls) == 2


def test_requests_waiting_for_a_token_share_one_fetch(
    upstream: FakeUpstream, az: FakeAzureCli, serve: Callable[[RoutingTable], str]
) -> None:
    answering(upstream)
    # Start-up gets a token too close to its expiry to keep; the next one is slow to come.
    az.hand_out(("short-lived", time.time() + 10), ("entra-token-2", time.time() + 3600))
    url = serve(entra_table(upstream.url))
    az.delay = 0.5
    az.hand_out(("entra-token-2", time.time() + 3600))

    async def many() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            calls = [client.post(f"{url}/v1/messages", json=request_body()) for _ in range(8)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    assert asyncio.run(many()) == [200] * 8
    assert {bearer(r) for r in upstream.requests} == {"Bearer entra-token-2"}
    assert len(az.calls) == 2, "one fetch at start-up, one for all eight waiting requests"


def test_no_token_at_start_up_stops_it_naming_the_chain_and_the_fix(
    upstream: FakeUpstream, az: FakeAzureCli
) -> None:
    az.log_out()
    with pytest.raises(StartupError) as caught:
        create_app(entra_table(upstream.url), {})
    message = str(caught.value)
    assert message.startswith("azure: no Entra ID token via azure-identity could be had")
    assert "AzureCliCredential" in message, "says which credential of the chain was tried"
    assert "az login" in message
    assert upstream.requests == []


def test_run_exits_2_when_no_token_can_be_had(tmp_path: Path, az: FakeAzureCli) -> None:
    az.log_out()
    config = tmp_path / "config.yaml"
    config.write_text(
        "providers:\n"
        "  azure: {auth: entra, endpoint: http://127.0.0.1:9, api_version: 2024-10-21,\n"
        "          models: {team-gpt4o: {base_model: gpt-4o}}}\n"
        "model_categories: {large: azure/team-gpt4o, small: azure/team-gpt4o}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "claude_any", "run", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "no Entra ID token via azure-identity could be had" in result.stderr
    assert "az login" in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving" not in result.stdout


def test_a_token_lost_at_run_time_is_a_401_that_says_what_to_run(
    upstream: FakeUpstream, az: FakeAzureCli, serve: Callable[[RoutingTable], str]
) -> None:
    answering(upstream)
    az.hand_out(("short-lived", time.time() + 10), FakeAzureCli.NOT_LOGGED_IN)
    url = serve(entra_table(upstream.url))
    for stream in (False, True):
        response = ask(url, stream)
        assert response.status_code == 401
        assert response.headers["x-should-retry"] == "false"
        assert response.headers["x-claude-any-attempts"] == "large:credential"
        error = response.json()["error"]
        assert error["type"] == "authentication_error"
        assert "no Entra ID token via azure-identity could be had" in error["message"]
        assert "az login" in error["message"]
    assert upstream.requests == [], "nothing is sent without a token"


@pytest.mark.parametrize("stream", [False, True])
def test_a_token_the_provider_refuses_is_replaced_and_the_call_made_once_more(
    upstream: FakeUpstream, az: FakeAzureCli, serve: Callable[[RoutingTable], str], stream: bool
) -> None:
    """A token revoked (or rotated) before its expiry: the provider's 401 drops it, a new one is fetched
    and the call is made again, once; the client sees only the answer."""
    az.hand_out(("revoked-token", time.time() + 3600), ("entra-token-2", time.time() + 3600))
    url = serve(entra_table(upstream.url))
    refused = Reply(status=401, json={"error": {"code": "401", "message": "Access token is invalid."}})

    def answer(recorded: Recorded) -> Reply:
        return refused if bearer(recorded) == "Bearer revoked-token" else chat_answer(recorded)

    upstream.responder = answer
    assert ask(url, stream).status_code == 200
    assert [bearer(r) for r in upstream.requests] == ["Bearer revoked-token", "Bearer entra-token-2"]
    assert len(az.calls) == 2
    # A new token refused too is the provider's answer: no third call, no loop.
    az.hand_out(("also-refused", time.time() + 3600))
    upstream.responder = lambda recorded: refused
    upstream.requests.clear()
    response = ask(url, stream)
    assert response.status_code == 401
    assert [bearer(r) for r in upstream.requests] == ["Bearer entra-token-2", "Bearer also-refused"]


def test_a_user_assigned_managed_identity_is_asked_for_by_its_client_id(
    upstream: FakeUpstream, serve: Callable[[RoutingTable], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = AppServiceIdentity("/msi/token", chat_answer)
    upstream.responder = identity
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{upstream.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", AppServiceIdentity.HEADER)
    url = serve(entra_table(upstream.url, client_id="11111111-2222-3333-4444-555555555555"))
    assert ask(url).status_code == 200
    assert identity.asked[0]["client_id"] == "11111111-2222-3333-4444-555555555555"
    assert identity.asked[0]["resource"] == ENTRA_RESOURCE
    served = [r for r in upstream.requests if r.path.endswith("/chat/completions")]
    assert bearer(served[0]) == "Bearer msi-11111111-2222-3333-4444-555555555555"


def test_explain_names_the_credential_and_fetches_nothing(upstream: FakeUpstream, az: FakeAzureCli) -> None:
    text, routable = explain(entra_table(upstream.url), model="claude-sonnet-4-6", source="tests")
    assert routable
    assert (
        "auth       Entra ID token via azure-identity (as Authorization: Bearer, fetched at run time)" in text
    )
    assert "api-key" not in text and "token-1" not in text
    assert az.calls == []


def test_the_token_never_reaches_the_log(
    upstream: FakeUpstream,
    az: FakeAzureCli,
    serve: Callable[[RoutingTable], str],
    caplog: pytest.LogCaptureFixture,
    propagating: None,
) -> None:
    answering(upstream)
    az.hand_out(("entra-secret-token", time.time() + 3600))
    caplog.set_level("DEBUG", logger="claude_any")
    url = serve(entra_table(upstream.url))
    assert ask(url).status_code == 200
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "entra-secret-token" not in logged
    assert "entra-secret-token" not in json.dumps(entra_table(upstream.url).to_json())


def test_a_provider_quoting_the_token_back_is_scrubbed_from_the_debug_lines_too(
    upstream: FakeUpstream,
    az: FakeAzureCli,
    serve: Callable[[RoutingTable], str],
    caplog: pytest.LogCaptureFixture,
    propagating: None,
) -> None:
    """`run --log-level debug` logs each provider answer: a token quoted in it is `***` there as well,
    including one fetched after start-up."""

    def quoting(recorded: Recorded) -> Reply:
        return Reply(json=completion(f"you sent {bearer(recorded)}"))

    upstream.responder = quoting
    az.hand_out(("eyJ-first-token-12", time.time() + 10), ("eyJ-renewed-token-34", time.time() + 3600))
    caplog.set_level("DEBUG", logger="claude_any")  # its own level may have been set by an earlier test
    url = serve(entra_table(upstream.url))
    assert ask(url).status_code == 200  # the first token was too short-lived to keep: a new one was sent
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "you sent ***" in logged
    assert "eyJ-renewed-token-34" not in logged and "eyJ-first-token-12" not in logged


def test_a_provider_quoting_the_token_back_shows_it_as_stars(
    upstream: FakeUpstream, az: FakeAzureCli, serve: Callable[[RoutingTable], str]
) -> None:
    def refuse(recorded: Recorded) -> Reply:
        said = f"token {bearer(recorded).removeprefix('Bearer ')} lacks the role"
        return Reply(401, json={"error": {"code": "PermissionDenied", "message": said}})

    upstream.responder = refuse
    az.hand_out(("eyJ-entra-token-quoted", time.time() + 3600))
    url = serve(entra_table(upstream.url))
    response = ask(url)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "azure: token *** lacks the role"
