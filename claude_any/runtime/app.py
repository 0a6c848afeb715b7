"""The Starlette app: the Anthropic Messages API surface Claude Code talks to.

Flat on purpose: one Route list, a handful of endpoint functions, one wrapper that gives every request an id,
checks the inbound token, renders every error as Anthropic's envelope and writes the request log line.
The start-up state (router, prepared targets, HTTP pools) is built once in `create_app`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from claude_any.runtime import errors, tokens
from claude_any.runtime.disconnect import CancelOnDisconnect
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.log import RequestLog
from claude_any.runtime.relay import Inbound, relay
from claude_any.runtime.router import NoRoute, Router
from claude_any.runtime.saved_requests import RequestArchive
from claude_any.runtime.scrub import Scrubber
from claude_any.runtime.streaming import SSEResponse
from claude_any.runtime.targets import Destinations, check_environment, resolve_auth_token
from claude_any.runtime.translate import json_codec
from claude_any.runtime.upstream import Clients
from claude_any.table import RoutingTable, Timeouts

logger = logging.getLogger("claude_any")

MEGABYTE = 1024 * 1024

# Model ids listed by /v1/models when the routes send them somewhere. Claude Code only uses listed ids that
# start with claude/anthropic, so the families are listed as Claude ids (translation.md §1.1).
FAMILY_MODELS = (
    ("claude-opus-4-8", "Claude Opus 4.8"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
)
_LISTED_AT = "2025-01-01T00:00:00Z"

Handler = Callable[[Request, RequestLog], Awaitable[Response]]


@dataclass(frozen=True)
class Gateway:
    """Everything built at start-up; reached from endpoints as `request.app.state.gateway`."""

    table: RoutingTable
    router: Router
    destinations: Destinations
    clients: Clients
    auth_token: bytes | None
    models: list[dict[str, Any]]
    scrub: Scrubber  # removes resolved secrets from every error message shown
    max_body_bytes: int
    archive: RequestArchive | None = None  # run --save-requests


# --- request body ----------------------------------------------------------------------------------------


async def _read_body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed the limit (before reading it all)."""
    limit = _gateway(request).max_body_bytes
    declared = request.headers.get("content-length", "")
    too_large = errors.request_too_large(
        f"request body is larger than {limit} bytes (server.max_body_mb: {limit // MEGABYTE})"
    )
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise too_large
        parts.append(part)
    return b"".join(parts)


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


