"""The benchmark's fake OpenAI-compatible upstream: a raw asyncio HTTP/1.1 server answering canned bytes.

It must cost next to nothing per request so that the baseline measures the network path and the load
generator, not a web framework: no parsing beyond the request head, replies prebuilt at start-up, keep-alive,
and a stream written as one socket write per SSE event (chunked transfer encoding, as OpenAI sends it) so the
gateway really receives a stream rather than one buffer.

Two profiles:

* instant (the default, `--first-byte-ms 0 --spread-ms 0`): every reply is written as soon as its request
  is read. This measures raw capacity (about 15,000 req/s here), so a gateway in front of it is judged
  on its CPU cost alone.
* paced (`--first-byte-ms F --spread-ms S`): a latency-bound upstream, like a real provider only faster.
  After a request is read, the reply head and the first SSE event are written F ms later and the other
  events evenly over the next S ms (event i of n at F + S*i/(n-1)); a JSON reply is written whole at
  F+S ms. Only the short (Claude Code) replies on SHORT_PATH are paced; the 2,000-chunk LONG_PATH reply
  and any other path stay instant. This reproduces the reference upstream of issue #6, whose
  targets (a req/s ratio and a TTFB overhead) only mean something against an upstream that takes time.

Token streams (`--tokens N --token-interval-ms I`, for the many-session scenario): a request to TOKENS_PATH
is answered at once with the stream's head and role event, then N one-token events I ms apart (the first
I ms after the request), then the finish, usage and [DONE] events. Each token's text holds the time it was
written (payloads.token_event), so the client can measure what every hop added. One loop timer serves all
the streams: it is armed for the earliest event due and writes every event due by then.

Pacing uses one loop timer per connection at a time (`loop.call_at`), not a task or a sleeping coroutine
per request: each connection keeps a queue of timed writes, so a second request on a busy connection has
its answer written after the first's, in order.

Run: `python -m bench.upstream [--port N] [--first-byte-ms F] [--spread-ms S] [--tokens N]
[--token-interval-ms I]`; it prints `PORT <n>` on stdout once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import itertools
import sys
import time
from collections import deque

from bench.payloads import (
    SHORT_PATH,
    TOKENS_PATH,
    canned_replies,
    token_event,
    token_stream_end,
    token_stream_start,
)

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024
_PACED_PATH = SHORT_PATH.encode()
_TOKENS_PATH = TOKENS_PATH.encode()
# Events due this close to the timer's firing are written in the same callback.
_TOKEN_SLACK_S = 0.0002


def _json_reply(body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


_STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


class Replies:
    """Every reply prebuilt as wire bytes: per path, the JSON answer and the list of stream writes, and the
    pacing (offsets in seconds from the request, one per write) of the paced path's replies."""

    def __init__(self, first_byte_ms: float = 0.0, spread_ms: float = 0.0) -> None:
        self.json: dict[bytes, bytes] = {}
        self.stream: dict[bytes, list[bytes]] = {}
        for path, canned in canned_replies().items():
            key = path.encode()
            self.json[key] = _json_reply(canned.json)
            writes = [_STREAM_HEAD + b"%x\r\n%s\r\n" % (len(canned.events[0]), canned.events[0])]
            writes += [b"%x\r\n%s\r\n" % (len(event), event) for event in canned.events[1:]]
            writes[-1] += b"0\r\n\r\n"
            self.stream[key] = writes
        self.paced = first_byte_ms > 0 or spread_ms > 0
        first, spread = first_byte_ms / 1000, spread_ms / 1000
        n = len(self.stream.get(_PACED_PATH, []))
        self.stream_offsets = [first + (spread * i / (n - 1) if n > 1 else 0.0) for i in range(n)]
        self.json_offset = first + spread


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class TokenStreams:
    """Every open token stream's next event on one schedule (a heap by due time), written by one timer."""

    def __init__(self, tokens: int, interval_ms: float) -> None:
        self.tokens = tokens
        self._interval = interval_ms / 1000
        self._head = _STREAM_HEAD + _chunk(token_stream_start())
        self._end = _chunk(token_stream_end(tokens)) + b"0\r\n\r\n"
        self._heap: list[tuple[float, int, asyncio.Transport, int]] = []  # (due, tie-break, transport, sent)
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def start(self, transport: asyncio.Transport) -> None:
        """Answer a request: the head now, the tokens on schedule."""
        transport.write(self._head)
        self._push(self._loop.time() + self._interval, transport, 0)

    def _push(self, due: float, transport: asyncio.Transport, sent: int) -> None:
        heapq.heappush(self._heap, (due, next(self._order), transport, sent))
        if self._timer is None or due < self._timer.when():
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(due, self._write_due)

    def _write_due(self) -> None:
        self._timer = None
        heap = self._heap
        limit = self._loop.time() + _TOKEN_SLACK_S
        while heap and heap[0][0] <= limit:
            due, _, transport, sent = heapq.heappop(heap)
            if transport.is_closing():
                continue
            sent += 1
            event = _chunk(token_event(time.monotonic_ns()))
            if sent < self.tokens:
                transport.write(event)
                # The next one is due a fixed interval after this one's due time, so lateness does not add up.
                heapq.heappush(heap, (due + self._interval, next(self._order), transport, sent))
            else:
                transport.write(event + self._end)
        if heap:
            self._timer = self._loop.call_at(heap[0][0], self._write_due)


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection: read a request head and its body, write the canned reply (now or, when
    paced, at its scheduled times through the connection's queue of timed writes)."""

    def __init__(self, replies: Replies, token_streams: TokenStreams | None = None) -> None:
        self._replies = replies
        self._token_streams = token_streams
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._queue: deque[tuple[float, bytes]] = deque()  # (loop time, bytes), in write order
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._answer_one():
            pass

    def _answer_one(self) -> bool:
        end = self._buffer.find(_HEAD_END)
        if end < 0:
            if len(self._buffer) > _MAX_HEAD and self._transport is not None:
                self._transport.close()
            return False
        head = bytes(self._buffer[:end]).lower()
        length = 0
        stream = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"accept":
                stream = b"text/event-stream" in value
        total = end + 4 + length
        if len(self._buffer) < total:
            return False
        path = head.split(b" ", 2)[1].split(b"?", 1)[0]
        del self._buffer[:total]
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        if path == _TOKENS_PATH and self._token_streams is not None:
            self._token_streams.start(transport)
            return True
        replies = self._replies
        if replies.paced and path == _PACED_PATH:
            now = self._loop.time()
            if stream:
                pieces = replies.stream[path]
                self._schedule([(now + o, p) for o, p in zip(replies.stream_offsets, pieces, strict=True)])
            else:
                self._schedule([(now + replies.json_offset, replies.json[path])])
            return True
        pieces = (
            replies.stream[path]
            if stream and path in replies.stream
            else [replies.json.get(path, _NOT_FOUND)]
        )
        if self._queue:  # an earlier paced answer is still being written: this one goes after it
            now = self._loop.time()
            self._schedule([(now, piece) for piece in pieces])
        else:
            for piece in pieces:
                transport.write(piece)
        return True

    def _schedule(self, writes: list[tuple[float, bytes]]) -> None:
        """Queue timed writes after those already queued (never earlier than the last of them)."""
        tail = self._queue[-1][0] if self._queue else 0.0
        for when, piece in writes:
            tail = max(tail, when)
            self._queue.append((tail, piece))
        if self._timer is None:
            self._timer = self._loop.call_at(self._queue[0][0], self._flush)

    def _flush(self) -> None:
        """Write every queued piece that is due, then arm the timer for the next one."""
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            self._queue.clear()
            return
        queue = self._queue
        now = self._loop.time()
        while queue and queue[0][0] <= now:
            transport.write(queue.popleft()[1])
        if queue:
            self._timer = self._loop.call_at(queue[0][0], self._flush)


async def start(
    port: int = 0,
    first_byte_ms: float = 0.0,
    spread_ms: float = 0.0,
    tokens: int = 0,
    token_interval_ms: float = 10.0,
) -> asyncio.Server:
    """A listening upstream on 127.0.0.1:`port` (0: any free port) with the given pacing; with `tokens`, it
    also serves token streams on TOKENS_PATH."""
    replies = Replies(first_byte_ms, spread_ms)
    streams = TokenStreams(tokens, token_interval_ms) if tokens > 0 else None
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: UpstreamProtocol(replies, streams), "127.0.0.1", port, backlog=4096
    )


