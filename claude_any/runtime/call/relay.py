"""Send a routed request to its target and relay the answer back, in the client's dialect.

Three wire protocols, one flow:
- `chat` / `responses`: translate the request (Chat Completions or Responses API), call the provider,
  translate the response or the SSE stream back;
- `anthropic`: pass-through (only `model` and auth change), the bytes go back untouched; the in-process
  `echo` provider is one too, an Anthropic server behind its own client (runtime/call/echo.py).
Failures before the first byte reaches the client are retried (`_walk`): the chain is walked in rounds,
every target once per round in order (a fallback is tried at once), with a backoff or the provider's
Retry-After between rounds, bounded by the policy's attempts and time budget. A 2xx that is not an answer
(an HTML page, an error object, the wrong shape) is such a failure too (answer_check.py, the translators).
After the first byte nothing is re-sent: a failure becomes an `event: error` (stream_relay.py: keep-alive
pings, idle timeout, an answer the provider did not finish).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from starlette.responses import JSONResponse, Response

from claude_any.runtime import errors
from claude_any.runtime.call import answer_check, retry
from claude_any.runtime.call.exception_frames import release_frames
from claude_any.runtime.call.retry import Attempts
from claude_any.runtime.call.stream_relay import SSEResponse, forward_stream, translate_stream
from claude_any.runtime.call.targets import Destination, Destinations
from claude_any.runtime.call.upstream import Clients, body_source, open_response, read_json
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.route import tokens
from claude_any.runtime.serve import offload
from claude_any.runtime.serve.access_log import (
    HEADER_CHARS,
    RequestLog,
    debug_answer,
    debug_call,
    debug_stream,
    printable,
)
from claude_any.runtime.translate.anthropic.passthrough import without_gateway_thinking
from claude_any.table import RetryPolicy

logger = logging.getLogger("claude_any")

# Client headers an Anthropic upstream needs to honour the same request (beta features change the schema).
_PASSTHROUGH_HEADERS = ("anthropic-beta",)
# How long a 2xx that is not an answer may take to show what it is (its body is only read to say so).
_NOT_AN_ANSWER_READ_S = 10.0


def header_safe(value: str) -> str:
    """`value` as an HTTP header value: escaped printable ASCII, length-capped (a model name may hold
    anything, and an ad hoc target id is built from it)."""
    return printable(value, HEADER_CHARS)


def _headers(request_id: str, destination: Destination, stream: bool) -> dict[str, str]:
    headers = {"request-id": request_id, "x-claude-any-target": header_safe(destination.target.id)}
    if stream:
        headers["cache-control"] = "no-cache"
        # Reverse proxies (nginx) would otherwise buffer the stream and stall the client.
        headers["x-accel-buffering"] = "no"
    return headers


@dataclass(frozen=True)
class Inbound:
    """One client request, as every attempt at answering it needs it."""

    body: dict[str, Any]
    headers: Mapping[str, str]
    log: RequestLog
    input_tokens: int | None = None  # the estimate routing already made, so it is not made twice
    large: bool = False  # a body of offload.LARGE_BODY_BYTES or more: translated on the worker thread

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True


async def relay(
    inbound: Inbound,
    chain: tuple[str, ...],
    destinations: Destinations,
    clients: Clients,
    *,
    policy: RetryPolicy,
) -> Response:
    """Answer the request from `chain`, retrying and falling back while failures happen before the first
    byte.

    The response (or the raised AnthropicError) carries `x-claude-any-target` (the target that answered or
    failed last) and `x-claude-any-attempts` (every try, e.g. `large:429,small:200`).
    """
    log = inbound.log
    attempts = Attempts()
    try:
        response = await _walk(inbound, chain, destinations, clients, policy, attempts)
    except AnthropicError as err:
        if log.target != "-":
            err.headers["x-claude-any-target"] = header_safe(log.target)
        if len(attempts):
            err.headers[Attempts.HEADER] = header_safe(attempts.header())
        raise
    response.headers[Attempts.HEADER] = header_safe(attempts.header())
    return response


async def _walk(
    inbound: Inbound,
    chain: tuple[str, ...],
    destinations: Destinations,
    clients: Clients,
    policy: RetryPolicy,
    attempts: Attempts,
) -> Response:
    log = inbound.log
    if not chain:
        raise errors.api_error("the route has no targets")  # the compiler never writes an empty chain
    deadline = anyio.current_time() + policy.budget_s
    last: AnthropicError | None = None
    tried: dict[str, AnthropicError] = {}  # each target's latest failure
    asked: list[float | None] = []  # the Retry-After of each failure of the current round
    for round_ in range(1, policy.attempts + 1):
        if round_ > 1:
            wait = retry.next_wait(round_ - 1, policy, asked)
            if anyio.current_time() + wait > deadline:
                break
            await anyio.sleep(wait)
            asked = []
        for target_id in chain:
            if round_ > 1 and anyio.current_time() >= deadline:
                break  # every target had its first try; retries stop at the budget
            destination = destinations.get(target_id)
            log.target, log.upstream = target_id, destination.label
            if target_id in tried:  # counted for the metrics
                log.retries += 1
            elif tried:
                log.fallbacks += 1
            try:
                response = await _attempt(destination, inbound, clients)
            except AnthropicError as err:
                attempts.add(target_id, err.cause or err.status)
                if not err.retryable:
                    raise
                release_frames(err)  # kept for the final error: not the frames (and the request) it passed
                last = tried[target_id] = err
                log.failed_tries += (target_id,)
                asked.append(retry.retry_after(err.headers))
                logger.warning(
                    "%s attempt %d: %s failed (%d %s)",
                    log.request_id,
                    len(attempts),
                    target_id,
                    err.status,
                    err.type,
                )
                continue
            attempts.add(target_id, 200)
            if len(attempts) > 1:
                log.note = f"attempts {attempts.header()}"
            return response
        else:
            continue
        break  # out of budget in the middle of a round
    assert last is not None  # at least one attempt ran, and every one failed retryably
    log.note = f"gave up after {attempts.header()}"
    log.failed_tries = log.failed_tries[:-1]  # the last is the request's own target and status
    raise errors.unreachable_or_last(last, tried)


async def _attempt(destination: Destination, inbound: Inbound, clients: Clients) -> Response:
    body, log, stream = inbound.body, inbound.log, inbound.stream
    log.stream = stream
    log.status = 200  # until an error says otherwise; a stream's status is sent with its first byte
    protocol = destination.plain.protocol
    if protocol == "anthropic":
        log.tokens_in = tokens.estimate(body) if inbound.input_tokens is None else inbound.input_tokens
        return await _passthrough(destination, inbound, clients)
    dialect = destination.dialect  # Chat Completions or Responses
    estimate, headers = inbound.input_tokens, inbound.headers
    if inbound.large:  # on the worker thread: the event loop serves other clients meanwhile
        openai_body, ctx = await offload.run(
            dialect.request, body, destination.upstream, estimated_input_tokens=estimate, headers=headers
        )
    else:
        openai_body, ctx = dialect.request(
            body, destination.upstream, estimated_input_tokens=estimate, headers=headers
        )
    ctx.provider = destination.provider.name  # the answer's errors name it
    log.tokens_in = ctx.estimated_input_tokens or None
    response = await _send(destination, openai_body, {}, clients, log, stream)
    if not stream:
        raw = await read_json(response, destination.provider.name, clients.timeouts.idle_s)
        debug_answer(log.request_id, destination, raw)
        message = dialect.response(raw, ctx)
        log.tokens_estimated = not ctx.usage_metered
        return _message_response(message, destination, log)
    upstream = debug_stream(body_source(response), log.request_id, destination)
    chunks = translate_stream(upstream, dialect.stream(ctx), log, destination, clients.timeouts)
    return SSEResponse(
        chunks, headers=_headers(log.request_id, destination, True), log=log, upstream=response
    )


async def _send(
    destination: Destination,
    body: dict[str, Any],
    extra_headers: dict[str, str],
    clients: Clients,
    log: RequestLog,
    stream: bool,
) -> httpx.Response:
    """POST `body` to the target (with its credential's headers, if any) and return the open 2xx answer,
    checked to be of the answer's kind."""
    prepared = destination.request(stream)
    debug_call(log.request_id, destination, prepared, body)
    credential = destination.credential
    headers = extra_headers if credential is None else extra_headers | await credential.request_headers()

    async def call() -> httpx.Response:
        return await open_response(
            clients.get(destination.provider.name),
            prepared,
            body,
            stream=stream,
            provider_name=destination.provider.name,
            model=destination.target.model,
            extra_headers=headers or None,
            first_byte_s=clients.timeouts.first_byte_s,
        )

    try:
        response = await call()
    except AnthropicError as err:
        # An identity token the provider refuses (revoked, or rotated before its expiry) is dropped and the
        # call made once more with a new one: nothing has reached the client yet.
        if err.status != 401 or credential is None or not credential.forget(headers):
            raise
        headers = extra_headers | await credential.request_headers()
        response = await call()
    await _check_content_type(response, destination, clients, stream)
    return response


async def _check_content_type(
    response: httpx.Response, destination: Destination, clients: Clients, stream: bool
) -> None:
    """A 2xx whose content type is not the answer's kind is the error it holds, before the first byte."""
    await answer_check.check_content_type(
        response,
        stream=stream,
        provider_name=destination.provider.name,
        read_s=min(clients.timeouts.idle_s, _NOT_AN_ANSWER_READ_S),
    )


def _message_response(message: dict[str, Any], destination: Destination, log: RequestLog) -> Response:
    log.count_usage(message.get("usage"))
    log.status = 200
    return JSONResponse(message, headers=_headers(log.request_id, destination, False))


async def _passthrough(destination: Destination, inbound: Inbound, clients: Clients) -> Response:
    """Anthropic upstream: the client's body with `model` replaced (by the template), answers untouched
    but for a secret the provider quotes back, which is replaced by `***` (`runtime/scrub.py`)."""
    log, stream = inbound.log, inbound.stream
    extra = {name: inbound.headers[name] for name in _PASSTHROUGH_HEADERS if name in inbound.headers}
    body = without_gateway_thinking(inbound.body)  # Anthropic refuses thinking another target signed
    response = await _send(destination, body, extra, clients, log, stream)
    if not stream:
        message = await read_json(response, destination.provider.name, clients.timeouts.idle_s)
        answer_check.check_anthropic_message(message, destination.provider.name)
        return _message_response(destination.scrub.value(message), destination, log)
    chunks = forward_stream(response, log, destination, clients.timeouts)
    return SSEResponse(
        chunks, headers=_headers(log.request_id, destination, True), log=log, upstream=response
    )
