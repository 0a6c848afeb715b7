"""Helpers for the resilience and fault-injection tests (test_resilience*.py, test_faults*.py).

- `SilentUpstream`: a raw TCP server that reads a request and never answers, and records when the gateway
  closes the connection (the fake upstream in loopback.py cannot see a close before it answers).
- `RawUpstream`: a raw TCP server that answers every request with fixed bytes and closes the connection,
  for bodies no HTTP framework sends (one delimited by the close, cut short).
- `resilient_table`: a two-target table on the fake upstream with an explicit retry policy and timeouts.
- small builders for OpenAI chunks and completions, and `sse_events` to read an Anthropic SSE transcript.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace
from typing import Any

from loopback import DEFAULT_ROUTES, make_table, openai_provider, target

from claude_any.table import Provider, RetryPolicy, RoutingTable, Timeouts
from claude_any.table import Route as TableRoute

MODEL = "claude-sonnet-4-6"
HELLO = [{"role": "user", "content": "Say hello to the fault injector."}]
FAST_RETRY = RetryPolicy(attempts=3, initial_backoff_ms=10, max_backoff_ms=40, budget_s=5.0)
FAST_TIMEOUTS = Timeouts(connect_s=2.0, first_byte_s=2.0, idle_s=2.0, ping_s=0.05)
ALWAYS = {"op": "lit", "value": True, "span": [0, 4]}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def completion(text: str = "ok") -> dict[str, Any]:
    return {
        "id": "c",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }


def error_body(message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": None, "param": None, "code": code}}


def request_body(stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 20, "messages": HELLO, "stream": stream, **extra}


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of every frame of an Anthropic SSE transcript."""
    out = []
    for frame in text.split("\n\n"):
        if frame.strip():
            name, data = frame.split("\n", 1)
            out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def resilient_table(
    providers: list[Provider],
    chain: tuple[str, ...] = ("large",),
    *,
    retry: RetryPolicy = FAST_RETRY,
    timeouts: Timeouts = FAST_TIMEOUTS,
    route_retry: RetryPolicy | None = None,
    max_body_mb: int = 32,
) -> RoutingTable:
    """`large` on the first provider, `small` on the last; every request goes to `chain`."""
    targets = [target("large", providers[0], "gpt-4o"), target("small", providers[-1], "gpt-4o-mini")]
    route = TableRoute("routes[0]", "true", ALWAYS, chain, "config", None, route_retry)
    table = make_table(providers, targets, routes=(route, *DEFAULT_ROUTES), retry=retry)
    return replace(table, timeouts=timeouts, server=replace(table.server, max_body_mb=max_body_mb))


def fake_provider(url: str, name: str = "fake") -> Provider:
    return openai_provider(url + "/v1", name=name)


class SilentUpstream:
    """Accepts connections, reads what arrives, never answers; `closed` is set when a peer hangs up."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.accepted = 0
        self.first_accepted_at: float | None = None  # time.monotonic() of the first connection
        self.closed = threading.Event()
        self.closed_at: float | None = None
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.first_accepted_at is None:
                self.first_accepted_at = time.monotonic()
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.closed_at = time.monotonic()
                    self.closed.set()
                    return

    def stop(self) -> None:
        self._stop = True
        self._sock.close()


class RawUpstream:
    """Answers every request with `response` (status line, headers and body, as bytes), then closes."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                more = conn.recv(65536)
                if not more:
                    return
                body += more
            conn.sendall(self.response)

    def stop(self) -> None:
        self._sock.close()


def sse_response(*events: str, headers: str = "") -> bytes:
    """A 200 event stream whose body ends where the server closes the connection (no length, not chunked)."""
    head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n" + headers + "\r\n"
    return (head + "".join(events)).encode()
