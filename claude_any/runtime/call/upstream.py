"""The HTTP client side: one pooled client per provider, sending a prepared request, reading the answer.

`open_response` returns only a 2xx response whose body is still unread (so streams start as soon as the
provider answers); any failure before that point is an `AnthropicError` with the right status, which the
app can still return as a real HTTP error or use to move on along a fallback chain. Failures while reading
the answer after that (`read_json`) are `AnswerError`s, which are never retried.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

import anyio
import httpx

from claude_any.provider_templates import PreparedTarget
from claude_any.runtime import errors
from claude_any.runtime.call import proxies
from claude_any.runtime.call.chunk_source import ChunkSource, InMemory
from claude_any.runtime.call.provider_client import (
    KEEPALIVE_EXPIRY_S,
    AnswerTooLarge,
    PooledConnection,
    ProviderClient,
    QueueFull,
    ResponseBody,
)
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.translate import json_codec
from claude_any.table import MAX_IN_FLIGHT, Timeouts

# The most a provider's answer may hold: a non-streamed body (decoded: a gzip bomb stops here too), or one
# line of a stream. Past it the answer is an error, not a hang or a MemoryError.
_MB = 1024 * 1024
MAX_ANSWER_BYTES = 32 * _MB


class AnswerError(AnthropicError):
    """A failure once the provider's answer had started (its status line came): never retried or sent to
    a fallback, since the provider may already have generated, and billed, the answer. The client may
    still retry the request as a whole."""

    @property
    def retryable(self) -> bool:
        return False


class Clients:
    """One client per provider (`ProviderClient`, a keep-alive pool on aiohttp), created on first use
    (or by `open`) and closed at shutdown. Providers never share connections, so one slow host cannot
    starve another. Each has `max_in_flight` slots: its entry in `limits`, else the default."""

    def __init__(
        self,
        timeouts: Timeouts | None = None,
        *,
        limits: Mapping[str, int] | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        keepalive_expiry_s: float = KEEPALIVE_EXPIRY_S,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self._limits = dict(limits or {})
        self._max_in_flight = max_in_flight
        self._keepalive_expiry_s = keepalive_expiry_s
        self._clients: dict[str, ProviderClient] = {}
        self._mounted: dict[str, httpx.AsyncClient] = {}
        self._proxy = proxies.from_environment()

    def mount(self, provider_name: str, client: httpx.AsyncClient) -> None:
        """Answer a provider's requests with `client` (an httpx client on a transport of its own, such as
        an in-process provider's) instead of the network."""
        self._mounted[provider_name] = client

    def get(self, provider_name: str) -> ProviderClient | httpx.AsyncClient:
        """The provider's client, created if needed."""
        mounted = self._mounted.get(provider_name)
        if mounted is not None:
            return mounted
        client = self._clients.get(provider_name)
        if client is None:
            client = ProviderClient(
                self._proxy,
                connect_s=self.timeouts.connect_s,
                # No read timeout of the client's own: every wait for the provider has the gateway's clock
                # (`first_byte_s` for the head; `idle_s` for each read of a body: keepalive.with_ticks,
                # read_json, _read_body), and aiohttp would re-arm its timer for every chunk (about 2 us a
                # streamed token) to back them up, never firing first.
                read_s=None,
                max_in_flight=self._limits.get(provider_name, self._max_in_flight),
                queue_s=self.timeouts.queue_s,
                keepalive_expiry_s=self._keepalive_expiry_s,
                name=provider_name,
            )
            self._clients[provider_name] = client
        return client

    def connections(self, provider_name: str) -> list[PooledConnection]:
        """The provider's open connections, idle or in use (for tests and diagnostics)."""
        client = self._clients.get(provider_name)
        return [] if client is None else client.connections()

    def provider_clients(self) -> Mapping[str, ProviderClient]:
        """The network clients made so far, by provider name (the metrics read their load)."""
        return self._clients

    def open(self, provider_names: Iterable[str]) -> None:
        """Create the clients of these providers now (and their pools, inside an event loop), so no
        request pays for it."""
        for name in provider_names:
            client = self.get(name)
            if isinstance(client, ProviderClient):
                client.open()

    async def aclose(self) -> None:
        """Close every client (at application shutdown)."""
        clients: list[ProviderClient | httpx.AsyncClient] = [*self._clients.values(), *self._mounted.values()]
        self._clients, self._mounted = {}, {}
        for client in clients:
            await client.aclose()


