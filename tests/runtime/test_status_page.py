"""/status and /status.json over real HTTP: the targets and their health, the last requests, today's spend,
the API's auth (a browser is asked for the token), and a page that shows client strings as text only.
The page in a real browser is tested in tests/e2e/test_e2e_status_page.py."""

from __future__ import annotations

import asyncio
import base64
import re
import sys

import httpx
import pytest
from faults import error_body, fake_provider, resilient_table
from loopback import NO_RETRY, TEST_ENV, FakeUpstream, Reply, ThreadServer

from claude_any.runtime.serve.access_log import RequestLog
from claude_any.runtime.serve.app import create_app
from claude_any.runtime.serve.recent_requests import WINDOW_S, RecentRequests, Seen, Spend

ALICE = {"x-api-key": "alice-secret-1"}
HTML = {**ALICE, "accept": "text/html,application/xhtml+xml"}
HELLO = [{"role": "user", "content": "hello"}]
XSS = "<script>document.title='owned'</script>"


def ok(prompt: int = 3, completion: int = 1) -> Reply:
    return Reply(
        json={
            "id": "c1",
            "object": "chat.completion",
            "model": "gpt-4o",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
        }
    )


def ask(url: str, model: str, headers: dict[str, str] = ALICE) -> httpx.Response:
    body = {"model": model, "max_tokens": 5, "messages": HELLO}
    return httpx.post(url + "/v1/messages", json=body, headers=headers, timeout=10)


def test_status_json_has_the_targets_the_requests_and_the_spend(
    upstream: FakeUpstream, status_gateway: str
) -> None:
    upstream.script(ok(1000, 500), ok(10, 5), Reply(status=500, json={"error": {"message": "down"}}))
    assert ask(status_gateway, "claude-sonnet-4-6").status_code == 200  # -> large
    assert ask(status_gateway, "claude-haiku-4-5", {"x-api-key": "bob-secret-2"}).status_code == 200  # small
    assert ask(status_gateway, "large").status_code >= 500
    assert ask(status_gateway, "no-such-model").status_code == 404  # no target: listed, never priced
    httpx.get(status_gateway + "/v1/models", headers=ALICE)  # not a request to a provider: not listed

    data = httpx.get(status_gateway + "/status.json", headers=ALICE).json()

    targets = {t["id"]: t for t in data["targets"]}
    assert list(targets) == ["large", "small"]
    assert targets["large"]["upstream"] == "fake/gpt-4o"
    assert (targets["large"]["requests"], targets["large"]["errors"]) == (2, 1)
    assert targets["large"]["error_rate"] == 0.5
    assert targets["large"]["p50_ms"] is not None and targets["large"]["p95_ms"] is not None
    assert (targets["small"]["requests"], targets["small"]["errors"]) == (1, 0)

    requests = data["requests"]
    assert [(r["user"], r["model"], r["target"], r["status"]) for r in requests] == [
        ("alice", "no-such-model", None, 404),
        ("alice", "large", "large", requests[1]["status"]),
        ("bob", "claude-haiku-4-5", "small", 200),
        ("alice", "claude-sonnet-4-6", "large", 200),
    ]
    first = requests[3]
    assert (first["upstream"], first["tokens_in"], first["tokens_out"]) == ("fake/gpt-4o", 1000, 500)
    assert first["cost_usd"] == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert requests[2]["cost_usd"] is None  # small has no price: unknown, not $0

    spend = data["spend_today"]
    assert spend["scope"] == "every instance on the usage database"
    users = {u["user"]: u for u in spend["users"]}
    assert users["alice"]["usd"] == pytest.approx(0.006) and users["alice"]["unpriced"] == 1  # the 500
    assert users["bob"] == {"user": "bob", "usd": 0.0, "unpriced": 1, "estimated": 0}


def test_a_try_that_failed_before_a_fallback_counts_against_its_target(upstream: FakeUpstream) -> None:
    table = resilient_table([fake_provider(upstream.url)], ("large", "small"), retry=NO_RETRY)
    server = ThreadServer(create_app(table, TEST_ENV)).start()  # its own: the ring starts empty
    try:
        _fallback_shows_on_the_status(upstream, server.url)
    finally:
        server.stop()


