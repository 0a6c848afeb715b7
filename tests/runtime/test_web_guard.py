"""A web page cannot drive the gateway (issue #13, item 5): over real loopback HTTP, requests as a browser
would send them for a hostile page (a foreign Host after DNS rebinding, an Origin, a form or text body) are
refused with a 4xx in Anthropic's envelope saying what to change, while API clients keep working."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import anthropic
import httpx
import pytest
from faults import completion, fake_provider, request_body, resilient_table
from loopback import FakeUpstream, Reply

from claude_any.runtime.serve.web_guard import WebGuard, host_name
from claude_any.table import Server

Gateway = Callable[..., str]
JSON = {"content-type": "application/json"}
APP = "https://app.example.com"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(upstream: FakeUpstream, gateway: Gateway) -> str:
    """No token; one listed origin."""
    upstream.responder = lambda _: Reply(json=completion())
    table = resilient_table([fake_provider(upstream.url)])
    return gateway(replace(table, server=replace(table.server, allowed_origins=(APP,))))


@pytest.fixture
def guarded(upstream: FakeUpstream, gateway: Gateway) -> str:
    """With a token; no listed origin."""
    upstream.responder = lambda _: Reply(json=completion())
    table = resilient_table([fake_provider(upstream.url)])
    return gateway(replace(table, server=replace(table.server, auth_token="${GATEWAY_TOKEN}")))


def _refused(response: httpx.Response, status: int = 403, kind: str = "permission_error") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["request_id"] == response.headers["request-id"]
    message: str = body["error"]["message"]
    return message


def _calls(base: str, headers: dict[str, str]) -> list[httpx.Response]:
    """The endpoints a page could aim at, with `headers` added."""
    post = {**JSON, **headers}
    return [
        httpx.post(base + "/v1/messages", json=request_body(), headers=post, timeout=10),
        httpx.post(base + "/v1/messages/count_tokens", json=request_body(), headers=post, timeout=10),
        httpx.get(base + "/v1/models", headers=headers, timeout=10),
        httpx.get(base + "/health", headers=headers, timeout=10),
    ]


# --- DNS rebinding: the Host header ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8082", "127.0.0.1.evil.example", "localhost.evil.example", "[::2]"]
)
def test_a_foreign_host_is_refused_without_a_token(upstream: FakeUpstream, url: str, host: str) -> None:
    for response in _calls(url, {"host": host}):
        message = _refused(response)
        assert f"requests for host '{host}' are refused" in message
        assert "set server.auth_token to serve other host names" in message
    assert upstream.requests == []


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LocalHost", "localhost.", "[::1]", "[::1]:1"])
def test_the_loopback_names_are_answered_on_any_port(url: str, name: str) -> None:
    port = url.rsplit(":", 1)[1]
    for host in (name, f"{name}:{port}") if not name.startswith("[::1]:") else (name,):
        assert [r.status_code for r in _calls(url, {"host": host})] == [200, 200, 200, 200]


def test_with_a_token_any_host_is_answered(guarded: str) -> None:
    token = {"x-api-key": "gw-secret", "host": "gateway.corp.example"}
    assert [r.status_code for r in _calls(guarded, token)] == [200, 200, 200, 200]


def test_the_bound_address_is_a_host_name_too() -> None:
    guard = WebGuard(Server(host="127.0.0.5"))
    assert guard.refusal({"host": "127.0.0.5:8082"}) is None
    assert guard.refusal({"host": "127.0.0.6:8082"}) is not None
    assert WebGuard(Server(host="::1")).refusal({"host": "[::1]:8082"}) is None
    assert [host_name(h) for h in ("A.b:1", "[::1]:80", "x.", "x:y", "[::1")] == [
        "a.b",
        "[::1]",
        "x",
        "x:y",
        "[::1",
    ]


# --- CSRF: the Origin header and the body type --------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:8082", APP + ":8443"])
def test_a_browser_origin_not_listed_is_refused(upstream: FakeUpstream, url: str, origin: str) -> None:
    for response in _calls(url, {"origin": origin}):
        message = _refused(response)
        assert f"requests from web pages are refused (Origin: {origin})" in message
        assert "add its origin to server.allowed_origins" in message
    assert upstream.requests == []


def test_a_listed_origin_is_answered(url: str) -> None:
    for origin in (APP, APP.upper()):
        assert [r.status_code for r in _calls(url, {"origin": origin})] == [200, 200, 200, 200]


def test_an_origin_is_refused_with_a_token_too(upstream: FakeUpstream, guarded: str) -> None:
    """DECISIONS: the token keeps pages out already; the Origin check costs nothing and also covers a
    token that leaked into a browser."""
    headers = {"x-api-key": "gw-secret", "origin": "https://evil.example"}
    assert [r.status_code for r in _calls(guarded, headers)] == [403, 403, 403, 403]
    assert upstream.requests == []


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ],
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_a_body_that_is_not_declared_json_is_a_400(
    upstream: FakeUpstream, url: str, path: str, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = httpx.post(
        url + path, content=httpx.Request("POST", "/", json=request_body()).content, headers=headers
    )
    message = _refused(response, 400, "invalid_request_error")
    shown = f"'{content_type}'" if content_type else "none"
    assert message.startswith(f"content-type must be application/json, got {shown}")
    assert "-H 'content-type: application/json'" in message
    assert upstream.requests == []


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_bodies_are_answered(url: str, content_type: str) -> None:
    raw = httpx.Request("POST", "/", json=request_body()).content
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        assert httpx.post(url + path, content=raw, headers={"content-type": content_type}).status_code == 200


def test_what_a_hostile_page_can_send_is_refused(upstream: FakeUpstream, url: str) -> None:
    """A form post and a `fetch` with a Blob body (no content-type: no preflight), both as a browser sends
    them: with the page's Origin; the same after DNS rebinding: with the page's Host and no Origin."""
    form = {"origin": "https://evil.example", "content-type": "application/x-www-form-urlencoded"}
    blob = {"origin": "https://evil.example"}
    rebound = {"host": "evil.example:8082", "content-type": "text/plain;charset=UTF-8"}
    for headers in (form, blob, rebound):
        response = httpx.post(url + "/v1/messages", content=b'{"model": "large"}', headers=headers)
        _refused(response)
    assert upstream.requests == []


# --- API clients keep working -------------------------------------------------------------------------------


def test_the_anthropic_sdk_is_answered(url: str) -> None:
    client = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=10)
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].type == "text"
    assert client.messages.count_tokens(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
    )


README = (ROOT / "README.md").read_text(encoding="utf-8")
BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
# Those that send a body (a GET, such as /status.json, sends none).
README_CURLS = [block for block in BASH_BLOCKS if block.startswith("curl ") and " -d " in block]


def test_every_readme_curl_example_sends_json() -> None:
    assert README_CURLS
    for command in README_CURLS:
        assert "-H 'content-type: application/json'" in command, command


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("command", README_CURLS)
def test_the_readme_curl_example_is_answered(url: str, command: str) -> None:
    shown = command.replace("http://127.0.0.1:8082", url)
    out = subprocess.run(["bash", "-c", shown], capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(out.stdout)["type"] == "message"
    without = shown.replace("-H 'content-type: application/json'", "")  # curl -d alone posts a form
    refused = subprocess.run(["bash", "-c", without], capture_output=True, text=True, timeout=30, check=True)
    assert "got 'application/x-www-form-urlencoded'" in json.loads(refused.stdout)["error"]["message"]