def _host(url: str) -> str:
    return errors.url_host(url)  # never the user:password@ a URL may carry


def transport_error(exc: Exception, provider_name: str, url: str) -> AnthropicError:
    """A failed connection or read, as the error the SDK retries; names the host, never the headers."""
    host = _host(url)
    if isinstance(exc, QueueFull):  # the gateway's own limit, not the provider's failure: retry later
        err = errors.overloaded(
            f"{provider_name}: {exc.limit} requests to {host} were in flight "
            f"(providers.{provider_name}.max_in_flight) for {exc.queue_s:g} s (timeouts.queue_s)"
        )
        err.cause = "queue"
    elif isinstance(exc, httpx.TimeoutException):
        err = errors.timeout(f"{provider_name}: upstream {host} timed out {_while(exc)}")
        err.cause = "timeout"
    elif isinstance(exc, httpx.ProxyError):  # its message names no secret (provider_client.py)
        err = errors.api_error(f"{provider_name}: proxy for {host} failed: {exc}", status=502)
        err.cause = "connect"
    elif isinstance(exc, httpx.ConnectError):
        err = errors.api_error(f"{provider_name}: cannot connect to {host}", status=502)
        err.cause = "connect"
    elif isinstance(exc, AnswerTooLarge):
        err = errors.api_error(f"{provider_name}: upstream {host} {exc}", status=502)
        err.cause = "too-large"
    else:
        err = errors.api_error(f"{provider_name}: upstream {host} failed: {_what_broke(exc)}", status=502)
        err.cause = "network"
    return err


def _while(exc: httpx.TimeoutException) -> str:
    """When a timeout struck, in words (httpx's class names are not the user's)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "while connecting"
    if isinstance(exc, httpx.WriteTimeout):
        return "while the request was sent"
    if isinstance(exc, httpx.PoolTimeout):
        return "while waiting for a free connection"
    return "while its answer was read"


def _what_broke(exc: Exception) -> str:
    if isinstance(exc, httpx.RemoteProtocolError):
        return "its answer broke the HTTP protocol, or the connection closed mid-answer"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "the connection was broken"
    if isinstance(exc, httpx.DecodingError):
        return "its answer could not be decoded (content encoding)"
    return "a network error"


def first_byte_timeout(provider_name: str, url: str, seconds: float) -> AnthropicError:
    """The provider did not start answering within `timeouts.first_byte_s`."""
    err = errors.timeout(
        f"{provider_name}: upstream {_host(url)} sent no response within {seconds:g} s "
        "(timeouts.first_byte_s)"
    )
    err.cause = "timeout"
    return err


async def _send(
    client: ProviderClient | httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    content: bytes,
    first_byte_s: float | None,
) -> httpx.Response:
    """POST through the provider's client, the head due within `first_byte_s` of sending (a wait for an
    in-flight slot is not counted: `timeouts.queue_s` bounds it); a mounted httpx client
    (`Clients.mount`) gets it as httpx sends."""
    if isinstance(client, ProviderClient):
        return await client.request("POST", url, headers, content, first_byte_s=first_byte_s)
    request = client.build_request("POST", url, headers=headers, content=content)
    async with asyncio.timeout(first_byte_s):  # anyio.fail_after cost 1.5% of a request's CPU
        return await client.send(request, stream=True)


async def open_response(
    client: ProviderClient | httpx.AsyncClient,
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

    The caller must close it (`aclose`). A non-2xx status is read (up to `MAX_ANSWER_BYTES`), closed and
    raised as the mapped AnthropicError; transport failures become 502/504 errors, and so does no response
    headers within `first_byte_s` (None: no limit; the relay always gives one). Waiting for an
    in-flight slot does not count towards `first_byte_s`: past `timeouts.queue_s` it is a 529.
    """
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        **(extra_headers or {}),
        **prepared.headers,
    }
    content = json_codec.dumps({**body, **prepared.body_extras})
    try:
        response = await _send(client, prepared.url, headers, content, first_byte_s)
    except httpx.HTTPError as exc:
        raise transport_error(exc, provider_name, prepared.url) from None
    except TimeoutError:
        raise first_byte_timeout(provider_name, prepared.url, first_byte_s or 0) from None
    if response.is_success:
        return response
    try:  # an error body that never ends, or never stops, must not hold the request
        raw = await _read_body(response, first_byte_s, MAX_ANSWER_BYTES, truncate=True)
    except (httpx.HTTPError, TimeoutError):
        raw = b""
    finally:
        await close(response)
    raise errors.from_upstream(response.status_code, raw, dict(response.headers), provider_name, model)


