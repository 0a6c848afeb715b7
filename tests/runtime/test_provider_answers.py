"""What the gateway does with a provider's answer once it has started, over real loopback HTTP.

- size: a stream line or a non-streamed body over 32 MB (decoded: a gzip bomb too) is an Anthropic error,
  not a hang or a MemoryError;
- time: a non-streamed body may take as long as it likes while bytes keep coming; `timeouts.idle_s` is the
  longest silence;
- no retry once the status line came ("Only before the first byte"): a failure while reading a 200 body is
  answered as it is, and the provider is not asked to generate the same answer again;
- a reused keep-alive connection the provider had already closed costs no retry round.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from faults import FAST_RETRY, completion, fake_provider, request_body, resilient_table, sse_events
from loopback import FakeUpstream, Reply

from claude_any.runtime.call.upstream import MAX_ANSWER_BYTES
from claude_any.table import Timeouts

Gateway = Callable[..., str]
MB = 1024 * 1024
IDLE_S = 0.5
SHORT_IDLE = Timeouts(connect_s=2.0, first_byte_s=2.0, idle_s=IDLE_S, ping_s=0.05)


def post(url: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(url + "/v1/messages", json=body, timeout=30, **kw)


@pytest.fixture
def single(upstream: FakeUpstream, gateway: Gateway) -> str:
    """One target (`large`), with three tries (the fast retry policy)."""
    return gateway(resilient_table([fake_provider(upstream.url)]))


@pytest.fixture
def short_idle(upstream: FakeUpstream, gateway: Gateway) -> str:
    """The same, with an idle limit of half a second."""
    return gateway(resilient_table([fake_provider(upstream.url)], timeouts=SHORT_IDLE))


JSON = {"content-type": "application/json"}  # a non-streamed answer sent in pieces is still JSON


def _pieces(text: str, count: int) -> list[str]:
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)]


# --- size --------------------------------------------------------------------------------------------------


def test_the_limit_is_32_mb() -> None:
    assert MAX_ANSWER_BYTES == 32 * MB


def test_a_stream_line_over_the_limit_ends_the_stream_with_an_error(
    upstream: FakeUpstream, single: str
) -> None:
    first = {"choices": [{"index": 0, "delta": {"content": "hello"}, "finish_reason": None}]}
    upstream.script(Reply(chunks=[first, "data: " + "x" * (MAX_ANSWER_BYTES + 1)]))
    response = post(single, request_body(stream=True))
    assert response.status_code == 200
    events = sse_events(response.text)
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    assert "longer than 32 MB" in events[-1][1]["error"]["message"]
    assert len(upstream.requests) == 1


def test_a_body_over_the_limit_is_an_error_and_not_retried(upstream: FakeUpstream, single: str) -> None:
    upstream.script(Reply(raw=b'{"pad": "' + b"x" * MAX_ANSWER_BYTES + b'"}'))
    response = post(single, request_body())
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "api_error"
    assert "larger than 32 MB" in response.json()["error"]["message"]
    assert len(upstream.requests) == 1


def _gzip_bomb(decoded_mb: int) -> bytes:
    """A gzip body that decodes to `decoded_mb` MB of one JSON string, made without holding it whole."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    parts = [packer.compress(b'{"pad": "')]
    block = b"0" * MB
    parts += [packer.compress(block) for _ in range(decoded_mb)]
    parts += [packer.compress(b'"}'), packer.flush()]
    return b"".join(parts)


