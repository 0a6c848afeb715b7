"""A full session with known test keys — compile, explain, run, requests that succeed, stream, fail, retry
and pass through — then every output is swept for the keys: CLI output, routes.json, response bodies and
headers, and every log record at DEBUG level (httpx and httpcore included).

The upstream must have received the keys (else the sweep would prove nothing); the client must not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest
from loopback import DONE, FakeUpstream, Reply, ThreadServer

from claude_any.cli import main
from claude_any.runtime.app import create_app
from claude_any.table import RoutingTable

KEYS = {
    "SWEEP_OPENAI_KEY": "sk-sweep-openai-4e1f9b27c0d3",
    "SWEEP_TEAM_KEY": "team-sweep-88a1c6e0f4",
    "SWEEP_ANTHROPIC_KEY": "sk-ant-sweep-5d0b3a9e71",
    "SWEEP_GATEWAY_TOKEN": "gw-sweep-c2f7d91e6b",
}
ANSWER = {"choices": [{"message": {"content": "fine"}, "finish_reason": "stop"}], "usage": {}}
HELLO = [{"role": "user", "content": "hello"}]


def config(upstream_url: str) -> str:
    return f"""\
server: {{auth_token: ${{SWEEP_GATEWAY_TOKEN}}}}
providers:
  gpt: {{kind: openai, api_key: ${{SWEEP_OPENAI_KEY}}, base_url: {upstream_url}/v1,
        headers: {{X-Team-Key: "${{SWEEP_TEAM_KEY}}"}}}}
  claude: {{kind: anthropic, api_key: ${{SWEEP_ANTHROPIC_KEY}}, base_url: {upstream_url}}}
model_categories:
  large: gpt/gpt-4o
  small: claude/claude-haiku-4-5
retry: {{attempts: 2, initial_backoff_ms: 5, max_backoff_ms: 10, budget_s: 5}}
"""


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(logging.getLogger("claude_any"), "propagate", True)
    with caplog.at_level(logging.DEBUG):  # the root logger: claude_any, httpx, httpcore, uvicorn
        for name in ("claude_any", "httpx", "httpcore", "uvicorn", "uvicorn.error"):
            caplog.set_level(logging.DEBUG, logger=name)
        yield


def test_no_key_appears_in_any_output(
    upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    everything_logged: None,
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    seen: list[str] = []  # everything a user or a log reader could see

    # compile and explain, as a user runs them
    config_path = tmp_path / "config.yaml"
    config_path.write_text(config(upstream.url), encoding="utf-8")
    routes_path = tmp_path / "routes.json"
    assert main(["compile", str(config_path), "-o", str(routes_path)]) == 0
    seen.append(routes_path.read_text(encoding="utf-8"))
    for model in ("claude-sonnet-4-6", "claude-haiku-4-5", "large"):
        assert main(["explain", model, "--routes", str(routes_path)]) == 0
    assert main(["explain", "claude-sonnet-4-6", "--config", str(config_path)]) == 0
    out = capsys.readouterr()
    seen += [out.out, out.err]
    assert "${SWEEP_OPENAI_KEY}" in out.out or "***" in out.out  # explain showed the auth header, redacted

    # run it and talk to it
    server = ThreadServer(create_app(RoutingTable.load(str(routes_path)), dict(KEYS))).start()
    try:
        url = server.url
        token = {"x-api-key": KEYS["SWEEP_GATEWAY_TOKEN"]}
        body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": HELLO}
        chunks = [{"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}, DONE]
        echoed = {"error": {"message": f"Incorrect API key provided: {KEYS['SWEEP_OPENAI_KEY']}"}}
        anthropic_reply = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": "from claude"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
        upstream.script(
            Reply(json=ANSWER),  # plain
            Reply(chunks=chunks),  # streamed
            Reply(status=429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "1"}),
            Reply(json=ANSWER),  # ... retried
            Reply(status=401, json=echoed),  # an upstream that quotes the key back
            Reply(json=anthropic_reply),  # pass-through to the anthropic provider
        )
        responses = [
            httpx.post(url + "/v1/messages", json=body, headers=token),
            httpx.post(url + "/v1/messages", json={**body, "stream": True}, headers=token),
            httpx.post(url + "/v1/messages", json=body, headers=token),
            httpx.post(url + "/v1/messages", json=body, headers=token),
            httpx.post(url + "/v1/messages", json={**body, "model": "claude-haiku-4-5"}, headers=token),
            httpx.post(url + "/v1/messages", json=body, headers={"x-api-key": "wrong"}),
            httpx.post(url + "/v1/messages", json={**body, "model": "mystery-model"}, headers=token),
            httpx.post(url + "/v1/messages", content=b"{not json", headers=token),
            httpx.post(url + "/v1/messages/count_tokens", json=body, headers=token),
            httpx.get(url + "/v1/models", headers=token),
        ]
        sdk = anthropic.Anthropic(base_url=url, api_key=KEYS["SWEEP_GATEWAY_TOKEN"], max_retries=0)
        upstream.script(Reply(chunks=chunks))
        with sdk.messages.stream(model="claude-sonnet-4-6", max_tokens=10, messages=HELLO) as stream:  # type: ignore[arg-type]
            seen.append(stream.get_final_message().model_dump_json())
    finally:
        server.stop()

    assert [r.status_code for r in responses] == [200, 200, 200, 401, 200, 401, 404, 400, 200, 200]
    for response in responses:
        seen.append(response.text)
        seen.append(json.dumps(dict(response.headers)))
    seen += [record.getMessage() for record in caplog.records]
    seen.append(caplog.text)

    # The keys were really used upstream, so their absence everywhere else means something.
    sent = json.dumps([r.headers for r in upstream.requests])
    for name in ("SWEEP_OPENAI_KEY", "SWEEP_TEAM_KEY", "SWEEP_ANTHROPIC_KEY"):
        assert KEYS[name] in sent, f"{name} never reached the upstream"
    assert KEYS["SWEEP_GATEWAY_TOKEN"] not in sent, "the inbound token was forwarded upstream"

    everything = "\n".join(seen)
    assert len(caplog.records) > 10  # the DEBUG capture really captured
    for name, value in KEYS.items():
        assert value not in everything, f"{name} leaked"
