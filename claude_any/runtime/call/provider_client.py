"""One provider's HTTP client: an aiohttp session (its connection pool), answering with httpx responses.

aiohttp does the HTTP/1.1 work: llhttp parsing, keep-alive pooling with expiry, happy eyeballs
(aiohappyeyeballs), HTTP proxies, decompression in bounded steps. This module only fits it to the gateway:

- every request goes through `ProviderClient.request`, direct or proxied alike; the proxy of each URL is
  chosen by `proxies.ProxySettings` (curl's reading, with NO_PROXY networks), handed to aiohttp per request;
- the answer is an `httpx.Response` whose body is still unread, and failures are httpx's exceptions: the
  relay and stream code, and their tests, speak httpx;
- no cookie is kept (one user's provider cookie must never ride on another user's request), no redirect is
  followed, TLS trusts SSL_CERT_FILE / SSL_CERT_DIR, the user agent is `claude-any`;
- at most `max_in_flight` requests are in flight at once (from sending to closing the answer); more wait
  for a slot, at most `queue_s`, and then fail with `QueueFull`: a wait that is logged, never silent;
- a request whose reused keep-alive connection turns out to have been closed by the server is sent again at
  once, once: that is a race with the server's idle timeout, not a failure worth a retry round.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
import yarl

from claude_any.runtime.call.exception_frames import release_frames
from claude_any.runtime.call.proxies import ProxySettings
from claude_any.table import MAX_IN_FLIGHT

logger = logging.getLogger("claude_any")

USER_AGENT = "claude-any"
# How long a request waits for an in-flight slot by default (`timeouts.queue_s`).
QUEUE_S = 30.0
# Requests waiting for a slot are logged at most this often per provider.
WAIT_LOG_EVERY_S = 60.0
# An idle keep-alive connection is not reused after this long, and is closed within as long again.
KEEPALIVE_EXPIRY_S = 60.0

_PROXY_SCHEMES = ("http", "https")
# SOCKS proxies, each on its own connector (aiohttp-socks): scheme -> (the scheme it parses, remote DNS).
_SOCKS_SCHEMES = {
    "socks5": ("socks5", False),
    "socks5h": ("socks5", True),
    "socks4": ("socks4", False),
    "socks4a": ("socks4", True),
}
_MB = 1024 * 1024
# How a request on a connection the server had already closed fails: no answer, or a reset.
_STALE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientConnectionResetError)
# A URL made only of these is already in wire form (percent-encoded where needed) and goes out as it is.
_WIRE_FORM = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
# What a request can fail with: aiohttp's errors, the OS's, a refused header (and `_socks_failures`).
_FAILURES: tuple[type[Exception], ...] = (aiohttp.ClientError, OSError, ValueError)
# Headers that describe the body as it came over the wire; the body handed on is already decoded.
_WIRE_ONLY = frozenset({b"content-encoding", b"content-length"})


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every provider client (SSL_CERT_FILE / SSL_CERT_DIR apply): loading the CA
    bundle takes 30-50 ms, which each client would otherwise pay again. HTTP/1.1 is all they speak."""
    context = httpx.create_ssl_context(trust_env=True)
    context.set_alpn_protocols(["http/1.1"])
    return context


class AnswerTooLarge(httpx.HTTPError):
    """The provider's answer went over a size limit (a line of a stream, or a whole body)."""


@dataclass(frozen=True)
class PooledConnection:
    """One open connection of a provider's pool, for tests and diagnostics."""

    idle: bool
    transport: asyncio.BaseTransport | None

    def is_idle(self) -> bool:
        """True between exchanges (in the pool), False while a request uses it."""
        return self.idle

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The transport's extra info (`peername`, `sockname`, `ssl_object`, `socket`, ...)."""
        return default if self.transport is None else self.transport.get_extra_info(name, default)


class QueueFull(httpx.PoolTimeout):
    """The provider's `max_in_flight` requests were all in flight for the whole of `queue_s`."""

    def __init__(self, limit: int, queue_s: float) -> None:
        super().__init__(f"{limit} requests were in flight for {queue_s:g} s")
        self.limit = limit
        self.queue_s = queue_s


