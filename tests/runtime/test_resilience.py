"""Retries, fallbacks and error mapping over real loopback HTTP (fake OpenAI upstream, gateway under uvicorn).

The attempts header is the observable contract: `x-claude-any-attempts: large:429,large:200` lists every try
in order, `x-claude-any-target` names the target that answered (or failed last).
"""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import pytest
from faults import (
    FAST_RETRY,
    HELLO,
    MODEL,
    completion,
    error_body,
    fake_provider,
    request_body,
    resilient_table,
    sse_events,
)
from loopback import FakeUpstream, Reply

from claude_any.runtime.call import retry
from claude_any.table import RetryPolicy

Gateway = Callable[..., str]


def post(url: str, body: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
    return httpx.post(url + "/v1/messages", json=body or request_body(), timeout=10, **kw)


@pytest.fixture
def single(upstream: FakeUpstream, gateway: Gateway) -> str:
    """One target (`large`), retried with the fast policy."""
    return gateway(resilient_table([fake_provider(upstream.url)]))


@pytest.fixture
def chained(upstream: FakeUpstream, gateway: Gateway) -> str:
    """`large` then `small`, both on the fake upstream."""
    return gateway(resilient_table([fake_provider(upstream.url)], ("large", "small")))


# --- retries ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_429_with_retry_after_then_success(upstream: FakeUpstream, single: str, stream: bool) -> None:
    upstream.script(
        Reply(status=429, json=error_body("slow down"), headers={"retry-after-ms": "20"}),
        Reply(json=completion("second time lucky"))
        if not stream
        else Reply(chunks=[{"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}]),
    )
    response = post(single, request_body(stream=stream))
    assert response.status_code == 200
    assert response.headers["x-claude-any-attempts"] == "large:429,large:200"
    assert response.headers["x-claude-any-target"] == "large"
    assert len(upstream.requests) == 2
    if stream:
        assert sse_events(response.text)[-1][0] == "message_stop"
    else:
        assert response.json()["content"][0]["text"] == "second time lucky"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529, 408])
def test_retryable_statuses_are_retried(upstream: FakeUpstream, single: str, status: int) -> None:
    upstream.script(Reply(status=status, json=error_body("transient")), Reply(json=completion()))
    response = post(single)
    assert response.status_code == 200
    assert response.headers["x-claude-any-attempts"] == f"large:{status},large:200"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_never_retried_nor_fall_back(
    upstream: FakeUpstream, chained: str, status: int
) -> None:
    upstream.script(Reply(status=status, json=error_body("no")), Reply(json=completion()))
    response = post(chained)
    assert response.status_code == (400 if status == 422 else status)
    assert len(upstream.requests) == 1
    assert response.headers["x-claude-any-attempts"] == f"large:{status}"
    assert response.headers["x-claude-any-target"] == "large"


def test_attempts_bound_the_tries_and_the_last_error_is_returned(
    upstream: FakeUpstream, chained: str
) -> None:
    upstream.script(*[Reply(status=500, json=error_body(f"boom {i}")) for i in range(10)])
    response = post(chained)
    assert response.status_code == 500
    assert response.json()["error"] == {"type": "api_error", "message": "fake: boom 5"}
    assert len(upstream.requests) == 6  # 3 rounds of the 2-target chain
    assert response.headers["x-claude-any-attempts"] == ",".join(["large:500,small:500"] * 3)


def test_budget_stops_retries_but_every_target_is_tried_once(
    upstream: FakeUpstream, gateway: Gateway
) -> None:
    no_time = RetryPolicy(attempts=5, initial_backoff_ms=10, max_backoff_ms=10, budget_s=0)
    url = gateway(resilient_table([fake_provider(upstream.url)], ("large", "small"), retry=no_time))
    upstream.script(*[Reply(status=503, json=error_body("busy")) for _ in range(10)])
    response = post(url)
    assert response.status_code == 529
    assert response.headers["x-claude-any-attempts"] == "large:503,small:503"


def test_retry_after_beyond_the_budget_passes_the_429_through(upstream: FakeUpstream, single: str) -> None:
    upstream.script(
        Reply(status=429, json=error_body("come back tomorrow"), headers={"retry-after": "3600"}),
        Reply(json=completion()),
    )
    response = post(single)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3600"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert len(upstream.requests) == 1
    assert response.headers["x-claude-any-attempts"] == "large:429"


# Retry-After values no provider should send, and what a client gets of them: nothing.
NONSENSE_RETRY_AFTER = [
    {"retry-after": "-5"},
    {"retry-after": "nan"},
    {"retry-after": "inf"},
    {"retry-after": "1e400"},
    {"retry-after": "9" * 400},
    {"retry-after": "soon"},
    {"retry-after": "99999999999"},  # three thousand years
    {"retry-after": "Wed, 21 Oct 9999 07:28:30 GMT"},
    {"retry-after-ms": "-250"},
    {"retry-after-ms": "NaN", "retry-after": "Infinity"},
]


@pytest.mark.parametrize("headers", NONSENSE_RETRY_AFTER)
def test_a_nonsense_retry_after_is_ignored_and_the_backoff_applies(
    upstream: FakeUpstream, single: str, headers: dict[str, str]
) -> None:
    upstream.script(
        Reply(status=429, json=error_body("slow down"), headers=headers), Reply(json=completion())
    )
    response = post(single)
    assert response.status_code == 200
    assert response.headers["x-claude-any-attempts"] == "large:429,large:200"


@pytest.fixture
def once(upstream: FakeUpstream, gateway: Gateway) -> str:
    """One target, one try: a 429 goes to the client as it is mapped."""
    return gateway(resilient_table([fake_provider(upstream.url)], retry=RetryPolicy(attempts=1)))


@pytest.mark.parametrize("headers", NONSENSE_RETRY_AFTER)
def test_a_nonsense_retry_after_is_not_passed_on(
    upstream: FakeUpstream, once: str, headers: dict[str, str]
) -> None:
    upstream.script(Reply(status=429, json=error_body("slow down"), headers=headers))
    response = post(once)
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    assert "retry-after-ms" not in response.headers


@pytest.mark.parametrize(
    ("headers", "passed_on"),
    [
        ({"retry-after": " 7 "}, {"retry-after": "7"}),
        ({"retry-after": "2.5"}, {"retry-after": "3"}),  # whole seconds, rounded up
        ({"retry-after-ms": "1500"}, {"retry-after": "2", "retry-after-ms": "1500"}),
        ({"retry-after-ms": "x", "retry-after": "4"}, {"retry-after": "4"}),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, {"retry-after": "0"}),  # long past
    ],
)
def test_a_retry_after_is_passed_on_sanitised(
    upstream: FakeUpstream, once: str, headers: dict[str, str], passed_on: dict[str, str]
) -> None:
    upstream.script(Reply(status=429, json=error_body("slow down"), headers=headers))
    response = post(once)
    assert response.status_code == 429
    assert {k: v for k, v in response.headers.items() if k.startswith("retry-after")} == passed_on


def test_a_retry_after_date_is_passed_on_as_seconds(upstream: FakeUpstream, once: str) -> None:
    when = email.utils.formatdate(time.time() + 100, usegmt=True)
    upstream.script(Reply(status=429, json=error_body("slow down"), headers={"retry-after": when}))
    response = post(once)
    assert 90 <= int(response.headers["retry-after"]) <= 101


@pytest.mark.parametrize("seconds", ["9" * 400, "99999999999", "0.2"])
def test_a_retry_after_in_the_message_is_read_sanely(upstream: FakeUpstream, once: str, seconds: str) -> None:
    """Azure words it in the message; a number too large for a float once crashed the mapping (a 500)."""
    upstream.script(Reply(status=429, json=error_body(f"Please retry after {seconds} seconds.")))
    response = post(once)
    assert response.status_code == 429
    assert response.headers.get("retry-after") == ("1" if seconds == "0.2" else None)


def test_route_policy_overrides_the_table(upstream: FakeUpstream, gateway: Gateway) -> None:
    once = RetryPolicy(attempts=1)
    url = gateway(resilient_table([fake_provider(upstream.url)], route_retry=once))
    upstream.script(Reply(status=500, json=error_body("boom")), Reply(json=completion()))
    assert post(url).status_code == 500
    assert len(upstream.requests) == 1


def test_quota_and_billing_errors_are_not_retried(upstream: FakeUpstream, chained: str) -> None:
    upstream.script(
        Reply(status=429, json=error_body("You exceeded your current quota", "insufficient_quota")),
        Reply(json=completion()),
    )
    response = post(chained)
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "billing_error"
    assert response.headers["x-should-retry"] == "false"
    assert len(upstream.requests) == 1


# --- fallbacks -------------------------------------------------------------------------------------------


def test_500_then_fallback(upstream: FakeUpstream, chained: str) -> None:
    upstream.script(Reply(status=500, json=error_body("boom")), Reply(json=completion("from small")))
    response = post(chained)
    assert response.status_code == 200
    assert response.headers["x-claude-any-target"] == "small"
    assert response.headers["x-claude-any-attempts"] == "large:500,small:200"
    assert [r.body["model"] for r in upstream.requests] == ["gpt-4o", "gpt-4o-mini"]
    assert response.json()["content"][0]["text"] == "from small"


def test_connection_refused_falls_back(upstream: FakeUpstream, gateway: Gateway) -> None:
    down = fake_provider(f"http://127.0.0.1:{free_port()}", name="down")
    url = gateway(resilient_table([down, fake_provider(upstream.url)], ("large", "small")))
    upstream.script(Reply(json=completion("from the live one")))
    response = post(url)
    assert response.status_code == 200
    assert response.headers["x-claude-any-attempts"] == "large:connect,small:200"


def test_connection_refused_everywhere_is_a_502_after_the_retries(gateway: Gateway) -> None:
    down = fake_provider(f"http://127.0.0.1:{free_port()}", name="down")
    response = post(gateway(resilient_table([down])))
    assert response.status_code == 502
    assert "cannot connect" in response.json()["error"]["message"]
    assert response.headers["x-claude-any-attempts"] == "large:connect,large:connect,large:connect"


# --- failing fast on what retrying cannot fix ------------------------------------------------------------


def sdk_counting(url: str) -> tuple[anthropic.Anthropic, list[Any]]:
    """The official SDK with its default retries, and the list of requests it sends to the gateway."""
    sent: list[Any] = []
    http = anthropic.DefaultHttpxClient(event_hooks={"request": [sent.append]}, timeout=30)
    return anthropic.Anthropic(base_url=url, api_key="unused", http_client=http), sent


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (401, error_body("Incorrect API key provided: sk-test-openai", "invalid_api_key"),
         anthropic.AuthenticationError),
        (403, error_body("You do not have access to this model"), anthropic.PermissionDeniedError),
        (404, error_body("The model `gpt-9` does not exist", "model_not_found"), anthropic.NotFoundError),
        (404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment does not exist."}},
         anthropic.NotFoundError),
    ],
)  # fmt: skip
def test_what_retrying_cannot_fix_is_answered_at_once_and_not_retried_by_the_client(
    upstream: FakeUpstream, chained: str, status: int, body: dict[str, Any], error_class: type[Exception]
) -> None:
    upstream.responder = lambda _: Reply(status=status, json=body)
    client, sent = sdk_counting(chained)
    with pytest.raises(error_class) as raised:
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)  # type: ignore[arg-type]
    response = raised.value.response  # type: ignore[attr-defined]
    assert response.headers["x-should-retry"] == "false"
    assert (len(sent), len(upstream.requests)) == (1, 1)  # no retry, no fallback
    message = response.json()["error"]["message"]
    assert message.startswith("fake: ") and "sk-test-openai" not in message  # the provider's, scrubbed