async def _json_object(request: Request) -> dict[str, Any]:
    """The body parsed once as a JSON object; 400 with the parser's position otherwise."""
    raw = await _read_body(request)
    if not raw.strip():
        raise errors.invalid_request("request body is empty; expected a JSON object")
    try:
        body = json_codec.loads(raw)
    except UnicodeDecodeError:
        raise errors.invalid_request("request body is not valid JSON: it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise errors.invalid_request(f"request body is not valid JSON: {exc.msg} at {where}") from None
    if not isinstance(body, dict):
        raise errors.invalid_request(f"request body must be a JSON object, got {_type_name(body)}")
    return body


def _require(body: dict[str, Any], path: str, kind: type, required: bool = True) -> None:
    """400 naming the JSON path when a top-level field is missing or of the wrong type."""
    if path not in body:
        if required:
            raise errors.invalid_request(f"{path}: field required")
        return
    value = body[path]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        expected = {str: "a string", list: "an array", int: "an integer", bool: "a boolean"}[kind]
        raise errors.invalid_request(f"{path}: expected {expected}, got {_type_name(value)}")


def _check_messages_request(body: dict[str, Any]) -> None:
    _require(body, "model", str)
    if not body["model"]:
        raise errors.invalid_request("model: must not be empty")
    _require(body, "messages", list)
    for i, message in enumerate(body["messages"]):
        if not isinstance(message, dict):
            raise errors.invalid_request(f"messages.{i}: expected an object, got {_type_name(message)}")
    _require(body, "max_tokens", int, required=False)
    _require(body, "stream", bool, required=False)


# --- endpoints ---------------------------------------------------------------------------------------------


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def messages(request: Request, log: RequestLog) -> Response:
    """POST /v1/messages: route, call the target chain, answer as JSON or SSE."""
    gateway = _gateway(request)
    body = await _json_object(request)
    _check_messages_request(body)
    log.model = body["model"]
    if gateway.archive is not None:
        await gateway.archive.save(log.request_id, body)
    try:
        decision = gateway.router.pick(body, request.headers)
    except NoRoute as exc:
        raise errors.not_found(str(exc)) from None
    log.rule = decision.route.name if decision.route is not None else "direct"
    policy = (decision.route.retry if decision.route is not None else None) or gateway.table.retry
    inbound = Inbound(body, request.headers, log, input_tokens=decision.facts.tokens)
    call = relay(inbound, decision.chain, gateway.destinations, gateway.clients, policy=policy)
    response = await _unless_disconnected(request, call)
    if response is None:
        log.status, log.note = 499, "client disconnected before the answer started"
        return Response(status_code=499)  # nobody is listening; the status is for the log line
    return response


async def _unless_disconnected(request: Request, call: Awaitable[Response]) -> Response | None:
    """Await `call`, cancelling it (and so the upstream request) if the client goes away first.

    Until a response starts, the server does not tell the app about a disconnect on its own: without this
    a client that gives up would leave a provider generating (and billing) for minutes.
    """

    response: Response | None = None
    with CancelOnDisconnect(request.receive):
        response = await call  # the call runs in this task; a disconnect cancels it, leaving `response` unset
    # One turn of the event loop before the answer starts (the anyio task group's exit took one): the loop
    # takes in the I/O that arrived meanwhile first. Measured at concurrency 10 (bench.run cc-stream,
    # paced): without this and SSEResponse's turn, TTFB p50 +1.5 ms and 6% fewer req/s.
    await asyncio.sleep(0)
    return response


async def count_tokens(request: Request, log: RequestLog) -> Response:
    """POST /v1/messages/count_tokens: the offline estimate (no upstream call)."""
    body = await _json_object(request)
    _require(body, "model", str)
    _require(body, "messages", list)
    log.model = body["model"]
    log.tokens_in = tokens.estimate(body)
    return JSONResponse({"input_tokens": log.tokens_in}, headers={"request-id": log.request_id})


async def models(request: Request, log: RequestLog) -> Response:
    """GET /v1/models: the routable Claude family ids and every target id."""
    data = _gateway(request).models
    page = {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    return JSONResponse(page, headers={"request-id": log.request_id})


async def hello(request: Request, log: RequestLog) -> Response:
    """GET/HEAD / and /api/hello: Claude Code's connectivity probe; any 200 will do."""
    return JSONResponse({"name": "claude-any", "status": "ok"}, headers={"request-id": log.request_id})


async def health(request: Request, log: RequestLog) -> Response:
    """GET /health."""
    return JSONResponse({"status": "ok"}, headers={"request-id": log.request_id})


# --- the wrapper every endpoint goes through ----------------------------------------------------------


def _authorized(headers: Mapping[str, str], token: bytes) -> bool:
    """The token in x-api-key or `Authorization: Bearer`, compared in constant time."""
    candidates = [headers.get("x-api-key", "")]
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        candidates.append(credential.strip())
    return any(c and hmac.compare_digest(c.encode("utf-8"), token) for c in candidates)


def error_response(err: AnthropicError, request_id: str) -> JSONResponse:
    """The one rendering of an error: Anthropic's envelope, its status, retry headers and the request id."""
    headers = {**err.headers, "request-id": request_id}
    return JSONResponse(errors.envelope(err, request_id), status_code=err.status, headers=headers)


def endpoint(handler: Handler, *, auth: bool) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: request id, inbound auth, error envelope, one log line (streams log when they end)."""

    async def wrapped(request: Request) -> Response:
        # The routed path as the server gave it: `request.url` would build and re-parse the whole URL (1% of
        # the CPU of a streamed request, py-spy); routes match fixed paths, so both read the same.
        log = RequestLog(request.method, request.scope["path"], errors.new_request_id())
        try:
            token = _gateway(request).auth_token
            if auth and token is not None and not _authorized(request.headers, token):
                raise errors.authentication(
                    "invalid or missing API key: send the server's auth_token as x-api-key or a Bearer token"
                )
            response = await handler(request, log)
        except AnthropicError as err:
            log.status, log.note = err.status, log.note or err.type
            err.message = _gateway(request).scrub(err.message)
            response = error_response(err, log.request_id)
        except Exception:
            # Unreachable for bad input by design; the traceback names code, never request data or keys.
            logger.exception("%s unexpected error", log.request_id)
            log.status, log.note = 500, "internal error"
            response = error_response(errors.api_error("internal error in claude-any"), log.request_id)
        if not isinstance(response, SSEResponse):
            log.status = response.status_code
            log.emit()
        return response

    return wrapped


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (unknown path) and 405 (wrong method), in the Anthropic envelope."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    path = request.url.path
    if status == 404:
        err = errors.not_found(f"not found: {request.method} {path}")
    elif status == 405:
        err = errors.method_not_allowed(f"method {request.method} is not allowed on {path}")
    else:
        err = AnthropicError(status, "invalid_request_error", f"HTTP {status} on {path}")
    response = error_response(err, errors.new_request_id())
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


ROUTES = [
    Route("/v1/messages", endpoint(messages, auth=True), methods=["POST"]),
    Route("/v1/messages/count_tokens", endpoint(count_tokens, auth=True), methods=["POST"]),
    Route("/v1/models", endpoint(models, auth=True), methods=["GET"]),
    Route("/", endpoint(hello, auth=False), methods=["GET", "HEAD"]),
    Route("/api/hello", endpoint(hello, auth=False), methods=["GET", "HEAD"]),
    Route("/health", endpoint(health, auth=False), methods=["GET", "HEAD"]),
]


# --- start-up ----------------------------------------------------------------------------------------------


def _model_list(table: RoutingTable, router: Router) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for model_id, display in FAMILY_MODELS:
        try:
            decision = router.pick({"model": model_id, "messages": [], "max_tokens": 1}, {})
        except NoRoute:
            continue
        first = decision.chain[0] if decision.chain else "?"
        entries.append({"id": model_id, "display_name": f"{display} (claude-any: {first})"})
    for target_id, target in table.targets.items():
        entries.append({"id": target_id, "display_name": f"{target_id} ({target.provider}/{target.model})"})
    return [{"type": "model", "created_at": _LISTED_AT, **entry} for entry in entries]


def create_app(
    table: RoutingTable,
    env: Mapping[str, str] = os.environ,
    *,
    timeouts: Timeouts | None = None,
    save_requests: str | None = None,
) -> Starlette:
    """The app for a routing table. Resolves secrets and renders every target's request now, so a missing
    `${VAR}` or a broken template raises `StartupError` before anything listens. `timeouts` overrides
    the table's (tests); `save_requests` is a directory to keep request bodies in."""
    scrub = Scrubber.for_table(table, env)
    check_environment(table, env)  # every unset variable at once, before anything else is built
    router = Router(table)
    token = resolve_auth_token(table, env)
    gateway = Gateway(
        table=table,
        router=router,
        destinations=Destinations(table, env, router.ad_hoc_target),
        clients=Clients(timeouts or table.timeouts),
        auth_token=token.encode("utf-8") if token is not None else None,
        models=_model_list(table, router),
        scrub=scrub,
        max_body_bytes=table.server.max_body_mb * MEGABYTE,
        archive=RequestArchive(save_requests, scrub.value) if save_requests else None,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # What the first request would otherwise pay for: the provider clients (TLS context, pools) and
        # anyio's event-loop backend, which it imports on first use.
        gateway.clients.open(p.name for p in table.providers.values() if p.kind != "echo")
        async with anyio.create_task_group():
            pass
        yield
        await gateway.clients.aclose()

    app = Starlette(
        routes=ROUTES,
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
