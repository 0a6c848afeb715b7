"""What a stream holds while it is answered (issue #20, item 2): once the provider's answer has started,
a stream keeps only what translating the answer needs, not the client's parsed request nor the body sent
to the provider. Claude Code's first request is about 49 KB; late in a session its requests are 10 to 20
times larger, and what a stream holds must not grow with them.

Measured with tracemalloc: N streams are held open in the middle of their answer (the fake provider sent
the first token and waits), and the memory allocated since before they started and still alive is divided
by N. Everything of the gateway's counts (uvicorn, aiohttp, the app); the fake provider's and the client's
allocations, which run in the same process, are left out by their frames, and so are the usage ledger's
writer thread's. A bound on memory, not on time.
"""

from __future__ import annotations

import gc
import json
import socket
import threading
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest
from faults import FAST_TIMEOUTS, chunk, fake_provider, resilient_table
from loopback import DONE, FIXTURES, FakeUpstream, Reply

STREAMS = 4
# Allocations made by the fake provider and by this client (same process) are not the gateway's: told
# apart by their frames, which are seen within this many of the innermost.
_FRAMES = 24
_NOT_THE_GATEWAY = [
    tracemalloc.Filter(False, __file__, all_frames=True),
    tracemalloc.Filter(False, "*/loopback.py", all_frames=True),
    tracemalloc.Filter(False, tracemalloc.__file__),
    # The usage ledger's writer thread (SQL statements, cursors) works on its own clock, whatever the
    # streams do: not what a stream holds.
    tracemalloc.Filter(False, "*/claude_any/usage/*", all_frames=True),
]
PER_STREAM_LIMIT = 100 * 1024  # issue #20: at most 100 KB per stream in flight
# What a 10 times larger request may add to each stream: noise (a few KB), not the request (its parsed
# form alone is several times its 500 KB of JSON).
GROWTH_LIMIT = 16 * 1024


# tracemalloc slows everything down: no stream may be ended as stalled meanwhile
_PATIENT = replace(FAST_TIMEOUTS, connect_s=60.0, first_byte_s=60.0, idle_s=60.0, ping_s=60.0)


def _claude_code_request() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "cc_first_request_say_hi.json").read_text())
    return body


def _late_session_request(size: int) -> dict[str, Any]:
    """Claude Code's request after many turns of reading files: its first request with tool-use rounds
    added until its JSON is about `size` bytes."""
    body = _claude_code_request()
    first, *rest = body["messages"]
    turns: list[dict[str, Any]] = [first]
    n = 0
    while len(json.dumps({**body, "messages": turns})) < size:
        call_id = f"toolu_{n:020d}"
        source = "".join(f"    line {i} of file {n}: x = compute({i}, {n})\n" for i in range(60))
        turns += [
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"Reading file {n}."},
                    {"type": "tool_use", "id": call_id, "name": "Read", "input": {"file_path": f"/p/{n}.py"}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": source}]},
        ]
        n += 1
    body["messages"] = [*turns, *rest]
    return body


def _raw_request(url: str, body: dict[str, Any]) -> bytes:
    """The whole HTTP request, built once: every stream sends the same bytes object."""
    content = json.dumps(body).encode()
    host = urlsplit(url).netloc
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(content)}\r\n\r\n"
    )
    return head.encode() + content


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        data = sock.recv(65536)
        if not data:
            break
        seen = seen[-len(marker) :] + data  # only the tail: the client's memory is not the gateway's
    return seen


def _stream_held(
    url: str, upstream: FakeUpstream, body: dict[str, Any], streams: int, *, first: Reply | None = None
) -> float:
    """The memory the gateway holds per stream while `streams` streams wait mid-answer, in bytes. With
    `first`, each request's first target answers that (a failure) and the fallback streams."""
    raw = _raw_request(url, body)
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)

    def round_(measure: bool) -> float:
        release = threading.Event()
        answer = [chunk({"role": "assistant", "content": "Hi"}), release, chunk({}, "stop"), DONE]
        streamed = Reply(chunks=answer)
        # `large` (gpt-4o) answers `first` if given, `small` (gpt-4o-mini) the stream
        upstream.responder = lambda asked: first if first and asked.body["model"] == "gpt-4o" else streamed
        if measure:
            # Garbage in a reference cycle is memory held too, until a collection that may come much later:
            # with the collector off, it shows.
            gc.collect()
            gc.disable()
        try:
            before = tracemalloc.take_snapshot() if measure else None
            socks = [socket.create_connection(address) for _ in range(streams)]
            try:
                for sock in socks:
                    sock.settimeout(30)
                    sock.sendall(raw)
                for sock in socks:  # every stream has sent its first token and waits for the provider
                    assert b"content_block_delta" in _read_until(sock, b"content_block_delta")
                upstream.requests.clear()
                held = 0.0
                if before is not None:
                    during = tracemalloc.take_snapshot().filter_traces(_NOT_THE_GATEWAY)
                    stats = during.compare_to(before.filter_traces(_NOT_THE_GATEWAY), "filename")
                    held = sum(stat.size_diff for stat in stats) / streams
                release.set()
                for sock in socks:  # each answer still ends well
                    assert b"message_stop" in _read_until(sock, b"message_stop")
            finally:
                release.set()
                for sock in socks:
                    sock.close()
        finally:
            gc.enable()
        return held

    # Traced from the start: a memo entry the measured round replaces is freed where it was counted.
    tracemalloc.start(_FRAMES)
    try:
        round_(measure=False)  # caches, pools and connections warmed for `streams` streams at once
        return round_(measure=True)
    finally:
        tracemalloc.stop()


@pytest.fixture
def stream_url(upstream: FakeUpstream, gateway: Callable[..., str]) -> str:
    return gateway(resilient_table([fake_provider(upstream.url)], timeouts=_PATIENT))


def test_a_stream_in_flight_holds_at_most_100_kb_for_claude_codes_request(
    upstream: FakeUpstream, stream_url: str
) -> None:
    body = _claude_code_request()
    held = _stream_held(stream_url, upstream, body, STREAMS)
    assert held <= PER_STREAM_LIMIT, f"{held / 1024:.0f} KB per stream, request {len(json.dumps(body))} B"


def test_what_a_stream_holds_does_not_grow_with_the_request(upstream: FakeUpstream, stream_url: str) -> None:
    small, large = _claude_code_request(), _late_session_request(500_000)
    held_small = _stream_held(stream_url, upstream, small, STREAMS)
    held_large = _stream_held(stream_url, upstream, large, STREAMS)
    report = f"{held_small / 1024:.0f} KB per stream at 49 KB, {held_large / 1024:.0f} KB at 500 KB"
    assert held_large <= PER_STREAM_LIMIT, report
    assert held_large - held_small <= GROWTH_LIMIT, report


def test_a_stream_answered_by_a_fallback_holds_no_more(
    upstream: FakeUpstream, gateway: Callable[..., str]
) -> None:
    # The first target's failure is kept (for the error, should every target fail): not the request with it.
    failure = Reply(status=500, json={"error": {"message": "try another"}})
    url = gateway(resilient_table([fake_provider(upstream.url)], ("large", "small"), timeouts=_PATIENT))
    held = _stream_held(url, upstream, _claude_code_request(), STREAMS, first=failure)
    assert held <= PER_STREAM_LIMIT, f"{held / 1024:.0f} KB per stream after a fallback"