class _InFlight:
    """The provider's in-flight slots: a request holds one from sending until its answer is closed."""

    __slots__ = ("_free", "_last_warning", "limit", "name", "queue_s", "waiting")

    def __init__(self, name: str, limit: int, queue_s: float) -> None:
        self.name = name
        self.limit = limit
        self.queue_s = queue_s
        self.waiting = 0
        self._free = asyncio.Semaphore(limit)
        self._last_warning = -WAIT_LOG_EVERY_S

    async def acquire(self) -> None:
        """Take a slot, waiting at most `queue_s` for one (then QueueFull)."""
        if not self._free.locked():
            await self._free.acquire()  # free: no suspension
            return
        self.waiting += 1
        try:
            self._warn()
            async with asyncio.timeout(self.queue_s):
                await self._free.acquire()
        except TimeoutError:
            raise QueueFull(self.limit, self.queue_s) from None
        finally:
            self.waiting -= 1

    def release(self) -> None:
        self._free.release()

    @property
    def in_flight(self) -> int:
        return self.limit - self._free._value  # the semaphore's free slots

    def _warn(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_warning >= WAIT_LOG_EVERY_S:
            self._last_warning = now
            logger.warning(
                "provider %s: %d request(s) wait for a slot: %d are in flight, the limit "
                "(providers.%s.max_in_flight); more wait at most %g s (timeouts.queue_s)",
                self.name,
                self.waiting,
                self.limit,
                self.name,
                self.queue_s,
            )


class _Attempt:
    """Per request, filled by the trace hook: whether aiohttp handed out an already used connection."""

    __slots__ = ("reused",)

    def __init__(self) -> None:
        self.reused = False


async def _on_reuse(_session: aiohttp.ClientSession, context: SimpleNamespace, _params: object) -> None:
    context.trace_request_ctx.reused = True


def _trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_connection_reuseconn.append(_on_reuse)
    return config


class ProviderClient:
    """One provider's connection pool and the requests sent through it.

    The aiohttp session is made on first use (it belongs to the running event loop), or by `open`.
    `connect_s` bounds a TCP + TLS connect; `read_s` bounds each wait for bytes from the provider (None:
    the gateway's own first-byte and idle clocks do, as `upstream.Clients` has it); `queue_s` bounds the
    wait for one of the `max_in_flight` slots; `name` is the provider's, for the log line that says
    requests wait.
    """

    def __init__(
        self,
        proxy: ProxySettings,
        *,
        connect_s: float | None,
        read_s: float | None,
        max_in_flight: int = MAX_IN_FLIGHT,
        queue_s: float = QUEUE_S,
        keepalive_expiry_s: float = KEEPALIVE_EXPIRY_S,
        name: str = "provider",
    ) -> None:
        self._proxy = proxy
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_s, sock_read=read_s)
        self._max_in_flight = max_in_flight
        self._slots: _InFlight | None = None  # made in the event loop, on first use
        self._queue_s = queue_s
        self._name = name
        self._keepalive_expiry_s = keepalive_expiry_s
        self._session: aiohttp.ClientSession | None = None
        self._socks: dict[str, aiohttp.ClientSession] = {}  # by proxy URL
        self._closed = False
        self._proxies: dict[str, str | None] = {}

    @property
    def is_closed(self) -> bool:
        """True once `aclose` ran."""
        return self._closed

    def open(self) -> None:
        """Make the session now if an event loop runs, so that no request pays for it."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._get_session()

    def _get_session(self) -> aiohttp.ClientSession:
        """The session of direct and HTTP(S)-proxied requests, made if needed."""
        session = self._session
        if session is None or session.closed:
            session = self._session = self._new_session(aiohttp.TCPConnector(**self._pool_options()))
        return session

    def _socks_session(self, proxy: str) -> aiohttp.ClientSession:
        """The session of the requests through one SOCKS proxy (a connector that dials through it)."""
        session = self._socks.get(proxy)
        if session is None or session.closed:
            scheme, rest = proxy.split("://", 1)
            parsed_scheme, remote_dns = _SOCKS_SCHEMES[scheme.lower()]
            try:  # optional, and loaded only here: 0.5 MB that a gateway without a SOCKS proxy never uses
                import aiohttp_socks
            except ImportError:
                raise httpx.ProxyError(
                    f"the {scheme} proxy from the environment needs `pip install aiohttp-socks`"
                ) from None
            connector = aiohttp_socks.ProxyConnector.from_url(
                f"{parsed_scheme}://{rest}", rdns=remote_dns, **self._pool_options()
            )
            session = self._socks[proxy] = self._new_session(connector)
        return session

    def _pool_options(self) -> dict[str, Any]:
        return {
            "limit": self._max_in_flight,
            "limit_per_host": 0,
            "keepalive_timeout": self._keepalive_expiry_s,
            "ssl": tls_context(),
        }

    def _new_session(self, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the provider client is closed")
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},
            timeout=self._timeout,
            trust_env=False,  # proxies come from `proxies`; netrc is of no use to an API client
            trace_configs=[_trace_config()],
        )

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request to `url` goes through, or None (direct); decided once per URL."""
        try:
            return self._proxies[url]
        except KeyError:
            pass
        proxy = self._proxy.proxy_for(httpx.URL(url)) if self._proxy.proxies else None
        if proxy is not None:
            scheme = proxy.split("://", 1)[0]
            if scheme.lower() not in _PROXY_SCHEMES and scheme.lower() not in _SOCKS_SCHEMES:
                # the proxy URL may hold credentials: only its scheme is named
                raise httpx.ProxyError(f"the {scheme} proxy from the environment is unusable")
        if len(self._proxies) < 1024:  # target URLs are a handful per table
            self._proxies[url] = proxy
        return proxy

    @property
    def waiting(self) -> int:
        """How many requests wait for an in-flight slot now."""
        return 0 if self._slots is None else self._slots.waiting

    @property
    def in_flight(self) -> int:
        """How many requests hold an in-flight slot now."""
        return 0 if self._slots is None else self._slots.in_flight

    def connection_counts(self) -> tuple[int, int]:
        """The open connections now: (idle, in use)."""
        connections = self.connections()
        idle = sum(1 for connection in connections if connection.idle)
        return idle, len(connections) - idle

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes = b"",
        *,
        first_byte_s: float | None = None,
    ) -> httpx.Response:
        """Send a request and return its response once the head has arrived; the body is unread and the
        caller must close the response (which frees its in-flight slot). Waiting for a slot is bounded by
        `queue_s` (QueueFull), the answer's head, once sent, by `first_byte_s` (TimeoutError); other
        failures raise httpx's exceptions."""
        slots = self._slots
        if slots is None:
            slots = self._slots = _InFlight(self._name, self._max_in_flight, self._queue_s)
        await slots.acquire()
        try:
            async with asyncio.timeout(first_byte_s):  # anyio.fail_after cost 1.5% of a request's CPU
                response = await self._send(method, url, headers, content)
        except BaseException:
            slots.release()
            raise
        body = response.stream
        assert isinstance(body, ResponseBody)
        body.on_close = slots.release
        return response

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes
    ) -> httpx.Response:
        proxy = self.proxy_for(url)
        if proxy is not None and proxy.split("://", 1)[0].lower() in _SOCKS_SCHEMES:
            session, proxy = self._socks_session(proxy), None
        else:
            session = self._get_session()
        data = content or None
        target = _wire_url(url)
        try:
            for resend in (False, True):
                attempt = _Attempt()
                try:
                    answer = await session.request(
                        method,
                        target,
                        headers=headers,
                        data=data,
                        proxy=proxy,
                        allow_redirects=False,
                        trace_request_ctx=attempt,
                    )
                    break
                except _STALE as exc:
                    if resend or not attempt.reused:
                        raise
                    release_frames(exc)  # aiohttp keeps it beside its traceback: a cycle holding `data`
                    # The server had closed the idle connection as the request went out (its keep-alive
                    # timeout raced ours): nothing was answered, so it goes again, at once, on another one.
        except _FAILURES + _socks_failures() as exc:  # evaluated only when something was raised
            raise as_httpx_error(exc) from None
        return _response(method, url, answer)

    def connections(self) -> list[PooledConnection]:
        """The open connections, idle or in use (for tests and diagnostics: aiohttp has no public view,
        so this reads the connectors' bookkeeping)."""
        found: list[PooledConnection] = []
        for session in (self._session, *self._socks.values()):
            if session is None or session.closed:
                continue
            connector: Any = session.connector
            idle = [proto for queue in getattr(connector, "_conns", {}).values() for proto, _ in queue]
            busy = list(getattr(connector, "_acquired", ()))
            found += [
                PooledConnection(proto in idle, proto.transport)
                for proto in (*idle, *busy)
                if proto.transport is not None
            ]
        return found

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session and every connection (at shutdown)."""
        self._closed = True
        sessions = [self._session, *self._socks.values()]
        self._session, self._socks = None, {}
        for session in sessions:
            if session is not None:
                await session.close()


class ResponseBody(httpx.AsyncByteStream):
    """A response body read from aiohttp as it arrives (decoded); closing it gives the connection back to
    the pool when the body was read to its end, and closes it otherwise. `max_line`, when set, bounds the
    bytes between two line ends (a stream's line)."""

    __slots__ = ("_answer", "_failure", "_line", "max_line", "on_close")

    def __init__(self, answer: aiohttp.ClientResponse) -> None:
        self._answer = answer
        self.max_line: int | None = None
        self._line = 0  # bytes since the last line end
        self._failure: httpx.HTTPError | None = None  # raised at the next read, after the bytes ahead of it
        self.on_close: Callable[[], None] | None = None  # called once, at the first close

    async def read(self) -> bytes:
        """What arrived since the last read, joined (waiting for some when nothing has); b"" at the end.
        Cancelling a read that waits loses nothing (aiohttp keeps the bytes for the next): the stream's
        clock relies on it (keepalive.py). Bytes that arrived before the connection broke come before the
        error."""
        if self._failure is not None:
            raise self._failure
        try:
            chunk = await self._answer.content.readany()
        except (aiohttp.ClientError, OSError) as exc:
            chunk = _bytes_ahead_of_failure(self._answer.content)
            if not chunk:
                raise as_httpx_error(exc) from None
            self._failure = as_httpx_error(exc)
        limit = self.max_line
        if limit is not None and chunk:
            end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
            self._line = len(chunk) - 1 - end if end >= 0 else self._line + len(chunk)
            if self._line > limit:
                raise AnswerTooLarge(f"sent a line longer than {limit // _MB} MB")
        return chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := await self.read():
            yield chunk

    async def aclose(self) -> None:
        self._answer.release()
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()


def _bytes_ahead_of_failure(content: aiohttp.StreamReader) -> bytes:
    """The bytes a connection delivered before it broke and that no read has taken yet. aiohttp's reader
    raises the failure before its buffer (`readany` checks the error first), so a stream whose task was busy
    writing when both arrived would lose the provider's last words; aiohttp has no public way to read them,
    so its own buffered read is called, if it has one."""
    if not getattr(content, "_buffer", None):
        return b""
    read_buffered = getattr(content, "_read_nowait", None)
    data = read_buffered(-1) if callable(read_buffered) else b""
    return data if isinstance(data, bytes) else b""


@functools.lru_cache(maxsize=1024)
def _wire_url(url: str) -> yarl.URL:
    """The URL to send, parsed once per target URL. One already in wire form goes out exactly as written:
    yarl would otherwise re-encode its path (`%3D` becoming `=`), and the templates chose that encoding
    (a model name is one path segment)."""
    return yarl.URL(url, encoded=_WIRE_FORM.fullmatch(url) is not None)


@functools.lru_cache(maxsize=1024)
def _request_for(method: str, url: str) -> httpx.Request:
    """The bare request a response names (errors read its URL); one per target URL, parsed once."""
    return httpx.Request(method, url)


def _response(method: str, url: str, answer: aiohttp.ClientResponse) -> httpx.Response:
    headers: Any = answer.raw_headers
    if any(name.lower() == b"content-encoding" for name, _ in headers):  # aiohttp has decoded the body
        headers = [(name, value) for name, value in headers if name.lower() not in _WIRE_ONLY]
    extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
    if answer.reason:
        extensions["reason_phrase"] = answer.reason.encode("latin-1", "replace")
    return httpx.Response(
        answer.status,
        headers=headers,
        stream=ResponseBody(answer),
        request=_request_for(method, url),
        extensions=extensions,
    )


def _socks_failures() -> tuple[type[Exception], ...]:
    """SOCKS proxies' own errors. Only a SOCKS session raises them, and it has loaded aiohttp-socks."""
    if "aiohttp_socks" not in sys.modules:
        return ()
    import aiohttp_socks

    return (aiohttp_socks.ProxyError, aiohttp_socks.ProxyConnectionError, aiohttp_socks.ProxyTimeoutError)


def as_httpx_error(exc: BaseException) -> httpx.HTTPError:
    """The httpx exception stock httpx raises for the same failure (messages name hosts, never URLs with
    credentials in them)."""
    if isinstance(exc, httpx.HTTPError):
        return exc
    socks_failures = _socks_failures()
    if socks_failures and isinstance(exc, socks_failures):  # they name the proxy's host and port
        if isinstance(exc, TimeoutError):
            return httpx.ConnectTimeout(f"the proxy timed out: {exc}")
        return httpx.ProxyError(f"the proxy failed: {exc}")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc))
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(str(exc) or "timed out reading from the server")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return httpx.ProxyError(f"cannot connect to the proxy {exc.host}:{exc.port}: {exc.os_error}")
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(f"the proxy answered {exc.status} {exc.message}")
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, DNS, TLS
        return httpx.ConnectError(str(exc))
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError("the server closed the connection without sending a response")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.ReadError(f"the response body was not complete: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed response head
        return httpx.RemoteProtocolError(f"malformed HTTP response from the server: {exc.message}")
    if isinstance(exc, aiohttp.NonHttpUrlClientError | aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(f"not an http(s) URL: {exc}")
    if isinstance(exc, OSError):
        return httpx.ReadError(str(exc) or type(exc).__name__)
    if isinstance(exc, ValueError):  # aiohttp refuses a header holding a line break or a control character
        return httpx.LocalProtocolError(str(exc))
    return httpx.TransportError(str(exc) or type(exc).__name__)
