"""A lightweight closed-loop HTTP/1.1 load generator on raw asyncio sockets.

httpx costs several hundred microseconds of CPU per request, which on a 2-core machine would make the client
the bottleneck of the baseline. Here each connection is an `asyncio.Protocol` that writes a prebuilt request
and parses the reply in place (status line, content-length or chunked body): a few microseconds per request
plus about one per chunk. `concurrency` connections each send their next request as soon as the last one
is complete (keep-alive), for a fixed time or a fixed count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_HEAD_END = b"\r\n\r\n"


@dataclass
class Sample:
    """One completed request: seconds to the first response byte and to the last, status and body."""

    ttfb: float
    total: float
    status: int
    body: bytes


class ResponseParser:
    """Incremental HTTP/1.1 response parser over a growing buffer."""

    __slots__ = ("body_parts", "chunked", "length", "pos", "status")

    def __init__(self) -> None:
        self.status = 0
        self.length = -1  # content-length, or -1 while the head is unread
        self.chunked = False
        self.pos = -1  # where the body (or the next chunk-size line) starts; -1 while the head is unread
        self.body_parts: list[bytes] = []

    def parse(self, buf: bytearray) -> int:
        """Bytes of `buf` the complete response used, or 0 when more input is needed."""
        if self.pos < 0 and not self._head(buf):
            return 0
        if not self.chunked:
            end = self.pos + self.length
            if len(buf) < end:
                return 0
            self.body_parts.append(bytes(buf[self.pos : end]))
            return end
        while True:
            line_end = buf.find(b"\r\n", self.pos)
            if line_end < 0:
                return 0
            size = int(bytes(buf[self.pos : line_end]).split(b";", 1)[0], 16)
            data_start = line_end + 2
            if size == 0:
                # No trailers are sent by the servers measured here: the body ends with an empty line.
                return data_start + 2 if len(buf) >= data_start + 2 else 0
            data_end = data_start + size
            if len(buf) < data_end + 2:
                return 0
            self.body_parts.append(bytes(buf[data_start:data_end]))
            self.pos = data_end + 2

    def _head(self, buf: bytearray) -> bool:
        end = buf.find(_HEAD_END)
        if end < 0:
            return False
        lines = bytes(buf[:end]).split(b"\r\n")
        self.status = int(lines[0].split(b" ", 2)[1])
        self.length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self.length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                self.chunked = True
        self.pos = end + 4
        return True


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._response = ResponseParser()
        self._waiter: asyncio.Future[Sample] | None = None
        self._sent = 0.0
        self._first = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def request(self, raw: bytes) -> asyncio.Future[Sample]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._response = ResponseParser()
        self._first = 0.0
        self._sent = time.perf_counter()
        self.transport.write(raw)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        if not self._first:
            self._first = time.perf_counter()
        self._buffer += data
        used = self._response.parse(self._buffer)
        if not used:
            return
        done = time.perf_counter()
        del self._buffer[:used]
        response = self._response
        sample = Sample(
            self._first - self._sent, done - self._sent, response.status, b"".join(response.body_parts)
        )
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(sample)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection closed mid-response: {exc}"))


@dataclass
class Result:
    """What one load run produced: the samples, the measured wall time and the client's own CPU time."""

    samples: list[Sample] = field(default_factory=list)
    warmup: list[Sample] = field(default_factory=list)
    wall: float = 0.0
    client_cpu: float = 0.0
    failures: list[str] = field(default_factory=list)


async def run_load(
    host: str,
    port: int,
    raw_request: bytes,
    *,
    concurrency: int,
    duration: float,
    max_requests: int,
    on_sample: Callable[[Sample], None] | None = None,
) -> Result:
    """Drive `concurrency` connections in a closed loop: one warm-up request each (not counted), then
    requests until `duration` seconds have passed or `max_requests` were started. Requests in flight at the
    deadline are waited for and counted."""
    loop = asyncio.get_running_loop()
    connections: list[_Connection] = []
    for _ in range(concurrency):
        _, protocol = await loop.create_connection(_Connection, host, port)
        connections.append(protocol)
    try:
        result = Result()
        # Warm-up (pools, caches, first-use costs): checked like the rest, not timed.
        result.warmup = list(await asyncio.gather(*(c.request(raw_request) for c in connections)))
        started = time.perf_counter()
        cpu_started = time.process_time()
        deadline = started + duration
        budget = [max_requests]

        async def worker(connection: _Connection) -> None:
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                try:
                    sample = await connection.request(raw_request)
                except ConnectionError as exc:
                    result.failures.append(str(exc))
                    return
                result.samples.append(sample)
                if on_sample is not None:
                    on_sample(sample)

        await asyncio.gather(*(worker(c) for c in connections))
        result.wall = time.perf_counter() - started
        result.client_cpu = time.process_time() - cpu_started
        return result
    finally:
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()