def _fallback_shows_on_the_status(upstream: FakeUpstream, url: str) -> None:
    upstream.script(Reply(status=500, json=error_body("down")), ok())  # large fails, small answers
    answered = ask(url, "claude-sonnet-4-6", {})
    assert answered.status_code == 200 and answered.headers["x-claude-any-attempts"] == "large:500,small:200"

    data = httpx.get(url + "/status.json").json()
    targets = {t["id"]: t for t in data["targets"]}
    assert (targets["large"]["requests"], targets["large"]["errors"]) == (1, 1)
    assert targets["large"]["error_rate"] == 1.0 and targets["large"]["last"] is not None
    assert targets["large"]["p50_ms"] is None  # the failed try's own time is not known
    assert (targets["small"]["requests"], targets["small"]["errors"]) == (1, 0)
    assert [(r["target"], r["status"]) for r in data["requests"]] == [("small", 200)]
    page = httpx.get(url + "/status", headers={"accept": "text/html"}).text
    row = re.search(r"<tr>\s*<td><code>large</code>.*?</tr>", page, re.S)
    assert row is not None and "100.0%" in row.group(0), page

    # Both fail: the last try is the request's own (its status), counted once; the earlier one beside it.
    upstream.script(Reply(status=500, json=error_body("down")), Reply(status=503, json=error_body("busy")))
    assert ask(url, "claude-sonnet-4-6", {}).headers["x-claude-any-attempts"] == "large:500,small:503"
    targets = {t["id"]: t for t in httpx.get(url + "/status.json").json()["targets"]}
    assert (targets["large"]["requests"], targets["large"]["errors"]) == (2, 2)
    assert (targets["small"]["requests"], targets["small"]["errors"]) == (2, 1)


