"""The HTTP client side: one pooled httpx client per provider, and sending a prepared request.

`open_response` returns only a 2xx response whose body is still unread (so streams start as soon as the
provider answers); any failure before that point is an `AnthropicError` with the right status, which the
app can still return as a real HTTP error or use to move on along a fallback chain.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from collections.abc import AsyncIterator, Iterable
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import anyio
import httpx

from claude_any.provider_templates import PreparedTarget
from claude_any.runtime import errors, proxies
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.http1 import Connection
from claude_any.runtime.pool import PooledTransport, origin_of, request_start, wire_request
from claude_any.runtime.translate import json_codec
from claude_any.table import Timeouts

USER_AGENT = "claude-any"
# What httpx's client would add to a request, for those sent without it (`_send`); the request's own win.
_DIRECT_HEADERS = {"user-agent": USER_AGENT, "accept-encoding": "gzip, deflate", "connection": "keep-alive"}

# Per provider: at most this many requests in flight (more wait for a free connection), and idle
# connections kept for this long. Proxied requests use httpx's own transports, with the same limits.
_MAX_CONNECTIONS = 100
_KEEPALIVE_EXPIRY_S = 60.0
_LIMITS = httpx.Limits(
    max_connections=_MAX_CONNECTIONS,
    max_keepalive_connections=_MAX_CONNECTIONS,
    keepalive_expiry=_KEEPALIVE_EXPIRY_S,
)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every provider client (SSL_CERT_FILE / SSL_CERT_DIR apply): loading the CA
    bundle takes 30-50 ms, which each client would otherwise pay again. HTTP/1.1 is all they speak."""
    context = httpx.create_ssl_context(trust_env=True)
    context.set_alpn_protocols(["http/1.1"])
    return context


class ProviderClient(httpx.AsyncClient):
    """A provider's httpx client, on its own pool (or a proxy, `proxies.ProxyRouter`). Requests that go
    direct are sent to the pool by `open_response` itself, skipping what httpx does per request - merging
    headers three times, auth and redirect steps, a cookie jar - which was a tenth of a streamed request's
    CPU. (The gateway wants none of it: redirects are off, and cookies one user's answer set must not ride
    along on another user's request.)"""

    def __init__(
        self, *, pool: PooledTransport, proxy: proxies.ProxySettings, timeout: httpx.Timeout
    ) -> None:
        self.router = proxies.ProxyRouter(pool, proxy, verify=_tls_context(), limits=_LIMITS)
        super().__init__(
            transport=self.router,
            timeout=timeout,
            headers={"user-agent": USER_AGENT},
            follow_redirects=False,
            trust_env=False,  # proxies come from `proxy`; netrc is of no use to an API client
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # keeps none (proxied requests)
        )
        self.pool = pool
        self.timeouts = timeout.as_dict()

    def goes_direct(self, url: str) -> bool:
        """True when a request to `url` goes to the pool, not through a proxy."""
        return not self.router.settings.proxies or self.router.pick(_url(url)) is self.pool


class Clients:
    """One keep-alive HTTP/1.1 client per provider (on `pool.PooledTransport`), created on first use (or
    by `open`) and closed at shutdown. Providers never share connections, so one slow host cannot starve
    another."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.timeouts = t = timeouts or Timeouts()
        # The first-byte and idle limits are enforced by `open_response` and the stream reader; httpx's own
        # read timeout is only a backstop that must never fire before them. Waiting for a free pooled
        # connection counts towards the first byte, hence no separate pool timeout.
        backstop = max(t.first_byte_s, t.idle_s) + 1
        self._timeout = httpx.Timeout(connect=t.connect_s, read=backstop, write=60.0, pool=None)
        self._clients: dict[str, ProviderClient] = {}
        self._mounted: dict[str, httpx.AsyncClient] = {}
        self._proxy = proxies.from_environment()

    def mount(self, provider_name: str, client: httpx.AsyncClient) -> None:
        """Answer a provider's requests with `client` instead of the network (the in-process echo)."""
        self._mounted[provider_name] = client

    def get(self, provider_name: str) -> httpx.AsyncClient:
        """The provider's client, created if needed."""
        mounted = self._mounted.get(provider_name)
        if mounted is not None:
            return mounted
        client = self._clients.get(provider_name)
        if client is None:
            pool = PooledTransport(
                ssl_context=_tls_context(),
                max_connections=_MAX_CONNECTIONS,
                keepalive_expiry=_KEEPALIVE_EXPIRY_S,
            )
            client = ProviderClient(pool=pool, proxy=self._proxy, timeout=self._timeout)
            self._clients[provider_name] = client
        return client

    def connections(self, provider_name: str) -> list[Connection]:
        """The provider's open direct connections, idle or in use (for tests and diagnostics)."""
        client = self._clients.get(provider_name)
        return [] if client is None else client.pool.connections()

    def open(self, provider_names: Iterable[str]) -> None:
        """Create the clients of these providers now, so no request pays for it."""
        for name in provider_names:
            self.get(name)

    async def aclose(self) -> None:
        """Close every client (at application shutdown)."""
        clients: list[httpx.AsyncClient] = [*self._clients.values(), *self._mounted.values()]
        self._clients, self._mounted = {}, {}
        for client in clients:
            await client.aclose()


