"""The client side of a streamed answer: the SSE response, and upstream streams translated or forwarded.

Both paths read the upstream with a clock (`keepalive.with_ticks`): a `ping` while it is silent, an
`event: error` when it stalls, and an `event: error` for any failure once the headers are out, since nothing
can be retried then. The answer ends well only where the provider said so (`[DONE]`, a finish_reason,
`response.completed`, `message_stop`); a body that just ends gets an `event: error`.

Done means done: at the provider's end marker the client's response ends at once, even when the provider
holds its body open. Only then, with the client served, is the rest of the upstream body read, for at most
`DRAIN_S`, so its connection can be reused (`END_OF_RESPONSE` splits the two). After a chat finish_reason
the usage chunk and `[DONE]` usually follow at once; a silence of `FINISH_GRACE_S` after it ends the answer
as complete, which the provider said it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import httpx
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from claude_any.runtime import errors
from claude_any.runtime.call.chunk_source import ChunkSource, scrubbed
from claude_any.runtime.call.keepalive import IdleTimeout, with_ticks
from claude_any.runtime.call.targets import Destination, SSETranslator
from claude_any.runtime.call.upstream import body_source, transport_error
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.serve.access_log import CLIENT_GONE, RequestLog
from claude_any.runtime.serve.disconnect import CancelOnDisconnect
from claude_any.runtime.translate import json_codec
from claude_any.runtime.translate.anthropic.events import PING
from claude_any.runtime.translate.sse import Event, SSEReader
from claude_any.table import Timeouts

logger = logging.getLogger("claude_any")

# After the answer's end (the client's response already ended), how long the rest of the upstream body may
# take to arrive: read to its end, the connection goes back to the pool (with HTTPS, a handshake saved).
DRAIN_S = 1.0
# After a chat finish_reason, a silence this long ends the answer: the usage chunk and [DONE] usually come
# within milliseconds, and the provider has already said the answer is complete.
FINISH_GRACE_S = 2.0

# Yielded by a stream generator when the client's response is complete: `SSEResponse` ends the response
# there and runs the rest of the generator (the upstream drain) after it, sending nothing more.
END_OF_RESPONSE = b""


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
        self._sent_all = False  # the response ended at END_OF_RESPONSE: the generator's drain may run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's own __call__ watches for a disconnect with an anyio task group per response.
        try:
            with CancelOnDisconnect(receive):
                await asyncio.sleep(0)  # a loop turn first, as Starlette's stream task took: app.py says why
                await self.stream_response(send)
            if self._sent_all:
                self._log.emit()  # the client's response is complete; what follows is not its time
                async for _ in self.body_iterator:  # the upstream drain, sending nothing
                    pass
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            with anyio.CancelScope(shield=True):
                if aclose is not None:
                    await aclose()
                if self._upstream is not None:
                    await self._upstream.aclose()
            self._log.emit()

    async def stream_response(self, send: Send) -> None:
        """Starlette's, ending the response at `END_OF_RESPONSE` (the generator is left suspended)."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            if not chunk:
                self._sent_all = self._log.complete = True
                break
            body = chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


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
    upstream: ChunkSource,
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
        ticks = with_ticks(upstream, ping_s=timeouts.ping_s, idle_s=timeouts.idle_s, on_first=log.first_data)
        async with contextlib.aclosing(ticks):  # stops the upstream reader however this ends
            loop = asyncio.get_running_loop()
            grace_until = 0.0  # while finishing: the end of the silence allowed after the last data
            while not translator.done:  # [DONE], a stop sequence or an upstream error: the rest is irrelevant
                try:
                    if translator.finishing:
                        async with asyncio.timeout_at(grace_until):
                            chunk = await anext(ticks)
                    else:
                        chunk = await anext(ticks)
                except StopAsyncIteration:
                    break
                except (TimeoutError, IdleTimeout):
                    if not translator.finishing:
                        raise
                    break  # silent after its finish_reason: the answer is complete, as the provider said
                if chunk is None:
                    out = translator.ping()
                else:
                    out = translator.feed(chunk)
                    grace_until = loop.time() + FINISH_GRACE_S
                if translator.failure is not None:  # an upstream error event: it may quote a key back
                    out = destination.scrub.bytes(out)
                if out:
                    yield out
            tail = translator.finish()  # empty after an error event: nothing may follow it
            if translator.failure is not None:
                tail = destination.scrub.bytes(tail)
                log.note = f"upstream stream error: {translator.failure.type}"
            if tail:
                yield tail
            finished = True
            if translator.failure is None and translator.upstream_done:
                _count_usage(log, translator)
                yield END_OF_RESPONSE
                await _drain(ticks)
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
            log.note = CLIENT_GONE
        _count_usage(log, translator)


def _count_usage(log: RequestLog, translator: SSETranslator) -> None:
    """The answer's token counts into the log line, noting when they are the gateway's estimate."""
    log.count_usage(translator.usage)
    log.tokens_estimated = not translator.usage_metered