def test_a_gzip_bomb_stops_at_the_limit(upstream: FakeUpstream, single: str) -> None:
    bomb = _gzip_bomb(256)
    assert len(bomb) < MB  # what travels; 256 MB once decoded
    upstream.script(Reply(raw=bomb, headers={"content-encoding": "gzip", "content-type": "application/json"}))
    tracemalloc.start()
    try:
        response = post(single, request_body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 502
    assert "larger than 32 MB" in response.json()["error"]["message"]
    assert peak < 3 * MAX_ANSWER_BYTES  # decoding stopped near the limit, far from 256 MB


def test_a_gzipped_answer_under_the_limit_is_read(upstream: FakeUpstream, single: str) -> None:
    body = json.dumps(completion("unzipped")).encode()
    upstream.script(Reply(raw=gzip.compress(body), headers={"content-encoding": "gzip"}))
    response = post(single, request_body())
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == "unzipped"


# --- time and retries ---------------------------------------------------------------------------------------


def test_a_body_arriving_steadily_for_longer_than_idle_s_is_fine(
    upstream: FakeUpstream, short_idle: str
) -> None:
    """idle_s (0.5 s here) is the longest silence, not a deadline for the whole body: this one takes 1.5 s."""
    pieces = _pieces(json.dumps(completion("slow but steady")), 15)
    upstream.script(Reply(chunks=pieces, chunk_delay=0.1, headers=JSON))
    response = post(short_idle, request_body())
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == "slow but steady"
    assert response.headers["x-claude-any-attempts"] == "large:200"


def test_a_body_silent_for_idle_s_is_a_timeout_and_not_retried(
    upstream: FakeUpstream, short_idle: str
) -> None:
    pieces = _pieces(json.dumps(completion("too slow")), 2)
    upstream.script(*[Reply(chunks=pieces, chunk_delay=4 * IDLE_S, headers=JSON) for _ in range(3)])
    response = post(short_idle, request_body())
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"
    assert "idle_s" in response.json()["error"]["message"]
    assert response.headers["x-claude-any-attempts"] == "large:timeout"
    assert len(upstream.requests) == 1  # the provider was not asked to generate it again


def test_a_body_cut_midway_is_an_error_and_not_retried(upstream: FakeUpstream, single: str) -> None:
    start = json.dumps(completion("cut"))[:20]
    upstream.script(*[Reply(chunks=[start, RuntimeError("cut")], headers=JSON) for _ in range(3)])
    response = post(single, request_body())
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "api_error"
    assert response.headers["x-claude-any-attempts"] == "large:network"
    assert len(upstream.requests) == 1


def test_a_status_before_the_body_is_still_retried(upstream: FakeUpstream, single: str) -> None:
    """The control: a failure before the answer starts is retried as before."""
    upstream.script(Reply(status=503, json={"error": {"message": "busy"}}), Reply(json=completion("ok")))
    response = post(single, request_body())
    assert response.status_code == 200
    assert response.headers["x-claude-any-attempts"] == "large:503,large:200"


# --- connections -------------------------------------------------------------------------------------------


class IdleClosingUpstream:
    """An OpenAI-style upstream (asyncio, in a thread) that answers the first request on each connection
    and keeps it alive, but reads a second request on the same connection and closes it unanswered: its
    idle timeout racing the gateway's next request."""

    def __init__(self) -> None:
        self.requests: list[int] = []  # the connection number of each request
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._connections = 0
        self.url = ""
        threading.Thread(target=self._run, daemon=True).start()
        assert self._ready.wait(5)

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        loop.run_forever()
        server.close()
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0.01))  # the cancelled handlers close their connections
        loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number, self._connections = self._connections, self._connections + 1
        answered = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                )
                await reader.readexactly(length)
                self.requests.append(number)
                if answered:
                    return  # closed, unanswered
                body = json.dumps(completion("fresh")).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
                await writer.drain()
                answered = True
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


def test_a_reused_connection_the_provider_had_closed_costs_no_retry_round(gateway: Gateway) -> None:
    provider = IdleClosingUpstream()
    try:
        url = gateway(resilient_table([fake_provider(provider.url, name="closing")], retry=FAST_RETRY))
        first, second = post(url, request_body()), post(url, request_body())
    finally:
        provider.stop()
    assert [first.status_code, second.status_code] == [200, 200]
    assert second.json()["content"][0]["text"] == "fresh"
    # sent again at once on a new connection, inside the client: not a failed try and a backoff
    assert second.headers["x-claude-any-attempts"] == "large:200"
    assert provider.requests == [0, 0, 1]