class _Endpoint:
    """What every request to one target URL shares, prepared once: the pool key, the request line and
    Host header, and a bare request for the responses to name (httpx errors and `read_json` read its URL)."""

    def __init__(self, url: str) -> None:
        parsed = _url(url)
        self.origin = origin_of(parsed)
        self.start = request_start("POST", parsed)
        self.request = httpx.Request("POST", parsed)


@functools.lru_cache(maxsize=1024)
def _endpoint(url: str) -> _Endpoint:
    return _Endpoint(url)


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> httpx.URL:
    """The parsed URL of a prepared target (a handful per table), parsed once instead of on every request
    (httpx's URL parsing showed in the profiles)."""
    return httpx.URL(url)


async def _send(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], content: bytes
) -> httpx.Response:
    """POST through the provider's pool directly when no proxy applies, else through httpx."""
    if isinstance(client, ProviderClient) and client.goes_direct(url):
        endpoint = _endpoint(url)
        merged = _DIRECT_HEADERS | {name.lower(): value for name, value in headers.items()}
        data = wire_request(endpoint.start, merged, content)
        response = await client.pool.send(endpoint.origin, data, client.timeouts)
        response.request = endpoint.request
        return response
    request = client.build_request("POST", _url(url), headers=headers, content=content)
    return await client.send(request, stream=True)


def _host(url: str) -> str:
    return errors.url_host(url)  # never the user:password@ a URL may carry


def transport_error(exc: Exception, provider_name: str, url: str) -> AnthropicError:
    """A failed connection or read, as the error the SDK retries; names the host, never the headers."""
    host = _host(url)
    if isinstance(exc, httpx.TimeoutException):
        err = errors.timeout(f"{provider_name}: upstream {host} timed out ({type(exc).__name__})")
        err.cause = "timeout"
    elif isinstance(exc, httpx.ProxyError):  # its message names no secret (proxies.py, httpcore)
        err = errors.api_error(f"{provider_name}: proxy for {host} failed: {exc}", status=502)
        err.cause = "connect"
    elif isinstance(exc, httpx.ConnectError):
        err = errors.api_error(f"{provider_name}: cannot connect to {host}", status=502)
        err.cause = "connect"
    else:
        err = errors.api_error(f"{provider_name}: upstream {host} failed: {type(exc).__name__}", status=502)
        err.cause = "network"
    return err


def first_byte_timeout(provider_name: str, url: str, seconds: float) -> AnthropicError:
    """The provider did not start answering within `timeouts.first_byte_s`."""
    err = errors.timeout(
        f"{provider_name}: upstream {_host(url)} sent no response within {seconds:g} s "
        "(timeouts.first_byte_s)"
    )
    err.cause = "timeout"
    return err


async def open_response(
    client: httpx.AsyncClient,
    prepared: PreparedTarget,
    body: dict[str, Any],
    *,
    stream: bool,
    provider_name: str,
    model: str,
    extra_headers: dict[str, str] | None = None,
    first_byte_s: float | None = None,
) -> httpx.Response:
    """POST `body` (merged with the target's fixed body fields) and return the open 2xx response.

    The caller must close it (`aclose`). A non-2xx status is read, closed and raised as the mapped
    AnthropicError; transport failures become 502/504 errors, and so does no response headers within
    `first_byte_s` (None: only the client's backstop read timeout applies).
    """
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        **(extra_headers or {}),
        **prepared.headers,
    }
    content = json_codec.dumps({**body, **prepared.body_extras})
    try:
        async with asyncio.timeout(first_byte_s):  # anyio.fail_after cost 1.5% of a request's CPU
            response = await _send(client, prepared.url, headers, content)
    except httpx.HTTPError as exc:
        raise transport_error(exc, provider_name, prepared.url) from None
    except TimeoutError:
        raise first_byte_timeout(provider_name, prepared.url, first_byte_s or 0) from None
    if response.is_success:
        return response
    try:
        async with asyncio.timeout(first_byte_s):  # an error body that never ends must not hold the request
            raw = await response.aread()
    except (httpx.HTTPError, TimeoutError):
        raw = b""
    finally:
        await close(response)
    raise errors.from_upstream(response.status_code, raw, dict(response.headers), provider_name, model)


async def read_json(
    response: httpx.Response, provider_name: str, idle_s: float | None = None
) -> dict[str, Any]:
    """The JSON object body of an open response (closed afterwards), read within `idle_s` seconds."""
    url = str(response.request.url)
    try:
        async with asyncio.timeout(idle_s):
            raw = await response.aread()
    except httpx.HTTPError as exc:
        raise transport_error(exc, provider_name, url) from None
    except TimeoutError:
        err = errors.timeout(
            f"{provider_name}: upstream {_host(url)} did not finish its answer within {idle_s:g} s "
            "(timeouts.idle_s)"
        )
        err.cause = "timeout"
        raise err from None
    finally:
        await close(response)
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise errors.api_error(f"{provider_name}: upstream returned a body that is not a JSON object", 502)
    return data


def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body of an open response, chunk by chunk as it arrives.

    An uncompressed body is read straight from the transport's stream: httpx's decoding and re-chunking
    layers add two generators to every chunk, about 6% of a streamed request's CPU. A content-encoded body
    goes through httpx's decoders. Either way `close` ends it.
    """
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity") and isinstance(response.stream, httpx.AsyncByteStream):
        return aiter(response.stream)
    return response.aiter_bytes()


async def close(response: httpx.Response) -> None:
    """Close a response even while the surrounding task is being cancelled (client went away)."""
    with anyio.CancelScope(shield=True):
        await response.aclose()