def test_every_target_unreachable_is_said_plainly_and_not_retried_by_the_client(gateway: Gateway) -> None:
    down = fake_provider(f"http://127.0.0.1:{free_port()}", name="down")
    gone = fake_provider(f"http://127.0.0.1:{free_port()}", name="gone")  # (a host that does not resolve
    # fails the same way, as a ConnectError; not tried here, since a resolver without network may be slow)
    url = gateway(resilient_table([down, gone], ("large", "small")))
    client, sent = sdk_counting(url)
    with pytest.raises(anthropic.InternalServerError) as raised:
        client.messages.create(model=MODEL, max_tokens=20, messages=HELLO)  # type: ignore[arg-type]
    response = raised.value.response
    assert response.status_code == 502
    assert response.headers["x-should-retry"] == "false"
    assert len(sent) == 1
    assert response.headers["x-claude-any-attempts"] == ",".join(["large:connect,small:connect"] * 3)
    message = response.json()["error"]["message"]
    assert message.startswith("no target could be reached (connection refused, or the host name does not")
    assert "large (down: cannot connect to 127.0.0.1:" in message
    assert "small (gone: cannot connect to 127.0.0.1:" in message


def test_a_chain_that_was_reached_keeps_its_last_error(upstream: FakeUpstream, gateway: Gateway) -> None:
    down = fake_provider(f"http://127.0.0.1:{free_port()}", name="down")
    url = gateway(resilient_table([down, fake_provider(upstream.url)], ("large", "small")))
    upstream.responder = lambda _: Reply(status=503, json=error_body("busy"))
    response = post(url)
    assert response.status_code == 529
    assert response.json()["error"]["message"] == "fake: busy"
    assert "x-should-retry" not in response.headers  # worth retrying later: the client may


