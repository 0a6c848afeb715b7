"""The gateway's httpx transport: pooled keep-alive HTTP/1.1 connections (`http1.Connection`) per origin.

httpx still builds the request and the response, so callers see plain httpx; this replaces what stock
httpx runs beneath (httpcore's pool, h11, anyio streams). A pool hands out its most recently used idle
connection (a lone user keeps one warm connection; idle ones age out at the bottom), opens a new one when
none is idle, and makes requests wait when an origin already has `max_connections` in use. Every operation
is O(1) in the pool's size.

Not covered here: HTTP/2, Unix sockets, and proxies: `proxies.ProxyRouter` sends proxied requests to
httpx's stock transports instead.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import AsyncIterator, Mapping

import httpx

from claude_any.runtime import dial
from claude_any.runtime.http1 import Connection

Origin = tuple[str, str, int]  # scheme, host, port

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSAFE = re.compile(rb"[\r\n\0]")  # would end a header line early (header injection)


class PooledTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over pooled connections; `max_connections` per origin, idle ones closed after
    `keepalive_expiry` seconds."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 100,
        keepalive_expiry: float = 60.0,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[Origin, list[Connection]] = {}
        self._in_use: dict[Origin, set[Connection]] = {}
        self._slots: dict[Origin, asyncio.Semaphore] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        data = _wire_from_httpx(request, await request.aread())
        timeouts = request.extensions.get("timeout", {})
        return await self.send(origin_of(request.url), data, timeouts, head_only=request.method == "HEAD")

    async def send(
        self, origin: Origin, data: bytes, timeouts: Mapping[str, float | None], *, head_only: bool = False
    ) -> httpx.Response:
        """Send a request already on-the-wire form (`wire_request`) to `origin`; the response's body is
        unread. `timeouts`: httpx's connect / read / write / pool seconds (a missing one: no limit)."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        slot = self._slots.get(origin)
        if slot is None:
            slot = self._slots[origin] = asyncio.Semaphore(self._max_connections)
        await _acquire(slot, timeouts.get("pool"))
        connection: Connection | None = None
        try:
            connection = self._idle_connection(origin) or await self._connect(origin, timeouts.get("connect"))
            self._in_use.setdefault(origin, set()).add(connection)
            head = await connection.exchange(
                data,
                head_only=head_only,
                write_timeout=timeouts.get("write"),
                read_timeout=timeouts.get("read"),
            )
        except BaseException:
            if connection is not None:
                self._release(origin, connection)
            slot.release()
            raise
        body = _Body(self, origin, connection, slot, timeouts.get("read"))
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=body,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    def _idle_connection(self, origin: Origin) -> Connection | None:
        """The most recently used idle connection that is still good; stale ones are closed on the way."""
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.usable() and self._loop_time() - connection.idle_since < self._keepalive_expiry:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, timeout: float | None) -> Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        connection = Connection(loop)
        tls = self._tls_context() if scheme == "https" else None
        sock: socket.socket | None = None
        try:
            async with asyncio.timeout(timeout):
                sock = await dial.connect(host, port)
                await loop.create_connection(
                    lambda: connection, sock=sock, ssl=tls, server_hostname=host if tls else None
                )
        except BaseException as exc:
            connection.close()
            if sock is not None and connection.get_extra_info("socket") is None:
                sock.close()  # not handed over to a transport
            if isinstance(exc, TimeoutError):
                raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
            if isinstance(exc, OSError):  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
                raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
            raise
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    def _release(self, origin: Origin, connection: Connection) -> None:
        """Take a connection back after its exchange: idle again if it can be reused, else closed."""
        self._in_use.get(origin, set()).discard(connection)
        if connection.finish() and not self._closed:
            connection.idle_since = self._loop_time()
            idle = self._idle.setdefault(origin, [])
            idle.append(connection)
            while idle and connection.idle_since - idle[0].idle_since >= self._keepalive_expiry:
                idle.pop(0).close()  # the oldest, unused for a whole expiry period
        else:
            connection.close()

    def connections(self) -> list[Connection]:
        """Every open connection (idle or in use), for tests and diagnostics."""
        found = [c for group in self._idle.values() for c in group]
        found += [c for group in self._in_use.values() for c in group]
        return found

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    async def aclose(self) -> None:
        self._closed = True
        for connection in self.connections():
            connection.close()
        self._idle, self._in_use = {}, {}


class _Body(httpx.AsyncByteStream):
    """A response body read from its connection; closing it gives the connection back to the pool."""

    def __init__(
        self,
        pool: PooledTransport,
        origin: Origin,
        connection: Connection,
        slot: asyncio.Semaphore,
        read_timeout: float | None,
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._connection: Connection | None = connection
        self._slot = slot
        self._read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self._connection is not None:
            chunk = await self._connection.read(self._read_timeout)
            if not chunk:
                break
            yield chunk

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool._release(self._origin, connection)
            self._slot.release()


async def _acquire(slot: asyncio.Semaphore, timeout: float | None) -> None:
    if not slot.locked():
        await slot.acquire()  # free: returns without yielding
        return
    try:
        async with asyncio.timeout(timeout):
            await slot.acquire()
    except TimeoutError:
        raise httpx.PoolTimeout("timed out waiting for a free connection") from None


def origin_of(url: httpx.URL) -> Origin:
    """The pool key of a URL: scheme, host, port."""
    scheme = url.scheme
    if scheme not in _DEFAULT_PORTS:
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
    return scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[scheme]


def request_start(method: str, url: httpx.URL) -> bytes:
    """The request line and Host header of a request to `url`, the fixed start of `wire_request`."""
    return b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode("ascii"), url.raw_path, url.netloc)


def wire_request(start: bytes, headers: Mapping[str, str], body: bytes) -> bytes:
    """A request with a body of known length, on-the-wire form: `start` (`request_start`), the headers,
    Content-Length, the body."""
    block = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    lines = len(headers)
    if block.count("\n") != lines or block.count("\r") != lines or "\0" in block:
        raise httpx.LocalProtocolError("a request header holds a line break")
    return b"%s%sContent-Length: %d\r\n\r\n%s" % (start, block.encode(), len(body), body)


def _wire_from_httpx(request: httpx.Request, body: bytes) -> bytes:
    """An httpx request on the wire: request line, headers, body (chunk-framed if httpx chose chunked
    transfer for a body of unknown length)."""
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    chunked = False
    for name, value in request.headers.raw:
        if _UNSAFE.search(name) or _UNSAFE.search(value):
            raise httpx.LocalProtocolError(f"header {name.decode('ascii', 'replace')!r} holds a line break")
        if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
            chunked = True
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    if chunked:
        lines += (f"{len(body):x}\r\n".encode(), body, b"\r\n0\r\n\r\n") if body else (b"0\r\n\r\n",)
    else:
        lines.append(body)
    return b"".join(lines)
