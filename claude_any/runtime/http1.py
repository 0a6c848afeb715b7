"""One HTTP/1.1 client connection: an asyncio protocol whose responses httptools (llhttp, in C) parses.

The event loop calls the protocol as bytes arrive; a request's coroutine only waits when the next thing it
needs has not arrived yet. That is what makes it cheap: httpcore, h11 and anyio spent about 40% of a
streamed request's CPU in the gateway on locks, cancel scopes, per-call timeouts and pure-Python parsing.

A connection carries one exchange at a time (`pool.py` hands it out and takes it back). Anything unexpected
- a parse error, a reset, bytes from the server while nothing was asked, a response that asks to close -
makes it unusable, and the pool closes it instead of reusing it. Failures are raised as httpx's own
exceptions, so callers see what stock httpx would raise.
"""

from __future__ import annotations

import asyncio
import select
from typing import Any, cast

import httptools
import httpx

# Reading pauses while this much body is buffered and unread (a slow client holds the upstream back).
_READ_HIGH_WATER = 256 * 1024
# A head this size with no end in sight is not an HTTP response worth waiting for (counted with the body
# bytes that arrived in the same reads, so a response is cut off only when its head is most of this).
_MAX_HEAD_BYTES = 256 * 1024


class Head:
    """The head of a response: status, reason phrase, headers as they came."""

    __slots__ = ("status", "reason", "headers")

    def __init__(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers


class Connection(asyncio.Protocol):
    """One client connection to one origin; `exchange` sends a request, `read` returns its body."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[bool] | None = None
        self._busy = False  # an exchange is in progress (from `exchange` to `finish`)
        self._reusable = True
        self._closed = False
        self._write_paused = False
        self._read_paused = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._head: Head | None = None
        self._informational = False  # parsing a 1xx head, which another head follows
        self._until_eof = False  # the body ends when the server closes the connection
        self._body: list[bytes] = []
        self._buffered = 0
        self._complete = False
        self._error: Exception | None = None

    # --- asyncio.Protocol ----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        if not self._busy or self._complete:
            self._reusable = False  # the server spoke out of turn: this connection's state is unknown
            self.close()
            return
        if self._head is None:
            # Counted here, not in the parser's callbacks: httptools holds a header line back until it ends.
            self._head_bytes += len(data)
            if self._head_bytes > _MAX_HEAD_BYTES:
                self._fail(httpx.RemoteProtocolError("the response head is too large"))
                self.close()
                return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response from the server: {exc}"))
            self.close()
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols, which was not asked"))
            self.close()

    def eof_received(self) -> bool:
        self._reusable = False
        if self._busy and self._head is not None and self._until_eof and self._error is None:
            self._complete = True  # a body without a length ends here
            self._wake()
        else:
            self._fail(httpx.RemoteProtocolError(self._disconnected()))
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._reusable = False
        if exc is None:
            self._fail(httpx.RemoteProtocolError(self._disconnected()))
        else:
            self._fail(httpx.ReadError(str(exc) or type(exc).__name__))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # --- httptools callbacks -------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise ValueError("bytes after the end of the response")  # feed_data fails, the connection closes
        self._headers = []

    def on_status(self, reason: bytes) -> None:
        self._reason += reason  # may come in pieces

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and the like: the real head follows
            self._informational = True
            self._reason = b""
            return
        self._head = Head(status, self._reason, self._headers)
        self._until_eof = _delimited_by_close(status, self._headers)
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _READ_HIGH_WATER and not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._complete = True
        if not self._parser.should_keep_alive():
            self._reusable = False
        self._wake()

    # --- the exchange --------------------------------------------------------------------------------------

    async def exchange(
        self, data: bytes, *, head_only: bool, write_timeout: float | None, read_timeout: float | None
    ) -> Head:
        """Send one request (head and body, ready to go on the wire) and wait for the response's head."""
        transport = self._transport
        if transport is None or self._closed:
            raise httpx.RemoteProtocolError("the connection is closed")
        self._reset()
        self._busy = True
        if head_only:
            self._reusable = False  # llhttp cannot be told a HEAD response has no body: used once
        transport.write(data)
        await self._drain(write_timeout)
        while self._head is None:
            if self._error is not None:
                raise self._error
            if not await self._wait(read_timeout):
                raise httpx.ReadTimeout("timed out waiting for the response")
        if head_only:
            self._complete = True
        return self._head

    async def _drain(self, timeout: float | None) -> None:
        """Wait while the transport holds more than its high-water mark of unsent bytes; a write timeout is
        `timeout` seconds without any progress (as a stock client times out one blocked write)."""
        transport = self._transport
        while self._write_paused and self._error is None and self._head is None and transport is not None:
            unsent = transport.get_write_buffer_size()
            if not await self._wait(timeout) and transport.get_write_buffer_size() >= unsent:
                raise httpx.WriteTimeout("timed out sending the request")
        if self._error is not None and self._head is None:
            raise self._error

    async def read(self, timeout: float | None) -> bytes:
        """The body bytes that arrived since the last call (waiting for some), or b"" at its end."""
        while True:
            if self._body:
                body = self._body
                data = body[0] if len(body) == 1 else b"".join(body)
                self._body, self._buffered = [], 0
                if self._read_paused and self._transport is not None:
                    self._read_paused = False
                    self._transport.resume_reading()
                return data
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            if not await self._wait(timeout):
                raise httpx.ReadTimeout("timed out reading the response body")

    def finish(self) -> bool:
        """End the exchange; True when the connection can carry another one."""
        reusable = self._busy and self._complete and self._reusable and not self._closed
        if reusable and self._transport is not None and self._transport.get_write_buffer_size():
            reusable = False  # answered before the request was all sent: the rest would follow on the wire
        self._busy = False
        if not reusable:
            self.close()
        return reusable

    # --- state ---------------------------------------------------------------------------------------------

    def is_idle(self) -> bool:
        """True between exchanges."""
        return not self._busy

    def usable(self) -> bool:
        """For an idle connection: still open, and the server has neither closed it nor sent anything
        (checked on the socket itself, since the loop may not have run since)."""
        if self._closed or not self._reusable or self._transport is None or self._transport.is_closing():
            return False
        sock = self._transport.get_extra_info("socket")
        return sock is None or not _readable(sock)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The transport's extra info (`peername`, `sockname`, `ssl_object`, `socket`, ...)."""
        return default if self._transport is None else self._transport.get_extra_info(name, default)

    def close(self) -> None:
        self._reusable = False
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if transport.get_write_buffer_size():
                transport.abort()  # unsent request bytes are of no use to anyone now: do not flush them
            else:
                transport.close()

    # --- internals -----------------------------------------------------------------------------------------

    def _disconnected(self) -> str:
        if self._head is None:
            return "the server closed the connection without sending a response"
        return "the server closed the connection before the response body was complete"

    def _fail(self, error: Exception) -> None:
        """Record the exchange's first failure, unless it already ended well (data already read stays)."""
        if self._busy and not self._complete and self._error is None:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def _wait(self, timeout: float | None) -> bool:
        """Wait for the protocol to report anything; False when `timeout` passed first."""
        waiter = self._waiter = self._loop.create_future()
        timer = None if timeout is None else self._loop.call_later(timeout, _expire, waiter)
        try:
            woken: bool = await waiter
            return woken
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def _delimited_by_close(status: int, headers: list[tuple[bytes, bytes]]) -> bool:
    """True when the body runs until the server closes (no Content-Length, not chunked)."""
    if status in (204, 304):
        return False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            return False
    return True


def _readable(sock: Any) -> bool:
    """True when the socket has data or EOF waiting: for an idle connection, a reason to drop it."""
    if sock.fileno() < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])  # Windows: no poll, and no FD_SETSIZE limit there
