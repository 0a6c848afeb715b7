"""Loopback test servers and table builders, shared by the HTTP tests (fixtures live in conftest.py).

- `FakeUpstream`: a scriptable fake OpenAI-compatible (or Anthropic) server that records every request and
  answers from a script of `Reply` values (JSON, SSE chunk lists, statuses, delays).
- `ThreadServer`: any ASGI app under uvicorn on a free 127.0.0.1 port, in a background thread.
- `make_table` / `target` / `DEFAULT_ROUTES`: build RoutingTable objects directly (only the default routes
  come from the compiler, so they are the ones it adds).
- `black_hole`: a listening socket whose connects hang (Linux), for connect timeouts and races.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from claude_any.capabilities import lookup
from claude_any.compiler.rules import DEFAULT_RULES
from claude_any.runtime.serve.client_limits import ClientLimits
from claude_any.runtime.serve.server import uvicorn_config
from claude_any.table import NamedToken, Provider, RetryPolicy, RoutingTable, Server, Target, empty_params
from claude_any.table import Route as TableRoute

# Requests shaped like Claude Code's, committed with the tests (tests/fixtures/build_claude_code.py).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "claude-code"


# --- a uvicorn server in a thread --------------------------------------------------------------------------


class ThreadServer:
    """uvicorn serving `app` on a free 127.0.0.1 port from a background thread; with `limits`, configured as
    `claude-any run` configures it (runtime/serve/server.py: uvloop, the client-limiting protocol)."""

    def __init__(self, app: Any, limits: ClientLimits | None = None) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if limits is not None:
            config: uvicorn.Config = uvicorn_config(app, limits, log_level="warning", lifespan="on")
        else:
            config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.005)
        return self

    def request_stop(self) -> None:
        self._server.should_exit = True

    def stop(self) -> None:
        self.request_stop()
        self._thread.join(timeout=10)
        self._sock.close()


# --- the fake upstream -------------------------------------------------------------------------------------


@dataclass
class Reply:
    """One scripted upstream answer. `chunks` makes an SSE stream: dicts become `data: <json>` events,
    strings are sent as they are (use them for `data: [DONE]`, comments or garbage); a number pauses that
    many seconds with the body held open, a `threading.Event` until it is set (the test decides when the
    stream goes on); an exception instance drops the connection at that point."""

    status: int = 200
    json: Any = None
    chunks: list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    chunk_delay: float = 0.0  # between SSE chunks
    raw: bytes | None = None  # a non-JSON body


def sse(data: Any) -> str:
    """One SSE data event."""
    return f"data: {json.dumps(data)}\n\n"


DONE = "data: [DONE]\n\n"


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    raw_path: str = ""  # the path as it came on the wire, percent-encoding kept (`path` is decoded)


class FakeUpstream:
    """Records requests; answers from the script in order (a 500 when the script is exhausted), or, when a
    `responder` is set, with whatever it returns for each recorded request (for multi-turn clients)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: list[Reply] = []
        self.responder: Callable[[Recorded], Reply] | None = None
        self.closed_streams = 0  # streams whose client went away before the end
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        self.server = ThreadServer(self.app)
        self.url = self.server.url

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def reset(self) -> None:
        self.requests.clear()
        self.replies.clear()
        self.responder = None
        self.closed_streams = 0

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        raw_path = request.scope.get("raw_path", b"").decode("latin-1")
        recorded = Recorded(
            request.method, request.url.path, request.url.query, dict(request.headers), body, raw_path
        )
        self.requests.append(recorded)
        if self.responder is not None:
            reply = self.responder(recorded)
        elif not self.replies:
            return JSONResponse({"error": {"message": "fake upstream: no scripted reply"}}, status_code=500)
        else:
            reply = self.replies.pop(0)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.chunks is not None:
            return StreamingResponse(
                self._stream(reply),
                status_code=reply.status,
                headers=reply.headers,
                media_type="text/event-stream",
            )
        if reply.raw is not None:
            return Response(reply.raw, status_code=reply.status, headers=reply.headers)
        return JSONResponse(reply.json, status_code=reply.status, headers=reply.headers)

    async def _stream(self, reply: Reply) -> Any:
        complete = False
        try:
            for chunk in reply.chunks or []:
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                if isinstance(chunk, Exception):
                    raise chunk  # uvicorn drops the connection mid-body
                if isinstance(chunk, int | float):
                    await asyncio.sleep(chunk)
                    continue
                if isinstance(chunk, threading.Event):
                    while not chunk.is_set():
                        await asyncio.sleep(0.01)
                    continue
                yield (sse(chunk) if isinstance(chunk, dict) else chunk).encode("utf-8")
            complete = True
        finally:
            if not complete:
                self.closed_streams += 1


# --- routing tables ----------------------------------------------------------------------------------------


# The compiler's own default routes (background and haiku -> small, sonnet/opus/other Claude -> large).
DEFAULT_ROUTES = tuple(
    TableRoute(rule.name, rule.source, rule.when, (rule.category,), "default") for rule in DEFAULT_RULES
)


def target(target_id: str, provider: Provider, model: str, **params: Any) -> Target:
    """A Target with looked-up capabilities and optional params (headers, body, max_tokens, …)."""
    merged = {**empty_params(), **params}
    return Target(target_id, provider.name, model, model, lookup(provider.kind, model), merged)


# Test tables try each target of a chain once (fallbacks still apply): a scripted failure is answered as it
# is. Retries are tested with explicit policies in tests/runtime/test_resilience*.py.
NO_RETRY = RetryPolicy(attempts=1)


def make_table(
    providers: list[Provider],
    targets: list[Target],
    routes: tuple[TableRoute, ...] = DEFAULT_ROUTES,
    auth_token: str | None = None,
    retry: RetryPolicy = NO_RETRY,
    tokens: Mapping[str, str] | None = None,
) -> RoutingTable:
    named = tuple(NamedToken(name, value) for name, value in (tokens or {}).items())
    return RoutingTable(
        source="tests",
        server=Server(auth_token=auth_token, tokens=named),
        providers={p.name: p for p in providers},
        targets={t.id: t for t in targets},
        routes=routes,
        retry=retry,
    )


def openai_provider(
    base_url: str, name: str = "openai", api_key: str | None = "${OPENAI_API_KEY}"
) -> Provider:
    return Provider(name, "openai", "chat", {"api_key": api_key, "base_url": base_url, "organization": None})


TEST_ENV = {"OPENAI_API_KEY": "sk-test-openai", "AZURE_KEY": "az-test-key", "DATABRICKS_TOKEN": "dapi-test"}
TEST_ENV |= {"ANTHROPIC_API_KEY": "sk-ant-test", "GATEWAY_TOKEN": "gw-secret"}


@contextlib.contextmanager
def black_hole() -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1 whose accept queue is full: Linux drops further SYNs, so a connect
    to it hangs (elsewhere it may be refused or accepted instead; tests using it are Linux-only)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(sock.getsockname())
        try:
            yield sock
        finally:
            for filler in fillers:
                filler.close()
