"""The Starlette app: the Anthropic Messages API surface Claude Code talks to.

Flat on purpose: one Route list, a handful of endpoint functions, one wrapper that gives every request an id,
refuses what a web page sends (web_guard.py), checks the inbound token, renders every error as Anthropic's
envelope and writes the request log line. Bodies are read and checked by request_body.py; large ones are
worked on off the event loop (offload.py).
A table's state (router, prepared targets, HTTP pools) is a `Gateway` (gateway.py); each request takes the
current one once, when it starts (`PinGateway`), and keeps it to its end, so a reload (reload.py) that swaps
in another never changes a request midway. What outlives a table is `ProcessState`, in `app.state.process`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from claude_any.runtime import errors
from claude_any.runtime.call.relay import Inbound, relay
from claude_any.runtime.call.stream_relay import SSEResponse
from claude_any.runtime.call.targets import StartupError
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.route import tokens
from claude_any.runtime.route.facts import SESSION_HEADER, Facts
from claude_any.runtime.route.router import Decision, NoRoute, Router
from claude_any.runtime.route.tokens import SessionScale
from claude_any.runtime.serve import offload, request_body, status_page
from claude_any.runtime.serve.access_log import RequestLog, printable
from claude_any.runtime.serve.client_protocol import REFUSAL
from claude_any.runtime.serve.disconnect import CancelOnDisconnect
from claude_any.runtime.serve.gateway import Gateway, Gateways, ProcessState, build_gateway
from claude_any.runtime.serve.metrics import MULTIPROCESS_VARIABLE, Metrics
from claude_any.runtime.serve.reload import Reloader
from claude_any.runtime.serve.saved_requests import RequestArchive
from claude_any.runtime.serve.sessions import session_id
from claude_any.runtime.serve.table_source import TableReload
from claude_any.table import RoutingTable, Timeouts, Usage

if TYPE_CHECKING:  # loads SQLAlchemy: imported at run time only when the ledger is on (_open_ledger)
    from claude_any.usage.ledger import Ledger
from claude_any.usage import budgets

logger = logging.getLogger("claude_any")

MEGABYTE = request_body.MEGABYTE

_PAGE_DEFAULT, _PAGE_MAX = 20, 1000  # Anthropic's `limit`: 20 unless given, 1 to 1000
_LIFECYCLES = ("active", "deprecated", "retired")

Handler = Callable[[Request, RequestLog], Awaitable[Response]]

_GATEWAY = "claude_any.gateway"  # the scope key of the gateway a request took when it started

# --- request body ---------------------------------------------------------------------------------------


async def _json_body(request: Request) -> bytes:
    """The raw body of a JSON endpoint: declared as JSON, within the size limit."""
    request_body.require_json(request.headers)
    return await request_body.read(request, _gateway(request).max_body_bytes)


def _parse_and_route(
    router: Router, raw: bytes, headers: Mapping[str, str]
) -> tuple[dict[str, Any], Decision | NoRoute]:
    """The checked body and where it goes. The token estimate, the costly fact, is made here too, so for a
    large body all of it runs on the worker thread."""
    body = request_body.parse_object(raw)
    request_body.check_messages_request(body)
    try:
        decision = router.pick(body, headers)
    except NoRoute as exc:
        return body, exc
    _ = decision.facts.tokens
    return body, decision


def _parse_and_count(raw: bytes) -> tuple[dict[str, Any], int]:
    body = request_body.parse_object(raw)
    request_body.require(body, "model", str)
    request_body.require(body, "messages", list)
    return body, tokens.estimate(body)


# --- endpoints ---------------------------------------------------------------------------------------------


def _gateway(request: Request) -> Gateway:
    """The gateway this request took when it started (a reload meanwhile does not change it)."""
    gateway: Gateway = request.scope[_GATEWAY]
    return gateway


def _process(request: Request) -> ProcessState:
    process: ProcessState = request.app.state.process
    return process


async def messages(request: Request, log: RequestLog) -> Response:
    """POST /v1/messages: route, call the target chain, answer as JSON or SSE."""
    gateway = _gateway(request)
    _record_and_check_budget(request, gateway, log)
    raw = await _json_body(request)
    large = len(raw) >= offload.LARGE_BODY_BYTES
    if large:
        body, decision = await offload.run(_parse_and_route, gateway.router, raw, request.headers)
    else:
        body, decision = _parse_and_route(gateway.router, raw, request.headers)
    del raw  # a large body is not kept twice while it is answered
    log.model = body["model"]
    process = _process(request)
    process.sessions.follow(log)
    if process.archive is not None:  # kept even when not routable: explain --request then says why
        await process.archive.save(log.request_id, body)
    if isinstance(decision, NoRoute):  # the model as the client wrote it: escaped and cut, as in the log
        raise errors.not_found(
            str(NoRoute(printable(decision.model), decision.routable, decision.rules, why=decision.why))
        )
    log.rule = decision.route.name if decision.route is not None else "direct"
    _learn_session_scale(process.session_scale, decision.facts, log)
    policy = (decision.route.retry if decision.route is not None else None) or gateway.table.retry
    inbound = Inbound(body, request.headers, log, input_tokens=decision.facts.tokens, large=large)
    call = relay(inbound, decision.chain, gateway.destinations, gateway.clients, policy=policy)
    response = await _unless_disconnected(request, call)
    if response is None:
        log.status, log.note = 499, "client disconnected before the answer started"
        return Response(status_code=499)  # nobody is listening; the status is for the log line
    return response


def _record_and_check_budget(request: Request, gateway: Gateway, log: RequestLog) -> None:
    """Record the request in the usage ledger (when it is over), and refuse it when its user is past their
    `limits:` entry. Messages only: they are what is paid for; count_tokens and the model list cost
    nothing and would only crowd the ledger."""
    ledger = _process(request).ledger
    if ledger is None:
        return
    log.listeners.append(ledger.add)
    limit = gateway.table.limits.get(log.user) if log.user else None
    if limit is not None and (refused := budgets.refusal(log.user, limit, ledger.spent_today(log.user))):
        raise refused


def _learn_session_scale(sessions: SessionScale, facts: Facts, log: RequestLog) -> None:
    """Once the answer is over, compare what the provider counted with the estimate, for the session's
    next requests. Background requests go elsewhere (small) and are mostly framing: not learned from."""
    session = facts.session
    if not session or facts.background:
        return
    estimate = facts.estimated_tokens

    def learn(done: RequestLog) -> None:
        if done.status == 200:
            sessions.learn(session, estimate, done.tokens_in)

    log.listeners.append(learn)


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
    """POST /v1/messages/count_tokens: the offline estimate (no upstream call), in the provider's tokens
    once the session has had an answer."""
    raw = await _json_body(request)
    if len(raw) >= offload.LARGE_BODY_BYTES:
        body, estimate = await offload.run(_parse_and_count, raw)
    else:
        body, estimate = _parse_and_count(raw)
    log.model = body["model"]
    session = request.headers.get(SESSION_HEADER, "")
    log.tokens_in = _process(request).session_scale.scale(session, estimate)
    return JSONResponse({"input_tokens": log.tokens_in}, headers={"request-id": log.request_id})


async def models(request: Request, log: RequestLog) -> Response:
    """GET /v1/models: every target under the id Claude Code's model picker keeps, one page of them
    (Anthropic's `limit`, `after_id`, `before_id`, `lifecycle`)."""
    query = request.query_params
    data = _gateway(request).models
    lifecycles = query.getlist("lifecycle[]") + query.getlist("lifecycle")
    for value in lifecycles:
        if value not in _LIFECYCLES:
            raise errors.invalid_request(
                f"lifecycle: expected one of {', '.join(_LIFECYCLES)}, got {value!r}"
            )
    if lifecycles and "active" not in lifecycles:
        data = []  # every target is active
    limit = _page_limit(query.get("limit"))
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and before is not None:
        raise errors.invalid_request("after_id and before_id cannot be given together")
    if before is not None:
        end = _position(data, before, "before_id")
        start = max(0, end - limit)
        page, has_more = data[start:end], start > 0
    else:
        start = _position(data, after, "after_id") + 1 if after is not None else 0
        page, has_more = data[start : start + limit], start + limit < len(data)
    body = {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
    return JSONResponse(body, headers={"request-id": log.request_id})


def _page_limit(raw: str | None) -> int:
    if raw is None:
        return _PAGE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= _PAGE_MAX:
        raise errors.invalid_request(f"limit: expected an integer from 1 to {_PAGE_MAX}, got {raw[:40]!r}")
    return int(raw)


def _position(data: list[dict[str, Any]], model_id: str, param: str) -> int:
    for index, entry in enumerate(data):
        if entry["id"] == model_id:
            return index
    raise errors.invalid_request(f"{param}: no model {model_id[:200]!r} in this list")


async def model(request: Request, log: RequestLog) -> Response:
    """GET /v1/models/{model_id}: one listed model."""
    model_id = request.path_params["model_id"]
    found = next((m for m in _gateway(request).models if m["id"] == model_id), None)
    if found is None:
        raise errors.not_found(f"model {model_id[:200]!r} is not listed here; GET /v1/models lists them")
    return JSONResponse(found, headers={"request-id": log.request_id})


async def session_summary(request: Request, log: RequestLog) -> Response:
    """GET /v1/claude-any/sessions/{id}: what answered a Claude Code session, its tokens and cost."""
    summary = _process(request).sessions.describe(request.path_params["session_id"])
    return JSONResponse(summary, headers={"request-id": log.request_id})


async def status(request: Request, log: RequestLog) -> Response:
    """GET /status: the targets and their recent health, the last requests, today's spend (status_page.py)."""
    data = await _status(request)
    return status_page.html_response(data, request.query_params, log.request_id)


async def status_json(request: Request, log: RequestLog) -> Response:
    """GET /status.json: what /status shows, as JSON."""
    return status_page.json_response(await _status(request), log.request_id)


async def _status(request: Request) -> dict[str, Any]:
    process = _process(request)
    return await status_page.snapshot(_gateway(request).table, process.recent, process.spend)


async def hello(request: Request, log: RequestLog) -> Response:
    """GET/HEAD / and /api/hello: Claude Code's connectivity probe; any 200 will do."""
    return JSONResponse({"name": "claude-any", "status": "ok"}, headers={"request-id": log.request_id})


async def health(request: Request, log: RequestLog) -> Response:
    """GET /health."""
    return JSONResponse({"status": "ok"}, headers={"request-id": log.request_id})


async def metrics(request: Request, log: RequestLog) -> Response:
    """GET /metrics: Prometheus' text format (runtime/serve/metrics.py)."""
    found = _process(request).metrics
    found.refresh(_gateway(request).clients.provider_clients())
    body, content_type = found.exposition()
    return Response(body, media_type=content_type, headers={"request-id": log.request_id})


# --- the wrapper every endpoint goes through ----------------------------------------------------------


def error_response(err: AnthropicError, request_id: str) -> JSONResponse:
    """The one rendering of an error: Anthropic's envelope, its status, retry headers and the request id."""
    headers = {**err.headers, "request-id": request_id}
    return JSONResponse(errors.envelope(err, request_id), status_code=err.status, headers=headers)


def endpoint(handler: Handler, *, auth: bool, page: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: request id, inbound auth, error envelope, one log line (streams log when they end).
    A `page` is one a browser opens: its 401 asks the browser for the token (as a Basic password)."""

    async def wrapped(request: Request) -> Response:
        # The routed path as the server gave it: `request.url` would build and re-parse the whole URL (1% of
        # the CPU of a streamed request, py-spy); routes match fixed paths, so both read the same.
        log = RequestLog(request.method, request.scope["path"], errors.new_request_id())
        process = _process(request)
        log.listeners.append(process.metrics.record)
        try:
            gateway = _gateway(request)
            refusal = gateway.guard.refusal(request.headers)  # a web page's request: before the token
            if refusal is not None:
                raise refusal
            if auth:
                log.user = gateway.tokens.user(request.headers)
            log.listeners.append(process.recent.record)  # the status page's ring, once it is over
            log.session, log.price_of = session_id(request.headers), gateway.price_of
            response = await handler(request, log)
        except AnthropicError as err:
            log.status, log.note, log.error = err.status, log.note or err.type, err.type
            gateway = _gateway(request)
            err.message = gateway.destinations.scrub_tokens(gateway.scrub(err.message))
            response = error_response(err, log.request_id)
            if page and err.status == 401 and "text/html" in request.headers.get("accept", ""):
                response.headers["www-authenticate"] = 'Basic realm="claude-any"'
        except ClientDisconnect:  # gone, or cut by client_protocol.py, before its whole body arrived
            log.status, log.note = request.scope.get(REFUSAL, (499, "client disconnected during its body"))
            response = Response(status_code=log.status)  # nobody is listening; the status is for the log
        except Exception:
            # Unreachable for bad input by design; the traceback names code, never request data or keys.
            logger.exception("%s unexpected error", log.request_id)
            log.status, log.note = 500, "internal error"
            response = error_response(errors.api_error("internal error in claude-any"), log.request_id)
        if isinstance(response, SSEResponse):
            process.metrics.stream_started(log)
        else:
            log.status = response.status_code
            log.emit()
        return response

    return wrapped


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (unknown path) and 405 (wrong method), in the Anthropic envelope."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    path = printable(request.scope["path"])  # what the client sent, shown escaped and cut
    if status == 404:
        err = errors.not_found(f"not found: {printable(request.method)} {path}")
    elif status == 405:
        err = errors.method_not_allowed(f"method {printable(request.method)} is not allowed on {path}")
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
    Route("/v1/models/{model_id:path}", endpoint(model, auth=True), methods=["GET"]),
    Route("/v1/claude-any/sessions/{session_id}", endpoint(session_summary, auth=True), methods=["GET"]),
    Route("/status", endpoint(status, auth=True, page=True), methods=["GET"]),
    Route("/status.json", endpoint(status_json, auth=True, page=True), methods=["GET"]),
    Route("/", endpoint(hello, auth=False), methods=["GET", "HEAD"]),
    Route("/api/hello", endpoint(hello, auth=False), methods=["GET", "HEAD"]),
    Route("/health", endpoint(health, auth=False), methods=["GET", "HEAD"]),
    Route("/metrics", endpoint(metrics, auth=True, page=True), methods=["GET"]),
]


# --- start-up ----------------------------------------------------------------------------------------------


class PinGateway:
    """Gives each HTTP request the current gateway when it starts, kept in its scope to its end (the whole
    streamed response included) and counted in flight, so a replaced gateway closes after its last one."""

    def __init__(self, app: ASGIApp, gateways: Gateways) -> None:
        self.app = app
        self.gateways = gateways

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gateway = scope[_GATEWAY] = self.gateways.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.gateways.leave(gateway)


def _open_ledger(usage: Usage, env: Mapping[str, str]) -> Ledger | None:
    """The usage ledger `usage:` asks for; None when it is off. Its modules are imported here, only when it
    is on: they load SQLAlchemy, 13 MB of a gateway's memory."""
    if not usage.enabled:
        return None
    from claude_any.usage.database import LedgerError
    from claude_any.usage.ledger import Ledger

    try:
        return Ledger.for_usage(usage, env)
    except LedgerError as exc:
        raise StartupError(str(exc)) from None


def create_app(
    table: RoutingTable,
    env: Mapping[str, str] = os.environ,
    *,
    timeouts: Timeouts | None = None,
    save_requests: str | None = None,
    reload: TableReload | None = None,
) -> Starlette:
    """The app for a routing table. Resolves secrets and renders every target's request now, so a missing
    `${VAR}` or a broken template raises `StartupError` before anything listens. `timeouts` overrides
    the table's (tests); `save_requests` is a directory to keep request bodies in; `reload` reads the table
    again on SIGHUP and, when its file is watched, on every change (serve/reload.py)."""
    # Process-wide, so it outlives a reload of the table: the metrics, counted by the current table's
    # target ids, and the usage ledger (`usage:` needs a restart).
    multiprocess_dir = env.get(MULTIPROCESS_VARIABLE) or None
    process = ProcessState(Metrics(lambda: gateways.current.table.targets, multiprocess_dir=multiprocess_dir))
    build = partial(build_gateway, env=env, session_scale=process.session_scale, timeouts=timeouts)
    first = build(table)
    process.ledger = ledger = _open_ledger(table.usage, env)
    if save_requests:  # scrubbed of the secrets of the table served at the time
        process.archive = RequestArchive(save_requests, lambda body: gateways.current.scrub.value(body))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # What the first request would otherwise pay for: the provider clients (TLS context, pools) and
        # anyio's event-loop backend, which it imports on first use.
        gateways.current.open()
        async with anyio.create_task_group():
            pass
        if ledger is not None:
            ledger.start()
        async with process.metrics.kept_live(lambda: gateways.current.clients.provider_clients()):
            if reload is None:
                yield
            else:
                async with Reloader(reload, gateways, build).running():
                    yield
        if ledger is not None:  # what is queued is written (within FLUSH_SECONDS) before the process ends
            await anyio.to_thread.run_sync(ledger.close)
        await gateways.aclose()

    app = Starlette(
        routes=ROUTES,
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.gateway = first  # the current gateway: a reload assigns another
    app.state.process = process
    gateways = Gateways(app.state)
    app.add_middleware(PinGateway, gateways=gateways)
    return app
