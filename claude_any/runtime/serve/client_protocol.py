"""uvicorn's HTTP/1.1 protocol (httptools) with the limits that keep one client from holding the gateway.

- A request must arrive at a pace: its request line and headers within `header_s` of the connection (or of
  its first byte, on a kept-alive connection), at most HEADER_BYTES of them, and its body at no less than
  BODY_MIN_BYTES per `header_s`. Otherwise: 408 (431 for too many header bytes) and the connection is closed.
  uvicorn has no header timeout at all: a client sending a header byte a second held a connection forever.
- A client that stops reading its answer is cut when the gateway could not write to it for `write_s`
  (`timeouts.client_write_s`): its request's work is cancelled and the provider stream closed, as for any
  disconnect. Before, the answer's task waited forever on a full socket buffer.
- Beyond `max_connections` open connections (`server.max_connections`), requests are answered 529
  overloaded_error in Anthropic's envelope, which clients retry; uvicorn's own `limit_concurrency` answers
  503 in plain text.
- A request that is not HTTP at all gets its 400 in the envelope too (uvicorn answers in plain text).

These live in the protocol because the ASGI app sees neither connections nor requests before their headers
are complete, nor the socket's flow control. The clocks cost nothing per byte: one timer per connection,
re-armed only when it fires, reads a deadline that the parser callbacks move.
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from claude_any.runtime import errors
from claude_any.runtime.errors import AnthropicError
from claude_any.runtime.serve.access_log import RequestLog, printable
from claude_any.runtime.serve.client_limits import BODY_MIN_BYTES, HEADER_BYTES, ClientLimits
from claude_any.runtime.translate import json_codec

logger = logging.getLogger("claude_any")


# Set in a request's ASGI scope when the protocol cut its body short: (status, why), for its log line.
REFUSAL = "claude_any.refusal"


class _HeadersTooLarge(Exception):
    pass


class GatewayConfig(uvicorn.Config):
    """uvicorn's config carrying the client limits to `ClientProtocol` (also into `--workers` processes,
    which receive the config pickled)."""

    def __init__(self, app: Any, *, limits: ClientLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits


def _response(status: int, err: AnthropicError, request_id: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json_codec.dumps(errors.envelope(err, request_id))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"request-id", request_id.encode()),
        (b"connection", b"close"),
    ]
    return headers, body


def overloaded(limit: int) -> ASGIApp:
    """The ASGI app that answers the requests of a connection beyond `limit`: 529 and close."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = printable(str(scope.get("path", "-")))
        log = RequestLog(str(scope.get("method", "-")), path, errors.new_request_id())
        err = errors.overloaded(
            f"claude-any has its maximum of {limit} client connections open (server.max_connections); "
            "retry in a moment"
        )
        headers, body = _response(529, err, log.request_id)
        await send({"type": "http.response.start", "status": 529, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        log.status, log.note = 529, "over server.max_connections"
        log.emit()

    return app


class ClientProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with `ClientLimits` (module docstring)."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = config.limits if isinstance(config, GatewayConfig) else ClientLimits()
        self._arriving: str | None = None  # "headers" or "body" while a request is being received
        self._deadline = 0.0  # by when it must have arrived (headers) or made progress (body)
        self._header_bytes = 0
        self._body_bytes = 0  # since the body's clock last looked
        self._clock: asyncio.TimerHandle | None = None
        self._write_clock: asyncio.TimerHandle | None = None

    # --- connections -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.app = overloaded(self.limits.max_connections)
        self._expect("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._arriving = None
        for clock in (self._clock, self._write_clock):
            if clock is not None:
                clock.cancel()
        self._clock = self._write_clock = None
        super().connection_lost(exc)

    # --- a request arriving ------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._arriving is None:  # a kept-alive connection's next request: its headers' clock starts
            self._expect("headers")

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count_header_bytes(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count_header_bytes(len(name) + len(value) + 4)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._expect("body")  # until on_message_complete, which follows at once when there is none

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._body_bytes += len(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._arriving = None

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > HEADER_BYTES:
            # Stops the parser; uvicorn then calls send_400_response, which answers 431 for this.
            raise _HeadersTooLarge

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to an unparsable request, in Anthropic's envelope (431 for too many bytes)."""
        if self._header_bytes > HEADER_BYTES:
            self._refuse(431, f"the request line and headers are larger than {HEADER_BYTES // 1024} KB")
        else:
            self._refuse(400, f"not a valid HTTP/1.1 request ({msg.rstrip('.')})")

    def _unsupported_upgrade_warning(self) -> None:
        """A request asking to switch protocols (`Upgrade: websocket`, `h2c`) is answered as plain HTTP/1.1,
        which the header allows; uvicorn would log two warnings per such request, one advising to install a
        WebSocket library that the gateway, which serves none (`ws: none`), does not want."""
        logger.debug("a request asked to upgrade the connection; answered as HTTP/1.1")

    def _expect(self, part: str) -> None:
        self._arriving = part
        self._deadline = self.loop.time() + self.limits.header_s
        self._body_bytes = 0
        if self._clock is None:
            self._clock = self.loop.call_at(self._deadline, self._look)

    def _look(self) -> None:
        """The clock: fires at the latest deadline it knew of, and re-arms itself while a request arrives."""
        self._clock = None
        if self._arriving is None or self.transport.is_closing():
            return
        now = self.loop.time()
        if now < self._deadline:
            self._clock = self.loop.call_at(self._deadline, self._look)
            return
        if self._arriving == "body" and (self._body_bytes >= BODY_MIN_BYTES or self.flow.read_paused):
            self._expect("body")  # progress (or the app is not reading yet): a new period
            return
        what = "request headers" if self._arriving == "headers" else "request body"
        self._refuse(408, f"the {what} did not arrive in time (within {self.limits.header_s:g} s)")

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` for a request that is not arriving as it must, and close the connection."""
        self._arriving = None
        if self.transport.is_closing():
            return
        cycle = self.cycle if self.cycle is not None and not self.cycle.response_complete else None
        if cycle is not None and (cycle.scope is not self.scope or cycle.response_started):
            # An answer is on its way (to this request, or to one before it, pipelined): close after it.
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        request_id = errors.new_request_id()
        if cycle is not None:  # the app is waiting for the body: it sees a disconnect and logs the request
            cycle.scope[REFUSAL] = (status, message)  # type: ignore[literal-required]
            cycle.disconnected = True
            cycle.message_event.set()
        else:
            log = RequestLog("-", "-", request_id)
            log.status, log.note = status, message
            log.emit()
        err = AnthropicError(status, "timeout_error" if status == 408 else "invalid_request_error", message)
        headers, body = _response(status, err, request_id)
        status_line = b"HTTP/1.1 %d %s\r\n" % (status, http.HTTPStatus(status).phrase.encode())
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(status_line + head + b"\r\n" + body)
        self.transport.close()

    # --- an answer the client does not read --------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_clock is None:
            self._write_clock = self.loop.call_later(self.limits.write_s, self._write_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_clock is not None:
            self._write_clock.cancel()
            self._write_clock = None

    def _write_timed_out(self) -> None:
        self._write_clock = None
        logger.warning(
            "a client read nothing of its answer for %gs (timeouts.client_write_s); closing its connection",
            self.limits.write_s,
        )
        self.transport.abort()  # its request sees a disconnect: the work is cancelled, the provider released
