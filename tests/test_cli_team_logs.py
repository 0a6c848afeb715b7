"""`run --log-format json` and `/metrics` from a real `claude-any run`: every line one JSON object, a
request's line its usage record, no secret; with `--workers 2`, a scrape adds up both workers' counts."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from cli_process import Running, free_port, wait_until_listening
from loopback import DONE, FakeUpstream, Reply
from prometheus_client.parser import text_string_to_metric_families

from claude_any.runtime.serve.access_log import RequestLog

KEY = "sk-jsonlog-0123456789abcdef"  # the provider's key, which it quotes back
GATEWAY_TOKEN = "gw-jsonlog-secret-token"
REQUEST_KEYS = set(RequestLog("POST", "/", "r").fields()) | {"level", "logger"}
OTHER_KEYS = {"time", "level", "logger", "message"}


def completion(text: str) -> dict[str, object]:
    message = {"role": "assistant", "content": text}
    usage = {"prompt_tokens": 11, "completion_tokens": 4}
    return {"id": "c", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage}


def chunk(delta: dict[str, str] | None = None, finish: str | None = None) -> dict[str, object]:
    return {"id": "c", "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def json_lines(text: str) -> list[dict[str, object]]:
    lines = text.splitlines()
    assert lines
    parsed = [json.loads(line) for line in lines]  # every line, or this fails
    assert all(isinstance(entry, dict) for entry in parsed)
    return parsed


def test_json_log_lines_carry_the_ledger_fields_and_no_secret(upstream: FakeUpstream, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"providers:\n  up: {{kind: openai, base_url: '{upstream.url}/v1', api_key: '${{UP_KEY}}'}}\n"
        "model_categories: {large: up/gpt-4o, small: up/gpt-4o-mini}\n"
        "server: {auth_token: '${GATEWAY_TOKEN}'}\n"
        "retry: {attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 20}\n",
        encoding="utf-8",
    )
    upstream.script(
        Reply(status=503, json={"error": {"message": f"busy, {KEY}"}}),  # a warning line, then a retry
        Reply(json=completion(f"I was called with {KEY}")),
        Reply(chunks=[chunk({"content": "streamed"}), chunk(finish="stop"), DONE]),
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"UP_KEY": KEY, "GATEWAY_TOKEN": GATEWAY_TOKEN}
    server = Running(
        [str(config), "--port", str(port), "--log-format", "json", "--log-level", "debug"], tmp_path, env=env
    )
    auth = {"authorization": f"Bearer {GATEWAY_TOKEN}"}
    try:
        server.wait_for_line(r"serving http://")
        wait_until_listening(url)
        body = {
            "model": "claude-sonnet-4-6",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}],
        }
        assert httpx.post(url + "/v1/messages", json=body, headers=auth, timeout=10).status_code == 200
        streamed = httpx.post(url + "/v1/messages", json={**body, "stream": True}, headers=auth, timeout=10)
        assert streamed.status_code == 200
        forged = {**body, "model": 'nope\n{"level":"error"}\u2028'}  # a client string that would break a line
        assert httpx.post(url + "/v1/messages", json=forged, headers=auth, timeout=10).status_code == 404
        assert httpx.get(url + "/metrics", timeout=10).status_code == 401
    finally:
        _, stderr = server.interrupt()

    assert KEY not in stderr and GATEWAY_TOKEN not in stderr
    entries = json_lines(stderr)
    requests = [entry for entry in entries if "request_id" in entry and "message" not in entry]
    others = [entry for entry in entries if "message" in entry]
    assert len(requests) + len(others) == len(entries)
    assert all(set(entry) == REQUEST_KEYS for entry in requests), requests
    assert [(r["path"], r["status"], r["stream"], r["target"]) for r in requests[1:]] == [
        ("/v1/messages", 200, False, "large"),
        ("/v1/messages", 200, True, "large"),
        ("/v1/messages", 404, False, None),
        ("/metrics", 401, False, None),
    ]
    assert requests[0]["path"] == "/health"  # wait_until_listening's
    first = requests[1]
    assert (first["tokens_in"], first["tokens_out"], first["level"], first["logger"]) == (
        11,
        4,
        "info",
        "claude_any",
    )
    assert first["note"] == "attempts large:503,large:200" and first["upstream"] == "up/gpt-4o"
    assert requests[3]["model"] == 'nope\\n{"level":"error"}\\u2028'  # escaped as in the text log
    assert all(set(entry) <= OTHER_KEYS | {"exception"} for entry in others)
    warnings = [entry["message"] for entry in others if entry["level"] == "warning"]
    assert any("attempt 1: large failed (529 overloaded_error)" in str(message) for message in warnings)
    assert any(entry["level"] == "debug" for entry in others)  # each call's request, scrubbed


def test_two_workers_metrics_add_up_and_log_json(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["examples/quickstart.yaml", "--port", str(port), "--workers", "2", "--log-format", "json"]
    server = Running(args, tmp_path)
    body = {"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": [{"role": "user", "content": "w"}]}
    sent = 24
    try:
        server.wait_for_line(r"serving http://")
        wait_until_listening(url)

        def post(_: int) -> int:
            with httpx.Client() as client:  # a connection each: the kernel spreads them over both workers
                return client.post(url + "/v1/messages", json=body, timeout=10).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(post, range(sent))) == {200}
        scraped = []
        for _ in range(4):  # whichever worker answers, the sums are the same
            text = httpx.get(url + "/metrics", timeout=10).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            counts = {
                (s.labels["target"], s.labels["status"]): s.value
                for s in families["claude_any_requests"].samples
            }
            tokens = {
                s.labels["kind"]: s.value
                for s in families["claude_any_tokens"].samples
                if s.labels["target"] == "large"
            }
            duration = families["claude_any_request_duration_seconds"].samples
            count = next(
                s.value for s in duration if s.name.endswith("_count") and s.labels["target"] == "large"
            )
            scraped.append((counts[("large", "200")], count, tokens["output"] > 0))
    finally:
        _, stderr = server.interrupt()
    assert scraped == [(sent, sent, True)] * 4
    entries = json_lines(stderr)
    requests = [entry for entry in entries if entry.get("path") == "/v1/messages"]
    assert len(requests) == sent and all(set(entry) == REQUEST_KEYS for entry in requests)
