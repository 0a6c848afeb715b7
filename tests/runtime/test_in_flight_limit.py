"""A provider's `max_in_flight`: requests past it wait for a slot, visibly (a log line) and at most
`timeouts.queue_s`, then get a retryable 529; the wait is not part of `first_byte_s`."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
from collections.abc import Callable

import httpx
import pytest
from loopback import FakeUpstream, Reply, make_table, openai_provider, target

from claude_any.table import Timeouts

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


def _limited_gateway(upstream: FakeUpstream, gateway: Callable[..., str], timeouts: Timeouts) -> str:
    provider = dataclasses.replace(openai_provider(upstream.url + "/v1", name="slow"), max_in_flight=1)
    table = make_table([provider], [target("large", provider, "gpt-4o"), target("small", provider, "gpt-4o")])
    return str(gateway(dataclasses.replace(table, timeouts=timeouts)))


def _post(url: str) -> httpx.Response:
    return httpx.post(url + "/v1/messages", json=BODY, timeout=10)


@pytest.mark.usefixtures("propagating")
def test_a_request_past_max_in_flight_waits_queue_s_then_gets_a_529(
    upstream: FakeUpstream, gateway: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    url = _limited_gateway(upstream, gateway, Timeouts(queue_s=0.3))
    upstream.script(Reply(json=ANSWER, delay=1.5), Reply(json=ANSWER))
    with (
        caplog.at_level(logging.WARNING, logger="claude_any"),
        concurrent.futures.ThreadPoolExecutor() as pool,
    ):
        first = pool.submit(_post, url)
        while not upstream.requests:  # the first holds the only slot
            pass
        second = _post(url)
        assert first.result().status_code == 200
    assert second.status_code == 529
    error = second.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "overloaded_error"
    assert "max_in_flight" in error["error"]["message"] and "queue_s" in error["error"]["message"]
    assert len(upstream.requests) == 1  # the second never went out
    warnings = [r.getMessage() for r in caplog.records if "wait for a slot" in r.getMessage()]
    assert len(warnings) == 1
    assert "provider slow: 1 request(s) wait" in warnings[0] and "1 are in flight" in warnings[0]


def test_the_wait_for_a_slot_is_not_counted_in_first_byte_s(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    """Each request gets its whole `first_byte_s` once it is sent, however long it waited for its slot."""
    url = _limited_gateway(upstream, gateway, Timeouts(first_byte_s=1.2, queue_s=5))
    upstream.script(Reply(json=ANSWER, delay=0.8), Reply(json=ANSWER, delay=0.8))
    with concurrent.futures.ThreadPoolExecutor() as pool:
        first = pool.submit(_post, url)
        while not upstream.requests:
            pass
        second = _post(url)  # waits ~0.8 s for the slot, then ~0.8 s for its answer: over 1.2 s in all
        assert first.result().status_code == 200
    assert second.status_code == 200, second.text
    assert len(upstream.requests) == 2
