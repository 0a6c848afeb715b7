"""The client side of a streamed answer: the SSE response, and upstream streams translated or forwarded.

Both paths read the upstream with a clock (`keepalive.with_ticks`): a `ping` while it is silent, an
`event: error` when it stalls, and an `event: error` for any failure once the headers are out, since nothing
can be retried then. A stream that ended normally is read to its end so its connection is reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import anyio
import httpx
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from claude_any.runtime import errors
from claude_any.runtime.disconnect import CancelOnDisconnect
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.keepalive import IdleTimeout, with_ticks
from claude_any.runtime.log import RequestLog
from claude_any.runtime.targets import Destination, SSETranslator
from claude_any.runtime.translate.events import PING
from claude_any.runtime.upstream import body_chunks, transport_error
from claude_any.table import Timeouts

logger = logging.getLogger("claude_any")

# After the upstream's end-of-answer marker, read at most this many more chunks to reuse its connection.
_DRAIN_CHUNKS = 8


class SSEResponse(StreamingResponse):
    """A StreamingResponse that, however it ends, closes its generator and the upstream response and writes
    the request log line: a client that goes away must not leave the provider stream open until the
    abandoned generator is garbage-collected (or never started)."""

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        headers: Mapping[str, str],
        log: RequestLog,
        upstream: httpx.Response | None = None,
    ) -> None:
        super().__init__(content, headers=headers)
        self._log = log
        self._upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's own __call__ watches for a disconnect with an anyio task group per response.
        try:
            with CancelOnDisconnect(receive):
                await asyncio.sleep(0)  # a loop turn first, as Starlette's stream task took: app.py says why
                await self.stream_response(send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            with anyio.CancelScope(shield=True):
                if aclose is not None:
                    await aclose()
                if self._upstream is not None:
                    await self._upstream.aclose()
            self._log.emit()


def stalled(destination: Destination, log: RequestLog, idle_s: float) -> AnthropicError:
    """The error (and the log line) for an upstream stream silent for `idle_s`."""
    logger.warning(
        "%s upstream %s stalled: no data for %gs (timeouts.idle_s); ending the stream",
        log.request_id,
        destination.label,
        idle_s,
    )
    log.note = f"upstream stalled for {idle_s:g}s"
    err = errors.timeout(
        f"{destination.provider.name}: the upstream stream sent nothing for {idle_s:g} s (timeouts.idle_s)"
    )
    err.cause = "timeout"
    return err


async def translate_stream(
    upstream: AsyncIterator[bytes],
    translator: SSETranslator,
    log: RequestLog,
    destination: Destination,
    timeouts: Timeouts,
) -> AsyncIterator[bytes]:
    """OpenAI SSE bytes in, Anthropic SSE bytes out; failures after the headers become `event: error`,
    silences get a `ping` every `ping_s` and end with an error after `idle_s`."""
    finished = False
    try:
        yield translator.start()
        ticks = with_ticks(upstream, ping_s=timeouts.ping_s, idle_s=timeouts.idle_s)
        async with contextlib.aclosing(ticks):  # stops the upstream reader however this ends
            async for chunk in ticks:
                out = translator.ping() if chunk is None else translator.feed(chunk)
                if translator.failure is not None:  # an upstream error event: it may quote a key back
                    out = destination.scrub.bytes(out)
                if out:
                    yield out
                if translator.done:  # [DONE], a stop sequence or an upstream error: the rest is irrelevant
                    break
            tail = translator.finish()  # empty after an error event: nothing may follow it
            if tail:
                yield tail
            finished = True
            if translator.upstream_done:
                await _drain(ticks)
        if translator.failure is not None:
            log.note = f"upstream stream error: {translator.failure.type}"
    except IdleTimeout as exc:
        finished = True
        yield translator.error(stalled(destination, log, exc.idle_s))
    except httpx.HTTPError as exc:
        err = transport_error(exc, destination.provider.name, destination.plain.url)
        log.note = f"upstream failed mid-stream: {err.message}"
        finished = True
        yield translator.error(err)
    except Exception:
        logger.exception("%s stream translation failed", log.request_id)
        log.note = "stream translation failed"
        finished = True
        yield translator.error(errors.api_error("internal error while translating the upstream stream"))
    finally:
        if not finished:
            log.note = "client disconnected"
        log.count_usage(translator.usage)


async def _drain(ticks: AsyncIterator[bytes | None], limit: int = _DRAIN_CHUNKS) -> None:
    """Read what is left of an upstream body that has ended its answer (usually nothing but the end of the
    chunked body), so httpx can put the connection back in its pool instead of closing it: with HTTPS
    providers that saves a TLS handshake on the next request."""
    for _ in range(limit):
        try:
            await ticks.__anext__()
        except StopAsyncIteration:
            return


async def forward_stream(
    response: httpx.Response, log: RequestLog, destination: Destination, timeouts: Timeouts
) -> AsyncIterator[bytes]:
    """Anthropic SSE bytes passed through; a ping is added in a silence only between two whole events."""
    finished = False
    at_boundary = False  # nothing before the upstream's own message_start
    try:
        # The provider's bytes go out as they are, but not a key it quotes back (in an `event: error`, say).
        upstream = destination.scrub.stream(body_chunks(response))
        ticks = with_ticks(upstream, ping_s=timeouts.ping_s, idle_s=timeouts.idle_s)
        async with contextlib.aclosing(ticks):  # stops the upstream reader however this ends
            async for chunk in ticks:
                if chunk is None:
                    if at_boundary:
                        yield PING
                    continue
                at_boundary = chunk.endswith(b"\n\n")
                yield chunk
        finished = True
    except IdleTimeout as exc:
        finished = True
        prefix = b"" if at_boundary else b"\n\n"  # end a half-sent event so the error frame parses
        yield prefix + errors.sse_error(stalled(destination, log, exc.idle_s), log.request_id)
    except httpx.HTTPError as exc:
        err = transport_error(exc, destination.provider.name, destination.plain.url)
        log.note = f"upstream failed mid-stream: {err.message}"
        finished = True
        yield errors.sse_error(err, log.request_id)
    finally:
        if not finished:
            log.note = "client disconnected"