async def serve(
    port: int,
    first_byte_ms: float = 0.0,
    spread_ms: float = 0.0,
    tokens: int = 0,
    token_interval_ms: float = 10.0,
) -> None:
    """Listen on 127.0.0.1:`port` (0: any free port), announce it, serve until killed."""
    server = await start(port, first_byte_ms, spread_ms, tokens, token_interval_ms)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--first-byte-ms", type=float, default=0.0, help="paced: ms from request to first byte (default 0)"
    )
    parser.add_argument(
        "--spread-ms",
        type=float,
        default=0.0,
        help="paced: ms over which the other events follow (default 0)",
    )
    parser.add_argument(
        "--tokens", type=int, default=0, help="token streams on TOKENS_PATH: tokens per stream (default off)"
    )
    parser.add_argument(
        "--token-interval-ms", type=float, default=10.0, help="token streams: ms between tokens (default 10)"
    )
    args = parser.parse_args()
    if args.first_byte_ms < 0 or args.spread_ms < 0:
        parser.error("--first-byte-ms and --spread-ms must be >= 0")
    if args.tokens < 0 or args.token_interval_ms <= 0:
        parser.error("--tokens must be >= 0 and --token-interval-ms > 0")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.first_byte_ms, args.spread_ms, args.tokens, args.token_interval_ms))


if __name__ == "__main__":
    main()