def test_the_page_shows_unknown_cost_as_unknown_and_client_strings_as_text(
    upstream: FakeUpstream, status_gateway: str
) -> None:
    upstream.script(ok(), ok())
    assert ask(status_gateway, "claude-haiku-4-5").status_code == 200  # small: no price
    assert ask(status_gateway, "x" + XSS).status_code == 404  # a model name chosen by a client
    response = httpx.get(status_gateway + "/status", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<script" not in page.lower()
    assert "x&lt;script&gt;document.title=&#39;owned&#39;&lt;/script&gt;" in page
    row = re.search(
        r"<tr>\s*<td>[^<]*</td>\s*<td>alice</td>\s*<td><code>claude-haiku-4-5</code>.*?</tr>", page, re.S
    )
    assert row is not None and "unknown</td>" in row.group(0) and "$" not in row.group(0)
    assert "1</td>" in page  # alice: one request of unknown cost
    assert "every instance on the usage database" in page


def test_estimated_tokens_and_their_cost_are_marked(upstream: FakeUpstream, status_gateway: str) -> None:
    answer = ok().json
    del answer["usage"]  # the provider reports no usage: the gateway estimates the counts
    upstream.script(Reply(json=answer))
    assert ask(status_gateway, "claude-sonnet-4-6").status_code == 200  # large: priced
    (request,) = httpx.get(status_gateway + "/status.json", headers=ALICE).json()["requests"]
    assert request["tokens_estimated"] is True and request["cost_usd"] is not None
    spend = httpx.get(status_gateway + "/status.json", headers=ALICE).json()["spend_today"]["users"]
    assert spend == [{"user": "alice", "usd": request["cost_usd"], "unpriced": 0, "estimated": 1}]
    page = httpx.get(status_gateway + "/status", headers=HTML).text
    assert f'<td class="num">~{request["tokens_in"]}</td>' in page
    assert "(1 estimated)" in page


def test_the_page_has_a_strict_content_security_policy(status_gateway: str) -> None:
    response = httpx.get(status_gateway + "/status", headers=HTML)
    policy = response.headers["content-security-policy"]
    nonce = re.search(r"style-src 'nonce-([A-Za-z0-9_-]+)'", policy)
    assert nonce is not None
    assert policy.startswith("default-src 'none';") and "script-src" not in policy  # no script at all
    assert f'<style nonce="{nonce.group(1)}">' in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(status_gateway + "/status", headers=HTML).headers["content-security-policy"] != policy


def test_the_status_needs_a_token_and_a_browser_is_asked_for_it(status_gateway: str) -> None:
    for path in ("/status", "/status.json"):
        refused = httpx.get(status_gateway + path, headers={"accept": "text/html"})
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        assert refused.headers["www-authenticate"] == 'Basic realm="claude-any"'
        assert "www-authenticate" not in httpx.get(status_gateway + path).headers  # a script: no prompt
    # The API's own 401s do not ask a browser for a password.
    api = httpx.get(status_gateway + "/v1/models", headers={"accept": "text/html"})
    assert api.status_code == 401 and "www-authenticate" not in api.headers
    # What the browser then sends: the token as the Basic password (the user name is not what counts).
    basic = base64.b64encode(b"whoever:bob-secret-2").decode()
    assert (
        httpx.get(status_gateway + "/status", headers={"authorization": f"Basic {basic}"}).status_code == 200
    )
    shared = httpx.get(status_gateway + "/status.json", headers={"authorization": "Bearer gw-secret"})
    assert shared.status_code == 200


def test_a_refused_request_is_not_listed(upstream: FakeUpstream, status_gateway: str) -> None:
    assert ask(status_gateway, "claude-sonnet-4-6", {"x-api-key": "wrong"}).status_code == 401
    assert httpx.get(status_gateway + "/status.json", headers=ALICE).json()["requests"] == []


def test_refresh_is_checked(status_gateway: str) -> None:
    assert (
        '<meta http-equiv="refresh" content="10">' in httpx.get(status_gateway + "/status", headers=HTML).text
    )
    assert (
        "refresh" not in httpx.get(status_gateway + "/status?refresh=0", headers=HTML).text.split("<body>")[0]
    )
    for bad in ("-1", "x", "3601", "1e3"):
        response = httpx.get(status_gateway + f"/status?refresh={bad}", headers=HTML)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"


# --- the ring, the health window and the day's spend, without HTTP ---------------------------------------


def finished(
    at: float, target: str = "large", status: int = 200, latency: float = 10.0, **kw: object
) -> RequestLog:
    log = RequestLog("POST", "/v1/messages", f"req_{at}", at=at, target=target, status=status, **kw)  # type: ignore[arg-type]
    log.latency_ms = latency
    return log


def test_the_ring_is_bounded_and_lists_the_newest_first() -> None:
    recent = RecentRequests(size=3)
    for i in range(10):
        recent.record(finished(1000.0 + i, user=f"u{i}"))
    assert [seen.user for seen in recent.last(50)] == ["u9", "u8", "u7"]
    assert [seen.user for seen in recent.last(2)] == ["u9", "u8"]


def test_health_covers_the_window_and_ranks_latency() -> None:
    recent = RecentRequests()
    now = 100_000.0
    recent.record(finished(now - WINDOW_S - 1, status=500, latency=1))  # ended before the window
    for i in range(1, 21):
        recent.record(finished(now - 20 + i, latency=float(i), status=502 if i == 20 else 200))
    recent.record(finished(now, status=499, latency=1))  # a client that left: not the target's error
    recent.record(finished(now, target="-", status=400))  # never reached a target
    recent.record(finished(now, target="openai/gpt-x"))  # a target named by the request
    recent.record(finished(now - 2 * WINDOW_S, target="small", latency=1000 * (2 * WINDOW_S - 1)))  # ends now
    health = recent.health(["large", "small"], now)
    assert list(health) == ["large", "small", "openai/gpt-x"]
    large = health["large"]
    assert (large.requests, large.errors, large.p50_ms, large.p95_ms) == (21, 1, 10.0, 19.0)
    assert health["small"].requests == 1
    assert health["openai/gpt-x"].requests == 1
    assert large.last_at == now
    assert RecentRequests().health(["large"], now)["large"].error_rate is None


def test_the_spend_is_todays_and_unknown_costs_stay_apart() -> None:
    recent = RecentRequests()
    day = 20_000 * 86400.0
    recent.record(finished(day - 1, user="alice", cost_usd=5.0))  # yesterday
    recent.record(finished(day + 1, user="alice", cost_usd=0.25))
    recent.record(finished(day + 2, user="alice", cost_usd=None))  # sent, cost unknown
    recent.record(finished(day + 3, user="bob", target="-", status=404))  # never sent: nothing to price
    recent.record(finished(day + 4, user="", cost_usd=0.5))
    recent.record(finished(day - 5, user="bob", cost_usd=1.0))  # began yesterday, ended today
    recent.record(RequestLog("POST", "/v1/messages/count_tokens", "r", at=day + 5, user="bob"))  # not listed
    assert asyncio.run(recent.today(now=day + 10)) == {
        "alice": Spend(0.25, 1),
        "bob": Spend(0.0, 0),
        "": Spend(0.5, 0),
    }
    assert asyncio.run(recent.today(now=day + 86400)) == {}  # the next day, before its first request
    assert len(recent.last(50)) == 6


def _ring_bytes(records: list[Seen]) -> int:
    """What the ring's records hold, each object counted once however many records share it."""
    counted: set[int] = set()
    total = 0
    for record in records:
        for item in (record, *record, *record.failed_tries):
            if id(item) not in counted:
                counted.add(id(item))
                total += sys.getsizeof(item)
    return total


def test_a_ring_record_shares_the_strings_that_repeat(upstream: FakeUpstream) -> None:
    """The ring holds 5,000 requests for as long as the server runs: a record keeps one model name and
    one upstream label for all the requests that share them, not a copy each (about 150 bytes more)."""
    app = create_app(resilient_table([fake_provider(upstream.url)], retry=NO_RETRY), TEST_ENV)
    server = ThreadServer(app).start()
    try:
        count = 40
        upstream.script(*(ok(100_000, 1_000) for _ in range(count)))
        for _ in range(count):
            assert ask(server.url, "claude-sonnet-4-6", {}).status_code == 200
    finally:
        server.stop()
    records = app.state.process.recent.last(count)
    assert len(records) == count
    assert len({id(record.model) for record in records}) == 1
    assert len({id(record.upstream) for record in records}) == 1
    per_record = _ring_bytes(records) / count
    assert per_record < 320, per_record  # a 13-field tuple, its floats and large ints
