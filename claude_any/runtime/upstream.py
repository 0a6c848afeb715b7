"""The HTTP client side: one pooled httpx client per provider, and sending a prepared request.

`open_response` returns only a 2xx response whose body is still unread (so streams start as soon as the
provider answers); any failure before that point is an `AnthropicError` with the right status, which the
app can still return as a real HTTP error or use to move on along a fallback chain.
"""

from __future__ import annotations

import functools
import itertools
import json
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from claude_any.provider_templates import PreparedTarget
from claude_any.runtime import errors, pool_backend
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate import json_codec
from claude_any.table import Timeouts

USER_AGENT = "claude-any"

# httpcore 1.0's pool, whenever a request starts or ends, re-examines every connection and, for each idle
# one, counts them all: O(n^2) in its size. With 100 connections to one provider that was half the
# gateway's CPU at 50 concurrent streams, so each provider has a few smaller pools (`Clients.get` picks
# one). And each pool keeps alive as many connections as it may open: httpcore closes *every* idle
# connection while a pool holds more than `max_keepalive_connections`, so a smaller number made busy pools
# close and reopen connections all the time (a TLS handshake each).
_POOLS_PER_PROVIDER = 4
_CONNECTIONS_PER_POOL = 25
_LIMITS = httpx.Limits(
    max_connections=_CONNECTIONS_PER_POOL,
    max_keepalive_connections=_CONNECTIONS_PER_POOL,
    keepalive_expiry=60,
)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every provider client (SSL_CERT_FILE / SSL_CERT_DIR apply): loading the CA
    bundle takes 30-50 ms, which each client would otherwise pay again."""
    return httpx.create_ssl_context(trust_env=True)


class Clients:
    """The HTTP/1.1 keep-alive clients of each provider (`_POOLS_PER_PROVIDER` of them), created on first
    use (or by `open`) and closed at shutdown."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.timeouts = t = timeouts or Timeouts()
        # The first-byte and idle limits are enforced by `open_response` and the stream reader; httpx's own
        # read timeout is only a backstop that must never fire before them. Waiting for a free pooled
        # connection counts towards the first byte, hence no separate pool timeout.
        backstop = max(t.first_byte_s, t.idle_s) + 1
        self._timeout = httpx.Timeout(connect=t.connect_s, read=backstop, write=60.0, pool=None)
        self._clients: dict[str, list[httpx.AsyncClient]] = {}
        self._turns: dict[str, Iterator[httpx.AsyncClient]] = {}

    def get(self, provider_name: str) -> httpx.AsyncClient:
        """A client of the provider for the next request. While the first pool is quiet (nothing in flight,
        a connection idle), it takes the request: a single user's requests keep sharing one warm connection
        (one TLS handshake, not four). Otherwise the pools are taken in turn, which spreads concurrent
        requests evenly. Pools are per provider so one slow host cannot starve another."""
        clients = self.of(provider_name)
        counts = pool_backend.load(clients[0])
        if counts is not None and counts[0] and counts[0] == counts[1]:
            return clients[0]
        return self._next(provider_name, clients)

    def _next(self, provider_name: str, clients: list[httpx.AsyncClient]) -> httpx.AsyncClient:
        turn = self._turns.get(provider_name)
        if turn is None:
            turn = self._turns[provider_name] = itertools.cycle(clients)
        return next(turn)

    def of(self, provider_name: str) -> list[httpx.AsyncClient]:
        """All the clients of a provider, created if needed."""
        clients = self._clients.get(provider_name)
        if clients is None:
            clients = [self._client() for _ in range(_POOLS_PER_PROVIDER)]
            self._clients[provider_name] = clients
        return clients

    def _client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            timeout=self._timeout,
            limits=_LIMITS,
            verify=_tls_context(),
            headers={"user-agent": USER_AGENT},
            follow_redirects=False,
            # The environment's proxy variables apply; netrc and cookies are of no use to an API client.
            trust_env=True,
        )
        pool_backend.install(client)
        return client

    def open(self, provider_names: Iterable[str]) -> None:
        """Create the clients of these providers now, so no request pays for it."""
        for name in provider_names:
            self.of(name)

    async def aclose(self) -> None:
        """Close every pool (at application shutdown)."""
        clients = [client for group in self._clients.values() for client in group]
        self._clients, self._turns = {}, {}
        for client in clients:
            await client.aclose()


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> httpx.URL:
    """The parsed URL of a prepared target (a handful per table), parsed once instead of on every request
    (httpx's URL parsing showed in the profiles)."""
    return httpx.URL(url)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def transport_error(exc: Exception, provider_name: str, url: str) -> AnthropicError:
    """A failed connection or read, as the error the SDK retries; names the host, never the headers."""
    host = _host(url)
    if isinstance(exc, httpx.TimeoutException):
        err = errors.timeout(f"{provider_name}: upstream {host} timed out ({type(exc).__name__})")
        err.cause = "timeout"
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
    request = client.build_request("POST", _url(prepared.url), headers=headers, content=content)
    try:
        with anyio.fail_after(first_byte_s):
            response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise transport_error(exc, provider_name, prepared.url) from None
    except TimeoutError:
        raise first_byte_timeout(provider_name, prepared.url, first_byte_s or 0) from None
    if response.is_success:
        return response
    try:
        with anyio.fail_after(first_byte_s):  # an error body that never ends must not hold the request
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
        with anyio.fail_after(idle_s):
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
