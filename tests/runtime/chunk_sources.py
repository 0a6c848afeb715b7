"""A ChunkSource for tests that behaves as an aiohttp body does: bytes arrive on the event loop's clock into
a buffer, a read returns all that is buffered (waiting when nothing is), and a read cancelled while it
waits loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from claude_any.runtime.call.chunk_source import ChunkSource

# What arrives: bytes, or an exception the read after the bytes before it raises.
Arrival = bytes | Exception


class Pieces:
    """`pieces` arriving `gap_s` apart (all at once when 0), then the end; `hold_s` more of silence
    before the end when given."""

    def __init__(self, pieces: Sequence[Arrival], gap_s: float = 0.0, hold_s: float = 0.0) -> None:
        self._pending = list(pieces)
        self._gap_s, self._hold_s = gap_s, hold_s
        self._buffer: list[bytes] = []
        self._failure: Exception | None = None
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self._started = False
        self.reads_cancelled = 0

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._started = True
        if self._gap_s == 0:
            for piece in self._pending:
                self._arrive(piece)
            self._pending.clear()
            loop.call_later(self._hold_s, self._end) if self._hold_s else self._end()
            return
        for index, piece in enumerate(self._pending):
            loop.call_later(self._gap_s * (index + 1), self._arrive, piece)
        loop.call_later(self._gap_s * (len(self._pending) + 1) + self._hold_s, self._end)

    def _arrive(self, piece: Arrival) -> None:
        if isinstance(piece, Exception):
            self._failure = piece
        else:
            self._buffer.append(piece)
        self._wake()

    def _end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read(self) -> bytes:
        if not self._started:
            self._start()
        while not self._buffer and self._failure is None and not self._ended:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            except asyncio.CancelledError:
                self.reads_cancelled += 1
                raise
            finally:
                self._waiter = None
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            return data
        if self._failure is not None:
            raise self._failure
        return b""


class OnePerRead:
    """`pieces` as a source that returns one piece per read, never waiting: chunks exactly as cut."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._pieces = [piece for piece in reversed(pieces) if piece]  # b"" is the end alone

    async def read(self) -> bytes:
        return self._pieces.pop() if self._pieces else b""


async def read_all(source: ChunkSource) -> AsyncIterator[bytes]:
    """The chunks of `source` until its end."""
    while chunk := await source.read():
        yield chunk
