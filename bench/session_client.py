"""One load-generator process of the many-session scenario (bench/sessions.py runs several).

Each session is one keep-alive connection that sends the same streaming request `turns` times in a row and
reads each answer to its end. As the response's bytes arrive, every token found in them (the upstream
stamped each with the CLOCK_MONOTONIC time it wrote it, payloads.TOKEN_MARK) gives one delay: arrival minus
sending, in microseconds. Both clocks are the machine's monotonic clock, shared by all processes.

Every response is checked: the first one of a process in full, every later one against it once the message
id and the token stamps are masked, and in full again when that differs.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

from bench.check import InvalidResponse, validate_token_stream, validate_upstream_token_stream
from bench.load import ResponseParser
from bench.payloads import TOKEN_MARK

_MESSAGE_ID = re.compile(rb'"id":"msg_[0-9A-Za-z]+"')


@dataclass(frozen=True)
class ClientPlan:
    """What one load-generator process does: its sessions' start times (time.monotonic()), and the request."""

    host: str
    port: int
    raw_request: bytes
    gateway: bool  # Anthropic SSE from claude-any, else the upstream's own stream
    model: str
    tokens: int
    turns: int
    starts: tuple[float, ...]


@dataclass
class ClientResult:
    """What one process measured: every token's delay, every turn's time, the checks, its own CPU time."""

    delays_us: list[int] = field(default_factory=list)
    turns_s: list[float] = field(default_factory=list)
    ok: int = 0
    bad: int = 0
    first_error: str = ""
    cpu_s: float = 0.0
    end: float = 0.0  # time.monotonic() when its last session finished


class _SessionConnection(asyncio.Protocol):
    """One session's connection: one turn at a time; token delays recorded as the bytes arrive."""

    def __init__(self, delays_us: list[int]) -> None:
        self.transport: asyncio.Transport | None = None
        self._delays_us = delays_us
        self._buffer = bytearray()
        self._response = ResponseParser()
        self._seen = 0  # body parts already scanned for tokens
        self._waiter: asyncio.Future[tuple[int, bytes, float]] | None = None
        self._sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def turn(self, raw: bytes) -> asyncio.Future[tuple[int, bytes, float]]:
        """Send the request; the future gives (status, body, seconds to the last byte)."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._response = ResponseParser()
        self._seen = 0
        self._sent = time.monotonic()
        self.transport.write(raw)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        now_ns = time.monotonic_ns()
        self._buffer += data
        response = self._response
        used = response.parse(self._buffer)
        parts = response.body_parts
        delays = self._delays_us
        for part in parts[self._seen :]:
            for stamp in TOKEN_MARK.finditer(part):
                delays.append((now_ns - int(stamp[1])) // 1000)
        self._seen = len(parts)
        if not used:
            return
        del self._buffer[:used]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((response.status, b"".join(parts), time.monotonic() - self._sent))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection closed mid-response: {exc}"))


class _TurnChecker:
    """Checks each turn's response; counts good and bad."""

    def __init__(self, plan: ClientPlan, result: ClientResult) -> None:
        self._plan = plan
        self._result = result
        self._reference: bytes | None = None

    def __call__(self, status: int, body: bytes) -> None:
        try:
            if status != 200:
                raise InvalidResponse(f"HTTP {status}: {body[:200]!r}")
            masked = TOKEN_MARK.sub(b"~~", _MESSAGE_ID.sub(b'"id":"msg_"', body, count=1))
            if masked != self._reference:
                if self._plan.gateway:
                    validate_token_stream(body, self._plan.model, self._plan.tokens)
                else:
                    validate_upstream_token_stream(body, self._plan.tokens)
                self._reference = self._reference or masked
        except (InvalidResponse, ValueError, KeyError, TypeError, AttributeError) as exc:
            self._result.bad += 1
            self._result.first_error = self._result.first_error or f"{type(exc).__name__}: {exc}"
        else:
            self._result.ok += 1


async def _run(plan: ClientPlan) -> ClientResult:
    loop = asyncio.get_running_loop()
    result = ClientResult()
    check = _TurnChecker(plan, result)
    connections: list[_SessionConnection] = []
    try:
        for _ in plan.starts:
            _, connection = await loop.create_connection(
                lambda: _SessionConnection(result.delays_us), plan.host, plan.port
            )
            connections.append(connection)
        cpu_started = time.process_time()

        async def session(connection: _SessionConnection, start: float) -> None:
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            for done in range(plan.turns):
                try:
                    status, body, seconds = await connection.turn(plan.raw_request)
                except ConnectionError as exc:
                    result.bad += plan.turns - done
                    result.first_error = result.first_error or str(exc)
                    return
                result.turns_s.append(seconds)
                check(status, body)

        await asyncio.gather(*(session(c, s) for c, s in zip(connections, plan.starts, strict=True)))
        result.end = time.monotonic()
        result.cpu_s = time.process_time() - cpu_started
        return result
    finally:
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()


def run_client(plan: ClientPlan) -> ClientResult:
    """Run one process's sessions to their end (the entry point of a load-generator process)."""
    return asyncio.run(_run(plan))
