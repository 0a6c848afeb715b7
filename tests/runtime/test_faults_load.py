"""200 concurrent streams through one gateway: all complete, no upstream connection is left in use, open
file descriptors come back down, no per-request object survives, and memory stays flat over more batches."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from faults import FAST_TIMEOUTS, chunk, fake_provider, request_body, resilient_table
from loopback import DONE, TEST_ENV, FakeUpstream, Reply, ThreadServer
from translate.sse_check import check_anthropic_sse

from claude_any.runtime.call.stream_relay import SSEResponse
from claude_any.runtime.serve.access_log import RequestLog
from claude_any.runtime.serve.app import create_app
from claude_any.runtime.translate.chat.stream import StreamTranslator

STREAMS = 200
# Growth of the resident set allowed between two batches after a warm-up. Generous (allocator noise), so
# the precise leak check is the census of per-request objects below; this one catches unbounded buffers.
RSS_GROWTH_LIMIT = 32 * 1024 * 1024


@pytest.fixture
def loaded(upstream: FakeUpstream) -> Iterator[tuple[str, Any]]:
    """A gateway of its own (its pools are inspected), and the app behind it."""
    # All 200 streams are in flight at once (the default max_in_flight is 4096): generous timeouts, so a
    # slow machine does not turn into retries.
    timeouts = replace(FAST_TIMEOUTS, first_byte_s=60, idle_s=60)
    app = create_app(resilient_table([fake_provider(upstream.url)], timeouts=timeouts), TEST_ENV)
    server = ThreadServer(app).start()
    yield server.url, app
    server.stop()


def _script(upstream: FakeUpstream, count: int) -> None:
    chunks = [chunk({"content": f"part {i} "}) for i in range(5)] + [chunk({}, "stop"), DONE]
    upstream.script(*[Reply(chunks=chunks) for _ in range(count)])


async def _batch(url: str, count: int) -> list[str]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one() -> str:
            response = await client.post("/v1/messages", json=request_body(stream=True))
            assert response.status_code == 200, response.text
            return response.text

        return await asyncio.gather(*(one() for _ in range(count)))


def _rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _live(*kinds: type) -> dict[str, int]:
    """How many objects of each kind are still alive (after a collection); only the non-zero ones."""
    gc.collect()
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        for kind in kinds:
            if isinstance(obj, kind):
                counts[kind.__name__] = counts.get(kind.__name__, 0) + 1
    return counts


def _survivors() -> dict[str, int]:
    """Per-request objects still alive once the gateway had a moment to finish closing (the client has its
    last byte slightly before the gateway's cleanup is done)."""
    deadline = time.monotonic() + 5
    while (alive := _live(StreamTranslator, SSEResponse, RequestLog, httpx.Response)) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    return alive


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _upstream_connections(app: Any) -> list[Any]:
    """Every open connection of the provider's client, idle or in use."""
    connections: list[Any] = app.state.gateway.clients.connections("fake")
    return connections


def _settled(app: Any) -> bool:
    """True once every upstream connection is idle; a response's last byte can reach the client a moment
    before the gateway has closed its upstream side, so this waits (a little) for that."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if all(connection.is_idle() for connection in _upstream_connections(app)):
            return True
        time.sleep(0.01)
    return False


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count descriptors")
def test_200_concurrent_streams_leak_nothing(upstream: FakeUpstream, loaded: tuple[str, Any]) -> None:
    url, app = loaded
    fds_before = _open_fds()

    _script(upstream, STREAMS)
    texts = asyncio.run(_batch(url, STREAMS))
    expected = "".join(f"part {i} " for i in range(5)).strip()
    for text in texts:
        events = check_anthropic_sse(text)
        assert events[-1]["type"] == "message_stop"
        said = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
        assert said.strip() == expected
    assert len(upstream.requests) == STREAMS

    assert _settled(app), "an upstream stream is still open"
    # Kept alive: at most one connection per stream that was in flight at once, never more.
    assert len(_upstream_connections(app)) <= STREAMS

    rss_first = _rss()  # after a warm-up batch: pools, caches and the allocator's arenas are in place
    _script(upstream, STREAMS)
    asyncio.run(_batch(url, STREAMS))
    rss_second = _rss()
    assert rss_second - rss_first < RSS_GROWTH_LIMIT, f"memory grew by {rss_second - rss_first} bytes"
    assert _survivors() == {}, "per-request objects outlived their requests"
    assert _settled(app)
    # Client sockets are closed and upstream ones pooled: descriptors come back to where they were, give or
    # take the keep-alive pool, whose connections count twice (the fake upstream runs in this process too).
    # The server closes its side of a finished client connection a moment after the client: poll briefly.
    allowed = 2 * len(_upstream_connections(app)) + 10
    deadline = time.monotonic() + 5
    while _open_fds() - fds_before > allowed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_fds() - fds_before <= allowed