async def _read_body(
    response: httpx.Response, idle_s: float | None, limit: int, *, truncate: bool = False
) -> bytes:
    """The body of an open response, each wait for more bounded by `idle_s` (silence, not a total
    deadline); over `limit` bytes it raises AnswerTooLarge, or with `truncate` returns the first `limit`."""
    loop = asyncio.get_running_loop()
    parts: list[bytes] = []
    size = 0
    async with asyncio.timeout(None if idle_s is None else loop.time() + idle_s) as clock:
        async for chunk in cast(httpx.AsyncByteStream, response.stream):
            size += len(chunk)
            if size > limit:
                if truncate:
                    parts.append(chunk[: len(chunk) - (size - limit)])
                    break
                raise AnswerTooLarge(f"sent an answer larger than {limit // _MB} MB")
            parts.append(chunk)
            if idle_s is not None:
                clock.reschedule(loop.time() + idle_s)
    return b"".join(parts)


async def read_json(
    response: httpx.Response,
    provider_name: str,
    idle_s: float | None = None,
    *,
    limit: int = MAX_ANSWER_BYTES,
) -> dict[str, Any]:
    """The JSON object body of an open response (closed afterwards). The provider may take as long as it
    likes, but may not be silent for `idle_s` seconds nor send more than `limit` bytes: a failure to read
    the body is an `AnswerError`, not retried (the answer had started). A body read whole that is not a
    JSON object is a plain 502, like any 2xx that is no answer."""
    url = str(response.request.url)
    try:
        raw = await _read_body(response, idle_s, limit)
    except httpx.HTTPError as exc:
        raise _answer_error(transport_error(exc, provider_name, url)) from None
    except TimeoutError:
        err = AnswerError(
            504,
            "timeout_error",
            f"{provider_name}: upstream {_host(url)} sent nothing for {idle_s:g} s in the middle of its "
            "answer (timeouts.idle_s)",
        )
        err.cause = "timeout"
        raise err from None
    finally:
        await close(response)
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):  # read whole, it is no answer: retryable like any 2xx that is not one
        raise errors.api_error(f"{provider_name}: upstream returned a body that is not a JSON object", 502)
    return data


def _answer_error(err: AnthropicError) -> AnswerError:
    answer = AnswerError(err.status, err.type, err.message, err.headers)
    answer.cause = err.cause
    return answer


def body_source(response: httpx.Response, *, max_line: int = MAX_ANSWER_BYTES) -> ChunkSource:
    """The body of an open streamed response as a ChunkSource (a read that waits may be cancelled); a line
    longer than `max_line` bytes ends it with `AnswerTooLarge` (an httpx.HTTPError)."""
    stream = response.stream
    if isinstance(stream, ResponseBody):
        stream.max_line = max_line
        return stream
    return InMemory(aiter(cast(httpx.AsyncByteStream, stream)))  # an in-process provider's answer


async def close(response: httpx.Response) -> None:
    """Close a response even while the surrounding task is being cancelled (client went away)."""
    if isinstance(response.stream, ResponseBody):  # its close never waits: nothing to shield
        await response.aclose()
        return
    with anyio.CancelScope(shield=True):
        await response.aclose()