# --- error mapping over HTTP ---------------------------------------------------------------------------


def test_context_length_error_is_anthropics_wording(upstream: FakeUpstream, chained: str) -> None:
    message = (
        "This model's maximum context length is 128000 tokens. However, your messages resulted in "
        "130512 tokens. Please reduce the length of the messages."
    )
    upstream.script(Reply(status=400, json=error_body(message, "context_length_exceeded")))
    response = post(chained)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 130512 tokens > 128000 maximum",
    }
    assert len(upstream.requests) == 1


def test_azure_content_filter_is_a_clear_refusal(upstream: FakeUpstream, chained: str) -> None:
    body = {
        "error": {
            "message": "The response was filtered due to the prompt triggering the content policy.",
            "code": "content_filter",
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        }
    }
    upstream.script(Reply(status=400, json=body))
    response = post(chained)
    assert response.status_code == 400
    assert "filtered by the provider's content policy" in response.json()["error"]["message"]
    assert response.headers["x-should-retry"] == "false"
    assert len(upstream.requests) == 1


# --- the timing rules (no clock needed) ------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    policy = RetryPolicy(attempts=10, initial_backoff_ms=100, max_backoff_ms=500, budget_s=60)
    assert [retry.backoff(n, policy, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert [retry.backoff(n, policy, rand=lambda: 0.0) for n in (1, 2, 3)] == [0.05, 0.1, 0.2]


def test_retry_after_parsing() -> None:
    assert retry.retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry.retry_after({"retry-after": "7"}) == 7
    assert retry.retry_after({"retry-after-ms": "x", "retry-after": "2"}) == 2
    date = "Wed, 21 Oct 2015 07:28:30 GMT"
    assert retry.retry_after({"retry-after": date}, now=lambda: 1445412480.0) == 30
    assert retry.retry_after({"retry-after": date}, now=lambda: 1445412600.0) == 0
    assert retry.retry_after({"retry-after": "soon"}) is None
    assert retry.retry_after({"retry-after": "-5"}) is None
    assert retry.retry_after({}) is None
    for nonsense in ("nan", "inf", "-inf", "1e3", "1_000", "0x10", "+5", "9" * 5000, "86401"):
        assert retry.retry_after({"retry-after": nonsense}) is None, nonsense
        assert retry.retry_after({"retry-after-ms": nonsense + "000"}) is None, nonsense
    assert (
        retry.retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:30 -0000"}, now=lambda: 1445412480.0) == 30
    )
    assert retry.retry_after({"retry-after": "Fri, 31 Dec 99999 23:59:59 GMT"}) is None


def test_next_wait_prefers_the_longest_retry_after() -> None:
    assert retry.next_wait(1, FAST_RETRY, [None, 2.0, 0.5]) == 2.0
    assert 0.005 <= retry.next_wait(1, FAST_RETRY, [None]) <= 0.01


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