async def _drain(ticks: AsyncIterator[bytes | None]) -> None:
    """Read what is left of an upstream body that has ended its answer (usually nothing but the end of the
    chunked body) for at most `DRAIN_S`, so its connection can go back to the pool instead of being closed.
    Runs after the client's response ended: nothing it meets (a body held open, a failure) concerns it."""
    with contextlib.suppress(TimeoutError, IdleTimeout, httpx.HTTPError):
        async with asyncio.timeout(DRAIN_S):
            async for _ in ticks:
                pass


class _AnthropicEnd:
    """Watches a forwarded Anthropic stream for the events that end it: `message_stop` or `error`, and
    for its usage (`message_start`'s, updated by `message_delta`'s), for the request log."""

    __slots__ = ("errored", "reader", "stopped", "usage")

    def __init__(self) -> None:
        self.reader = SSEReader()
        self.stopped = False  # message_stop: the answer is complete
        self.errored = False  # the provider's own error event
        self.usage: dict[str, Any] = {}

    def feed(self, chunk: bytes) -> bool:
        """True once the stream has ended (whole events only: the client dispatches no other)."""
        self._see(self.reader.feed(chunk))
        return self.stopped or self.errored

    def close(self) -> bool:
        """At EOF: True when a last event without its blank line ended the stream."""
        self._see(self.reader.close())
        return self.stopped or self.errored

    def _see(self, events: list[Event]) -> None:
        for event in events:
            kind = event.name or _data_type(event.data)
            if kind == "message_stop":
                self.stopped = True
            elif kind == "error":
                self.errored = True
            elif kind in ("message_start", "message_delta"):
                self.usage.update(_usage_of(event.data))


def _usage_of(data: str) -> dict[str, Any]:
    """The `usage` of a `message_start` (inside `message`) or `message_delta` event, else nothing."""
    try:
        payload = json_codec.loads(data)
    except ValueError:
        return {}
    if not isinstance(payload, dict):
        return {}
    message = payload.get("message")
    usage = (message if isinstance(message, dict) else payload).get("usage")
    return usage if isinstance(usage, dict) else {}


def _data_type(data: str) -> str:
    """The `type` of an event sent without an `event:` line."""
    try:
        payload = json_codec.loads(data)
    except ValueError:
        return ""
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else ""


async def forward_stream(
    response: httpx.Response, log: RequestLog, destination: Destination, timeouts: Timeouts
) -> AsyncIterator[bytes]:
    """Anthropic SSE bytes passed through; a ping is added in a silence only between two whole events.
    The stream ends at the provider's `message_stop` (or error event); a body that ends without one gets
    an `event: error`."""
    finished = False
    sent = False
    at_boundary = False  # after a whole event (no ping before the upstream's own message_start)
    end = _AnthropicEnd()
    try:
        # The provider's bytes go out as they are, but not a key it quotes back (in an `event: error`, say).
        upstream = scrubbed(body_source(response), destination.scrub)
        ticks = with_ticks(upstream, ping_s=timeouts.ping_s, idle_s=timeouts.idle_s, on_first=log.first_data)
        async with contextlib.aclosing(ticks):  # stops the upstream reader however this ends
            async for chunk in ticks:
                if chunk is None:
                    if at_boundary:
                        yield PING
                    continue
                sent, at_boundary = True, chunk.endswith(b"\n\n")
                yield chunk
                if end.feed(chunk):
                    break
            else:
                if end.close() and not at_boundary:
                    yield b"\n\n"  # its last event lacked the blank line that makes the client dispatch it
            finished = True
            if end.stopped:
                log.count_usage(end.usage)  # before the line is written, at the end of the response
                yield END_OF_RESPONSE
                await _drain(ticks)
            elif not end.errored:
                log.note = "upstream stream ended before message_stop"
                logger.warning(
                    "%s upstream %s: the stream ended before message_stop", log.request_id, destination.label
                )
                err = errors.stream_cut(destination.provider.name)
                yield _frame_end(sent, at_boundary) + errors.sse_error(err, log.request_id)
    except IdleTimeout as exc:
        finished = True
        err = stalled(destination, log, exc.idle_s)
        yield _frame_end(sent, at_boundary) + errors.sse_error(err, log.request_id)
    except httpx.HTTPError as exc:
        err = transport_error(exc, destination.provider.name, destination.plain.url)
        log.note = f"upstream failed mid-stream: {err.message}"
        finished = True
        yield errors.sse_error(err, log.request_id)
    finally:
        if not finished:
            log.note = CLIENT_GONE
        if end.usage:  # a stream that ended otherwise
            log.count_usage(end.usage)


def _frame_end(sent: bool, at_boundary: bool) -> bytes:
    """What ends a half-sent event, so that an error frame after it parses."""
    return b"\n\n" if sent and not at_boundary else b""
