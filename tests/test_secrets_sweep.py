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
from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.serve.app import create_app
from claude_any.table import RoutingTable

KEYS = {
    "SWEEP_OPENAI_KEY": "sk-sweep-openai-4e1f9b27c0d3",
    "SWEEP_TEAM_KEY": "team-sweep-88a1c6e0f4",
    "SWEEP_ANTHROPIC_KEY": "sk-ant-sweep-5d0b3a9e71",
    "SWEEP_GATEWAY_TOKEN": "gw-sweep-c2f7d91e6b",
    "SWEEP_BODY_SECRET": "body-sweep-7a3e19c4d2",  # in a provider's body template
    "SWEEP_TARGET_SECRET": "target-sweep-e05b6f81a9",  # in a category's headers template
}
ANSWER = {"choices": [{"message": {"content": "fine"}, "finish_reason": "stop"}], "usage": {}}
HELLO = [{"role": "user", "content": "hello"}]


def config(upstream_url: str) -> str:
    return f"""\
server: {{auth_token: ${{SWEEP_GATEWAY_TOKEN}}}}
providers:
  gpt: {{kind: openai, api_key: ${{SWEEP_OPENAI_KEY}}, base_url: {upstream_url}/v1,
        headers: {{X-Team-Key: "${{SWEEP_TEAM_KEY}}"}},
        body: {{tenant: "{{{{ provider }}}}:${{SWEEP_BODY_SECRET}}"}}}}
  claude: {{kind: anthropic, api_key: ${{SWEEP_ANTHROPIC_KEY}}, base_url: {upstream_url}}}
model_categories:
  large: {{target: gpt/gpt-4o, headers: {{X-Sig: "v1 ${{SWEEP_TARGET_SECRET}}"}}}}
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

        # Every other way a provider can quote a key back: long messages (cut for display), the templates'
        # secrets, mid-stream errors, and the pass-through's error bodies, answers and streamed bytes.
        openai_key, anthropic_key = KEYS["SWEEP_OPENAI_KEY"], KEYS["SWEEP_ANTHROPIC_KEY"]
        templated = f"tenant {KEYS['SWEEP_BODY_SECRET']}, signature {KEYS['SWEEP_TARGET_SECRET']}: refused"
        upstream.script(
            Reply(status=400, json={"error": {"message": straddling(openai_key)}}),
            Reply(status=400, json={"error": {"message": templated}}),
            Reply(chunks=[*chunks[:1], {"error": {"message": f"{openai_key} expired", "code": 500}}]),
            Reply(chunks=[*chunks[:1], ConnectionResetError()]),  # cut mid-stream
            Reply(status=401, json=anthropic_error("authentication_error", straddling(anthropic_key))),
            Reply(json={**anthropic_reply, "content": [{"type": "text", "text": f"key {anthropic_key}"}]}),
            Reply(chunks=anthropic_stream(anthropic_key), chunk_delay=0.05),
        )
        haiku = {**body, "model": "claude-haiku-4-5"}
        more = [
            httpx.post(url + "/v1/messages", json=body, headers=token),
            httpx.post(url + "/v1/messages", json=body, headers=token),
            httpx.post(url + "/v1/messages", json={**body, "stream": True}, headers=token),
            httpx.post(url + "/v1/messages", json={**body, "stream": True}, headers=token),
            httpx.post(url + "/v1/messages", json=haiku, headers=token),
            httpx.post(url + "/v1/messages", json=haiku, headers=token),
            httpx.post(url + "/v1/messages", json={**haiku, "stream": True}, headers=token),
        ]
    finally:
        server.stop()

    assert [r.status_code for r in responses] == [200, 200, 200, 401, 200, 401, 404, 400, 200, 200]
    assert [r.status_code for r in more] == [400, 400, 200, 200, 401, 200, 200]
    # The places the keys were quoted now say *** (so the sweep below has something to find).
    assert "***" in more[0].json()["error"]["message"]
    assert more[1].json()["error"]["message"].count("***") == 2
    assert '"type":"error"' in more[2].text and "***" in more[2].text
    assert '"type":"error"' in more[3].text
    assert "***" in more[4].json()["error"]["message"]
    assert more[5].json()["content"][0]["text"] == "key ***"
    assert more[6].text.count("***") == 2 and "event: error" in more[6].text
    responses += more
    for response in responses:
        seen.append(response.text)
        seen.append(json.dumps(dict(response.headers)))
    seen += [record.getMessage() for record in caplog.records]
    seen.append(caplog.text)

    # The keys were really used upstream, so their absence everywhere else means something.
    sent = json.dumps([(r.headers, r.body) for r in upstream.requests])
    for name in KEYS.keys() - {"SWEEP_GATEWAY_TOKEN"}:
        assert KEYS[name] in sent, f"{name} never reached the upstream"
    assert KEYS["SWEEP_GATEWAY_TOKEN"] not in sent, "the inbound token was forwarded upstream"

    everything = "\n".join(seen)
    assert len(caplog.records) > 10  # the DEBUG capture really captured
    for name, value in KEYS.items():
        half = len(value) // 2
        for part in (value, value[:half], value[half:]):  # a message cut inside a key leaves a part
            assert part not in everything, f"{name} leaked ({part!r})"


def straddling(key: str) -> str:
    """A provider message longer than what is shown, with `key` across the cut at 2,000 characters."""
    return "x" * (2000 - 3 * len(key) // 4) + key + " is not a valid key" + "." * 500


def anthropic_error(kind: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def anthropic_stream(key: str) -> list[object]:
    """A pass-through stream that quotes `key` in a text delta split across two reads, then in an error."""
    start = {
        "type": "message",
        "id": "msg_2",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [],
    }
    start |= {"stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
    delta = json.dumps(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": key}}
    )
    cut = delta.index(key) + len(key) // 2
    error = json.dumps(anthropic_error("overloaded_error", f"overloaded, key {key}"))
    return [
        f"event: message_start\ndata: {json.dumps({'type': 'message_start', 'message': start})}\n\n",
        'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        '"content_block":{"type":"text","text":""}}\n\n',
        f"event: content_block_delta\ndata: {delta[:cut]}",
        f"{delta[cut:]}\n\n",
        f"event: error\ndata: {error}\n\n",
    ]


def test_credentials_in_a_provider_url_are_refused_without_being_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `user:password@` in a base_url would be neither sent (the kinds authenticate by header) nor kept
    out of messages that name the host: compile refuses it at its position, and so does start-up for a
    URL that only has it once its `${VAR}` is resolved."""
    password = "url-sweep-pw-39d1c7"
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        "providers:\n"
        "  vllm: {kind: openai, base_url: 'https://me:${SWEEP_URL_PASSWORD}@vllm.example.com/v1'}\n"
        f"  local: {{kind: openai, base_url: 'http://me:{password}@127.0.0.1:8000/v1'}}\n"
        "  remote: {kind: openai, base_url: '${SWEEP_URL}'}\n"
        "model_categories: {large: remote/qwen, small: remote/qwen-small}\n",
        encoding="utf-8",
    )
    assert main(["compile", str(config_path), "-o", str(tmp_path / "routes.json")]) == 2
    err = capsys.readouterr().err
    assert f"{config_path}:2:" in err and f"{config_path}:3:" in err  # both URLs, at their position
    assert err.count("must not carry a user name or password") == 2
    assert password not in err

    # routes.json whose URL gets its credentials from the environment: refused before anything listens.
    config_path.write_text(
        "providers:\n  remote: {kind: openai, base_url: '${SWEEP_URL}'}\n"
        "model_categories: {large: remote/qwen, small: remote/qwen-small}\n",
        encoding="utf-8",
    )
    routes_path = tmp_path / "routes.json"
    assert main(["compile", str(config_path), "-o", str(routes_path)]) == 0
    env = {"SWEEP_URL": f"https://me:{password}@vllm.example.com/v1"}
    with pytest.raises(StartupError) as refused:
        create_app(RoutingTable.load(str(routes_path)), env)
    assert "providers.remote.base_url" in str(refused.value)
    assert "user name or password" in str(refused.value)
    assert password not in str(refused.value)
