"""The upstream reader with a clock: chunks that are already read go on joined, chunks that arrive apart stay
apart, and pings, idle timeouts and upstream errors keep their order relative to the data."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from claude_any.runtime.call.keepalive import IdleTimeout, with_ticks


async def _collect(
    source: AsyncIterator[bytes], ping_s: float = 10, idle_s: float = 20
) -> list[bytes | None]:
    return [chunk async for chunk in with_ticks(source, ping_s=ping_s, idle_s=idle_s)]


async def _burst() -> AsyncIterator[bytes]:
    for piece in (b"a", b"b", b"c"):  # no await between them: one socket read's worth
        yield piece


async def _apart() -> AsyncIterator[bytes]:
    for piece in (b"a", b"b", b"c"):
        await asyncio.sleep(0.02)
        yield piece


def test_chunks_read_together_are_joined() -> None:
    assert asyncio.run(_collect(_burst())) == [b"abc"]


def test_chunks_that_arrive_apart_are_not_held_back() -> None:
    assert asyncio.run(_collect(_apart())) == [b"a", b"b", b"c"]


def test_an_error_after_a_burst_comes_after_its_data() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"
        raise ConnectionError("upstream dropped")

    async def scenario() -> list[bytes | None]:
        got: list[bytes | None] = []
        with pytest.raises(ConnectionError):
            async for chunk in with_ticks(failing(), ping_s=10, idle_s=20):
                got.append(chunk)
        return got

    assert asyncio.run(scenario()) == [b"ab"]


def test_silence_gives_pings_then_an_idle_timeout() -> None:
    async def silent() -> AsyncIterator[bytes]:
        yield b"start"
        await asyncio.sleep(10)
        yield b"never"

    async def scenario() -> list[bytes | None]:
        got: list[bytes | None] = []
        with pytest.raises(IdleTimeout):
            async for chunk in with_ticks(silent(), ping_s=0.05, idle_s=0.18):
                got.append(chunk)
        return got

    got = asyncio.run(scenario())
    assert got[0] == b"start"
    assert got[1:] and all(chunk is None for chunk in got[1:])
