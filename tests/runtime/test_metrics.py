"""GET /metrics over real HTTP, after real requests through a running gateway (fake upstream, loopback):
requests, errors, tokens, cost, retries, fallbacks, histograms, the open-streams gauge, auth, label bounds.
The exposition is read with prometheus-client's own parser."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from faults import FAST_RETRY, chunk, completion, error_body, fake_provider, request_body, resilient_table
from loopback import DONE, TEST_ENV, FakeUpstream, Reply, ThreadServer, make_table, target
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from claude_any.runtime.serve.access_log import RequestLog
from claude_any.runtime.serve.app import create_app
from claude_any.runtime.serve.metrics import AD_HOC_TARGETS, Metrics
from claude_any.table import NamedToken, Price, Provider, RoutingTable

TOKEN = {"authorization": "Bearer gw-secret"}  # TEST_ENV's GATEWAY_TOKEN
ALICE = {"authorization": "Bearer alice-secret"}
ENV = {**TEST_ENV, "ALICE_TOKEN": "alice-secret"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def with_tokens(table: RoutingTable) -> RoutingTable:
    named = (NamedToken("alice", "${ALICE_TOKEN}"),)
    server = replace(table.server, auth_token="${GATEWAY_TOKEN}", tokens=named)
    return replace(table, server=server, prices={"large": Price(2.0, 8.0)})  # dollars per million tokens


@pytest.fixture
def chained(upstream: FakeUpstream) -> Iterator[str]:
    """A fresh gateway (fresh metrics): `large` then `small` on the fake upstream, retried fast."""
    table = with_tokens(resilient_table([fake_provider(upstream.url)], ("large", "small"), retry=FAST_RETRY))
    server = ThreadServer(create_app(table, ENV)).start()
    try:
        yield server.url
    finally:
        server.stop()


def scrape(url: str) -> Samples:
    response = httpx.get(url + "/metrics", headers=TOKEN, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def post(url: str, body: dict[str, Any], headers: dict[str, str] = TOKEN) -> httpx.Response:
    return httpx.post(url + "/v1/messages", json=body, headers=headers, timeout=10)


STREAM = [chunk({"role": "assistant", "content": "hi"}), chunk(finish="stop")]
STREAM_USAGE = {"id": "c", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}


def test_requests_tokens_cost_errors_and_histograms_by_target(upstream: FakeUpstream, chained: str) -> None:
    upstream.script(
        Reply(json=completion()),  # 3 tokens in, 1 out
        Reply(chunks=[*STREAM, STREAM_USAGE, DONE]),  # 7 in, 2 out
        Reply(status=400, json=error_body("no such parameter")),  # not retried, no fallback
    )
    assert post(chained, request_body(), ALICE).status_code == 200
    assert post(chained, request_body(stream=True)).status_code == 200
    assert post(chained, request_body()).status_code == 400
    samples = scrape(chained)

    assert value(samples, "claude_any_requests_total", target="large", status="200") == 2
    assert value(samples, "claude_any_requests_total", target="large", status="400") == 1
    assert value(
        samples, "claude_any_errors_total", target="large", status="400", type="invalid_request_error"
    )
    assert value(samples, "claude_any_tokens_total", target="large", kind="input") == 3 + 7
    assert value(samples, "claude_any_tokens_total", target="large", kind="output") == 1 + 2
    assert value(samples, "claude_any_cost_usd_total", target="large") == pytest.approx(
        (10 * 2 + 3 * 8) / 1e6
    )
    assert value(samples, "claude_any_user_requests_total", user="alice") == 1
    assert value(samples, "claude_any_user_requests_total", user="") == 2
    assert value(samples, "claude_any_user_cost_usd_total", user="alice") == pytest.approx((3 * 2 + 8) / 1e6)
    assert value(samples, "claude_any_request_duration_seconds_count", target="large") == 3
    assert value(samples, "claude_any_request_duration_seconds_bucket", target="large", le="+Inf") == 3
    assert value(samples, "claude_any_time_to_first_token_seconds_count", target="large") == 1  # streams only
    assert value(samples, "claude_any_open_streams") == 0
    assert value(samples, "claude_any_provider_in_flight", provider="fake") == 0
    assert value(samples, "claude_any_provider_connections", provider="fake", state="idle") >= 1
    assert value(samples, "claude_any_retries_total", target="large") == 0

    # the scrape itself was a request too, of no target
    assert value(scrape(chained), "claude_any_requests_total", target="none", status="200") == 1


def test_retries_and_fallbacks_are_counted_where_the_relay_decides_them(
    upstream: FakeUpstream, chained: str
) -> None:
    upstream.script(
        Reply(status=503, json=error_body("busy")),  # large
        Reply(status=503, json=error_body("busy")),  # small: a fallback
        Reply(json=completion()),  # large again: a retry
        Reply(status=503, json=error_body("busy")),  # large
        Reply(json=completion()),  # small: a fallback
    )
    first = post(chained, request_body())
    assert first.headers["x-claude-any-attempts"] == "large:503,small:503,large:200"
    second = post(chained, request_body())
    assert second.headers["x-claude-any-attempts"] == "large:503,small:200"
    samples = scrape(chained)
    assert value(samples, "claude_any_retries_total", target="large") == 1
    assert value(samples, "claude_any_fallbacks_total", target="large") == 1
    assert value(samples, "claude_any_fallbacks_total", target="small") == 1
    assert value(samples, "claude_any_requests_total", target="small", status="200") == 1


def test_an_open_stream_is_counted_until_it_ends(upstream: FakeUpstream, chained: str) -> None:
    upstream.script(Reply(chunks=[STREAM[0], 1.0, STREAM[1], DONE]))  # held open a second mid-answer
    with httpx.stream(
        "POST", chained + "/v1/messages", json=request_body(stream=True), headers=TOKEN
    ) as held:
        assert held.status_code == 200
        assert value(scrape(chained), "claude_any_open_streams") == 1
        assert "message_stop" in held.read().decode()
    assert value(scrape(chained), "claude_any_open_streams") == 0


def test_streams_are_counted_by_how_they_ended(upstream: FakeUpstream, chained: str) -> None:
    upstream.script(
        Reply(chunks=[*STREAM, DONE]),
        Reply(chunks=[STREAM[0], ConnectionResetError()]),  # cut mid-answer: the client gets an error event
        Reply(chunks=[STREAM[0], 30.0, STREAM[1], DONE]),  # the client leaves while it is held open
    )
    assert "message_stop" in post(chained, request_body(stream=True)).text
    assert "event: error" in post(chained, request_body(stream=True)).text
    with httpx.stream(
        "POST", chained + "/v1/messages", json=request_body(stream=True), headers=TOKEN
    ) as left:
        assert left.status_code == 200
    deadline = time.monotonic() + 10  # the gateway sees the close at its next write or read
    while value(samples := scrape(chained), "claude_any_open_streams") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert value(samples, "claude_any_streams_total", target="large", end="complete") == 1
    assert value(samples, "claude_any_streams_total", target="large", end="failed") == 1
    assert value(samples, "claude_any_streams_total", target="large", end="client_gone") == 1


def test_metrics_need_the_api_token(chained: str) -> None:
    assert httpx.get(chained + "/metrics", timeout=10).status_code == 401
    wrong = httpx.get(chained + "/metrics", headers={"authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    assert wrong.json()["type"] == "error"
    assert httpx.get(chained + "/metrics", headers=ALICE, timeout=10).status_code == 200


ECHO = Provider("echo", "echo", "chat", {})


def labelled_targets(exposition: str) -> dict[str, float]:
    family = next(f for f in text_string_to_metric_families(exposition) if f.name == "claude_any_requests")
    return {sample.labels["target"]: sample.value for sample in family.samples}


def test_ad_hoc_models_past_the_cap_are_counted_as_provider_other() -> None:
    """Over HTTP (the echo provider: no network), three times the cap of distinct `provider/model` names."""
    table = make_table([ECHO], [target("large", ECHO, "echo-1"), target("small", ECHO, "echo-2")])
    server = ThreadServer(create_app(table, TEST_ENV)).start()
    sent = 3 * AD_HOC_TARGETS
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            body = {"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            for i in range(sent):
                assert (
                    client.post("/v1/messages", json={**body, "model": f"echo/model-{i}"}).status_code == 200
                )
            assert client.post("/v1/messages", json={**body, "model": "claude-sonnet-4-6"}).status_code == 200
            counts = labelled_targets(client.get("/metrics").text)
    finally:
        server.stop()
    assert len(counts) == AD_HOC_TARGETS + 2  # the first ones as themselves, the rest folded; `large`
    assert counts["echo/other"] == sent - AD_HOC_TARGETS
    assert counts["echo/model-0"] == 1
    assert counts["large"] == 1  # a configured target is never folded


def test_ten_thousand_ad_hoc_models_keep_the_registry_within_its_cap() -> None:
    """The same bound at 10,000 names, through the listener each request calls (HTTP costs minutes here)."""
    metrics = Metrics(lambda: {"large", "small"})
    for i in range(10_000):
        log = RequestLog("POST", "/v1/messages", f"req_{i}")
        log.target, log.status, log.tokens_in, log.tokens_out = f"echo/model-{i}", 200, 10, 2
        log.emit()
        metrics.record(log)
    exposition = generate_latest(metrics.registry).decode()
    counts = labelled_targets(exposition)
    assert len(counts) == AD_HOC_TARGETS + 1
    assert counts["echo/other"] == 10_000 - AD_HOC_TARGETS
    series = sum(len(f.samples) for f in text_string_to_metric_families(exposition))
    assert series < 100 * AD_HOC_TARGETS  # every family by target is as small as the label set
