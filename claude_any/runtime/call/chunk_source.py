"""An upstream body read chunk by chunk, and what may be put between it and the stream's reader.

A `ChunkSource` is read with `await source.read()` rather than iterated: a read that waits can be cancelled
without losing a byte, which is how a stream's clock (keepalive.py) sends pings from the stream's own task
without a reader task. The wrappers here keep that promise: they change their state only once a read of
the source underneath has returned.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from claude_any.runtime.scrub import Scrubber

logger = logging.getLogger("claude_any")


class ChunkSource(Protocol):
    """An upstream body read as it arrives."""

    async def read(self) -> bytes:
        """All the bytes that arrived since the last read, joined (waiting for some when there are none);
        b"" at the end. A read cancelled while it waits loses nothing: the bytes go to the next one."""
        ...


class InMemory:
    """A body the gateway holds whole (an in-process provider's answer) as a ChunkSource: reading it never
    waits, so nothing can interrupt it half-way."""

    __slots__ = ("_chunks",)

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def read(self) -> bytes:
        async for chunk in self._chunks:
            if chunk:
                return chunk
        return b""


class Scrubbed:
    """`source` with every secret of `scrub` replaced, also one split across two chunks: the end of a
    chunk that could be the start of a secret is held back until the next chunk tells. Nothing is held
    when no secret starts there, which is almost always, so bytes are not delayed. If the upstream fails,
    what was held back (at most a secret's prefix) is dropped."""

    __slots__ = ("_held", "_scrub", "_source")

    def __init__(self, source: ChunkSource, scrub: Scrubber) -> None:
        self._source, self._scrub = source, scrub
        self._held = b""

    async def read(self) -> bytes:
        while chunk := await self._source.read():
            held = self._held
            data = self._scrub.bytes(held + chunk if held else chunk)
            keep = self._scrub.partial_suffix(data)
            self._held = data[len(data) - keep :] if keep else b""
            out = data[: len(data) - keep] if keep else data
            if out:
                return out
        held, self._held = self._held, b""
        return held  # the stream ended: a prefix alone is not the secret


def scrubbed(source: ChunkSource, scrub: Scrubber) -> ChunkSource:
    """`source`, scrubbed of `scrub`'s secrets when it has any."""
    return Scrubbed(source, scrub) if scrub else source


class Logged:
    """`source` unchanged; the start of what it gave is logged at DEBUG when it ends or fails (a stream
    its client left before is not logged)."""

    __slots__ = ("_describe", "_kept", "_limit", "_source", "_total")

    def __init__(self, source: ChunkSource, limit: int, describe: Callable[[int, bytes], None]) -> None:
        self._source, self._limit, self._describe = source, limit, describe
        self._kept = bytearray()
        self._total = 0

    async def read(self) -> bytes:
        try:
            chunk = await self._source.read()
        except Exception:
            self._describe(self._total, bytes(self._kept))
            raise
        if not chunk:
            self._describe(self._total, bytes(self._kept))
        self._total += len(chunk)
        if len(self._kept) < self._limit:
            self._kept += chunk[: self._limit - len(self._kept)]
        return chunk
