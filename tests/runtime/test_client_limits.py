"""Clients cannot hold the gateway's resources forever (issue #13, item 6), over raw sockets against the
gateway as `claude-any run` serves it (serve/server.py's uvicorn settings, serve/client_protocol.py),
with the clocks shortened: a request must arrive at a pace (slowloris, a silent connection, a dripping
body, endless headers), a client that stops reading its stream is cut and its provider stream closed, and
connections beyond the cap get 529 overloaded_error."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from faults import chunk, fake_provider, resilient_table
from loopback import TEST_ENV, FakeUpstream, Reply, ThreadServer

from claude_any.runtime.serve.app import create_app
from claude_any.runtime.serve.client_limits import HEADER_BYTES, ClientLimits
from claude_any.runtime.serve.client_protocol import ClientProtocol
from claude_any.runtime.serve.server import client_limits, uvicorn_config

SHORT = ClientLimits(header_s=0.5, write_s=0.5, max_connections=4096)
MAX_WAIT_S = 10.0  # generous: each clock here is 0.5 s


@pytest.fixture
def serve(upstream: FakeUpstream) -> Iterator[Callable[[ClientLimits], ThreadServer]]:
    started: list[ThreadServer] = []

    def start(limits: ClientLimits) -> ThreadServer:
        app = create_app(resilient_table([fake_provider(upstream.url)]), TEST_ENV)
        started.append(ThreadServer(app, limits=limits).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _connect(server: ThreadServer, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", server.port))
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict[str, Any], float]:
    """Everything the server sends until it closes: (status, JSON body, seconds waited)."""
    started = time.monotonic()
    sock.settimeout(MAX_WAIT_S)
    data = b""
    while chunk_ := sock.recv(65536):
        data += chunk_
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body), time.monotonic() - started


def _drip(sock: socket.socket, data: bytes, every_s: float) -> bool:
    """Send `data` a byte at a time; False once the server has closed the connection."""
    for byte in data:
        try:
            sock.send(bytes([byte]))
        except OSError:
            return False
        time.sleep(every_s)
    return True


def test_slowloris_headers_are_cut(serve: Callable[[ClientLimits], ThreadServer]) -> None:
    sock = _connect(serve(SHORT))
    sock.sendall(b"GET /health HTTP/1.1\r\n")
    assert not _drip(sock, b"host: 127.0.0.1\r\nx-slow: " + b"a" * 200, every_s=0.05)  # cut, not finished
    status, body, _ = _answer(sock)
    assert status == 408
    assert body["error"] == {
        "type": "timeout_error",
        "message": "the request headers did not arrive in time (within 0.5 s)",
    }


def test_a_connection_that_sends_nothing_is_closed(serve: Callable[[ClientLimits], ThreadServer]) -> None:
    status, body, waited = _answer(_connect(serve(SHORT)))
    assert status == 408 and waited < MAX_WAIT_S
    assert body["error"]["type"] == "timeout_error"


def test_a_dripping_body_is_cut_and_logged(
    serve: Callable[[ClientLimits], ThreadServer], upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    sock = _connect(serve(SHORT))
    head = b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    sock.sendall(head + b"content-length: 100000\r\n\r\n")
    with caplog.at_level(logging.INFO, logger="claude_any"):
        assert not _drip(sock, b'{"model": "' + b"m" * 500, every_s=0.05)
        status, body, _ = _answer(sock)
        time.sleep(0.2)  # the request's own log line follows the close
    assert status == 408
    assert body["error"]["message"] == "the request body did not arrive in time (within 0.5 s)"
    lines = [r.getMessage() for r in caplog.records if "POST /v1/messages" in r.getMessage()]
    assert len(lines) == 1 and "status=408" in lines[0] and "did not arrive in time" in lines[0]
    assert upstream.requests == []


def test_a_slow_but_steady_body_is_served(
    serve: Callable[[ClientLimits], ThreadServer], upstream: FakeUpstream
) -> None:
    upstream.script(Reply(json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}))
    sock = _connect(serve(SHORT))
    body = json.dumps({"model": "large", "max_tokens": 5, "messages": [], "pad": "x" * 60_000}).encode()
    head = b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    sock.sendall(head + b"content-length: %d\r\n\r\n" % len(body))
    for start in range(0, len(body), 8192):  # 8 KB every 0.2 s (40 KB/s): longer than a clock in all
        sock.sendall(body[start : start + 8192])
        time.sleep(0.2)
    sock.settimeout(MAX_WAIT_S)
    assert sock.recv(12) == b"HTTP/1.1 200"
    sock.close()


def test_endless_headers_are_refused(serve: Callable[[ClientLimits], ThreadServer]) -> None:
    sock = _connect(serve(SHORT))
    sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n")
    try:
        for _ in range(HEADER_BYTES // 1000 + 10):
            sock.sendall(b"x-junk: " + b"a" * 990 + b"\r\n")
    except OSError:
        pass  # closed while sending: the answer is already in the receive buffer
    status, body, _ = _answer(sock)
    assert status == 431
    assert body["error"]["message"] == "the request line and headers are larger than 64 KB"


def test_unparsable_http_gets_the_envelope(serve: Callable[[ClientLimits], ThreadServer]) -> None:
    sock = _connect(serve(SHORT))
    sock.sendall(b"HELLO THERE\r\n\r\n")
    status, body, _ = _answer(sock)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("not a valid HTTP/1.1 request")


@pytest.mark.parametrize("upgrade", [b"websocket", b"h2c"])
def test_an_upgrade_request_is_answered_as_http_without_a_warning(
    serve: Callable[[ClientLimits], ThreadServer], caplog: pytest.LogCaptureFixture, upgrade: bytes
) -> None:
    sock = _connect(serve(SHORT))
    sock.sendall(
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, close\r\nUpgrade: "
        + upgrade
        + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    status, body, _ = _answer(sock)
    assert (status, body) == (200, {"status": "ok"})
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_client_that_stops_reading_is_cut_and_the_provider_released(
    serve: Callable[[ClientLimits], ThreadServer], upstream: FakeUpstream
) -> None:
    # An endless stream of 8 KB chunks: the buffers on the way fill within a second or two, and the provider
    # is still streaming when the gateway gives up on the client, so only the gateway can end it.
    endless = itertools.repeat(chunk({"content": "word " * 1600}))
    upstream.script(Reply(chunks=endless, chunk_delay=0.001))  # type: ignore[arg-type]
    sock = _connect(serve(SHORT), rcvbuf=4096)
    body = json.dumps({"model": "large", "max_tokens": 5, "messages": [], "stream": True}).encode()
    head = b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    sock.sendall(head + b"content-length: %d\r\n\r\n" % len(body) + body)
    deadline = time.monotonic() + MAX_WAIT_S
    while upstream.closed_streams == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # reading nothing
    assert upstream.closed_streams == 1  # the gateway closed the provider stream
    sock.settimeout(MAX_WAIT_S)
    received = b""
    with contextlib.suppress(ConnectionResetError):  # and closed the client's connection: EOF (or a reset)
        while data := sock.recv(65536):
            received += data
    sock.close()
    assert received.startswith(b"HTTP/1.1 200") and b"message_stop" not in received


def test_connections_beyond_the_cap_get_529(serve: Callable[[ClientLimits], ThreadServer]) -> None:
    server = serve(ClientLimits(header_s=30, write_s=30, max_connections=3))
    held = [_connect(server) for _ in range(3)]
    time.sleep(0.2)  # accepted
    extra = _connect(server)
    extra.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
    status, body, _ = _answer(extra)
    assert status == 529
    assert body["error"]["type"] == "overloaded_error"
    assert "maximum of 3 client connections open (server.max_connections)" in body["error"]["message"]
    held.pop().close()
    time.sleep(0.2)
    again = _connect(server)
    again.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
    assert _answer(again)[0] == 200
    for sock in held:
        sock.close()


def test_run_serves_with_the_limits_of_the_table() -> None:
    table = resilient_table([fake_provider("http://127.0.0.1:9")])
    limits = client_limits(table)
    assert (limits.write_s, limits.max_connections) == (60.0, 4096)
    config = uvicorn_config(create_app(table, TEST_ENV), limits)
    config.load()
    assert config.http_protocol_class is ClientProtocol and config.limits == limits


def test_a_client_gone_during_its_body_is_a_499_line_not_a_traceback(
    serve: Callable[[ClientLimits], ThreadServer], caplog: pytest.LogCaptureFixture
) -> None:
    sock = _connect(serve(SHORT))
    head = b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    with caplog.at_level(logging.INFO, logger="claude_any"):
        sock.sendall(head + b'content-length: 1000\r\n\r\n{"model": ')
        time.sleep(0.1)
        sock.close()
        time.sleep(0.3)
    lines = [r.getMessage() for r in caplog.records if r.name == "claude_any"]
    assert len(lines) == 1, lines
    assert "POST /v1/messages status=499" in lines[0] and "client disconnected during its body" in lines[0]
