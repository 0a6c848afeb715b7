"""Send a routed request to its target and relay the answer back, in the client's dialect.

Three wire protocols, one flow:
- `openai`: translate the request, call the provider, translate the response or the SSE stream back;
- `anthropic`: pass-through (only `model` and auth change), the bytes go back untouched;
- `echo`: no network; an in-process completion goes through the same translators as `openai`.
A fallback chain is walked in order while a target fails *before the first byte* with a retryable error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import httpx
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from claude_any.runtime import echo, errors, tokens
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.log import RequestLog
from claude_any.runtime.targets import Destination, Destinations
from claude_any.runtime.translate.context import Context
from claude_any.runtime.translate.request import to_openai
from claude_any.runtime.translate.response import from_openai
from claude_any.runtime.translate.stream import StreamTranslator
from claude_any.runtime.upstream import Clients, open_response, read_json, transport_error

logger = logging.getLogger("claude_any")

# Client headers an Anthropic upstream needs to honour the same request (beta features change the schema).
_PASSTHROUGH_HEADERS = ("anthropic-beta",)


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
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            with anyio.CancelScope(shield=True):
                if aclose is not None:
                    await aclose()
                if self._upstream is not None:
                    await self._upstream.aclose()
            self._log.emit()


def _headers(request_id: str, destination: Destination, stream: bool) -> dict[str, str]:
    headers = {"request-id": request_id, "x-claude-any-target": destination.target.id}
    if stream:
        headers["cache-control"] = "no-cache"
        # Reverse proxies (nginx) would otherwise buffer the stream and stall the client.
        headers["x-accel-buffering"] = "no"
    return headers


def _usage_numbers(usage: Any) -> tuple[int | None, int | None]:
    """(input incl. cache, output) tokens from an Anthropic usage dict, for the log line."""
    if not isinstance(usage, Mapping):
        return None, None
    tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
    if isinstance(tokens_in, int):
        for key in ("cache_read_input_tokens", "cache_creation_input_tokens"):
            extra = usage.get(key)
            tokens_in += extra if isinstance(extra, int) else 0
    return (
        tokens_in if isinstance(tokens_in, int) else None,
        tokens_out if isinstance(tokens_out, int) else None,
    )


async def relay(
    body: dict[str, Any],
    headers: Mapping[str, str],
    chain: tuple[str, ...],
    destinations: Destinations,
    clients: Clients,
    log: RequestLog,
) -> Response:
    """Answer `body` from the first target of `chain` that does not fail retryably before its first byte."""
    for position, target_id in enumerate(chain):
        destination = destinations.get(target_id)
        log.target, log.upstream = target_id, destination.label
        try:
            return await _attempt(destination, body, headers, clients, log)
        except AnthropicError as err:
            if not err.retryable or position == len(chain) - 1:
                raise
            logger.warning(
                "%s target %s failed (%d %s); falling back to %s",
                log.request_id,
                target_id,
                err.status,
                err.type,
                chain[position + 1],
            )
            log.note = f"fallback from {target_id}: {err.type}"
    raise errors.api_error("the route has no targets")  # the compiler never writes an empty chain


async def _attempt(
    destination: Destination,
    body: dict[str, Any],
    headers: Mapping[str, str],
    clients: Clients,
    log: RequestLog,
) -> Response:
    stream = body.get("stream") is True
    log.stream = stream
    log.status = 200  # until an error says otherwise; a stream's status is sent with its first byte
    protocol = destination.plain.protocol
    if protocol == "anthropic":
        return await _passthrough(destination, body, headers, clients, log, stream)
    openai_body, ctx = to_openai(body, destination.upstream)
    log.tokens_in = ctx.estimated_input_tokens or None
    if protocol == "echo":
        return _echo(destination, body, ctx, log, stream)
    prepared = destination.request(stream)
    response = await open_response(
        clients.get(destination.provider.name),
        prepared,
        openai_body,
        stream=stream,
        provider_name=destination.provider.name,
        model=destination.target.model,
    )
    if not stream:
        message = from_openai(await read_json(response, destination.provider.name), ctx)
        return _message_response(message, destination, log)
    chunks = _translate(response.aiter_bytes(), StreamTranslator(ctx), log, destination)
    return SSEResponse(
        chunks, headers=_headers(log.request_id, destination, True), log=log, upstream=response
    )


def _message_response(message: dict[str, Any], destination: Destination, log: RequestLog) -> Response:
    log.tokens_in, log.tokens_out = _usage_numbers(message.get("usage"))
    log.status = 200
    return JSONResponse(message, headers=_headers(log.request_id, destination, False))


async def _translate(
    upstream: AsyncIterator[bytes],
    translator: StreamTranslator,
    log: RequestLog,
    destination: Destination,
) -> AsyncIterator[bytes]:
    """OpenAI SSE bytes in, Anthropic SSE bytes out; failures after the headers become `event: error`."""
    finished = False
    try:
        yield translator.start()
        async for chunk in upstream:
            out = translator.feed(chunk)
            if out:
                yield out
            if translator.done:  # [DONE], a stop sequence or an upstream error: the rest is irrelevant
                break
        tail = translator.finish()  # empty after an error event: nothing may follow it
        if tail:
            yield tail
        finished = True
        if translator.failure is not None:
            log.note = f"upstream stream error: {translator.failure.type}"
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
        log.tokens_in, log.tokens_out = _usage_numbers(translator.usage)


def _echo(
    destination: Destination, body: dict[str, Any], ctx: Context, log: RequestLog, stream: bool
) -> Response:
    full = echo.completion(
        body,
        target_id=destination.target.id,
        label=destination.label,
        tool_names=ctx.tool_names,
        input_tokens=ctx.estimated_input_tokens or tokens.estimate(body),
    )
    if not stream:
        return _message_response(from_openai(full, ctx), destination, log)

    async def upstream() -> AsyncIterator[bytes]:
        for chunk in echo.chunks(full):
            yield chunk

    chunks = _translate(upstream(), StreamTranslator(ctx), log, destination)
    return SSEResponse(chunks, headers=_headers(log.request_id, destination, True), log=log)


async def _passthrough(
    destination: Destination,
    body: dict[str, Any],
    headers: Mapping[str, str],
    clients: Clients,
    log: RequestLog,
    stream: bool,
) -> Response:
    """Anthropic upstream: the client's body with `model` replaced (by the template), answers untouched."""
    log.tokens_in = tokens.estimate(body)
    extra = {name: headers[name] for name in _PASSTHROUGH_HEADERS if name in headers}
    response = await open_response(
        clients.get(destination.provider.name),
        destination.request(stream),
        body,
        stream=stream,
        provider_name=destination.provider.name,
        model=destination.target.model,
        extra_headers=extra,
    )
    if not stream:
        message = await read_json(response, destination.provider.name)
        return _message_response(message, destination, log)
    chunks = _forward(response, log, destination)
    return SSEResponse(
        chunks, headers=_headers(log.request_id, destination, True), log=log, upstream=response
    )


async def _forward(
    response: httpx.Response, log: RequestLog, destination: Destination
) -> AsyncIterator[bytes]:
    finished = False
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
        finished = True
    except httpx.HTTPError as exc:
        err = transport_error(exc, destination.provider.name, destination.plain.url)
        log.note = f"upstream failed mid-stream: {err.message}"
        finished = True
        yield errors.sse_error(err, log.request_id)
    finally:
        if not finished:
            log.note = "client disconnected"
