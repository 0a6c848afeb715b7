"""The upstream reader with a clock: bytes that arrived together come as one chunk, chunks that arrive apart
stay apart, pings and idle timeouts interrupt a read without losing a byte, and errors keep their order
relative to the data."""

from __future__ import annotations

import asyncio

import pytest
from chunk_sources import Pieces

from claude_any.runtime.call.keepalive import IdleTimeout, with_ticks


async def _collect(source: Pieces, ping_s: float = 10, idle_s: float = 20) -> list[bytes | None]:
    return [chunk async for chunk in with_ticks(source, ping_s=ping_s, idle_s=idle_s)]


def test_chunks_read_together_are_joined() -> None:
    assert asyncio.run(_collect(Pieces([b"a", b"b", b"c"]))) == [b"abc"]


def test_chunks_that_arrive_apart_are_not_held_back() -> None:
    assert asyncio.run(_collect(Pieces([b"a", b"b", b"c"], gap_s=0.02))) == [b"a", b"b", b"c"]


def test_an_error_after_a_burst_comes_after_its_data() -> None:
    async def scenario() -> list[bytes | None]:
        got: list[bytes | None] = []
        with pytest.raises(ConnectionError):
            async for chunk in with_ticks(
                Pieces([b"a", b"b", ConnectionError("dropped")]), ping_s=10, idle_s=20
            ):
                got.append(chunk)
        return got

    assert asyncio.run(scenario()) == [b"ab"]


def test_silence_gives_pings_then_an_idle_timeout() -> None:
    async def scenario() -> list[bytes | None]:
        got: list[bytes | None] = []
        with pytest.raises(IdleTimeout):
            async for chunk in with_ticks(Pieces([b"start"], hold_s=10), ping_s=0.05, idle_s=0.18):
                got.append(chunk)
        return got

    got = asyncio.run(scenario())
    assert got[0] == b"start"
    assert len(got) >= 3 and all(chunk is None for chunk in got[1:])


def test_a_ping_interrupts_a_read_and_loses_nothing() -> None:
    """Pings come from cancelling the waiting read; the bytes that arrive after it are all still read."""
    source = Pieces([b"one", b"two", b"three"], gap_s=0.12)
    got = asyncio.run(_collect(source, ping_s=0.05, idle_s=5))
    assert [chunk for chunk in got if chunk is not None] == [b"one", b"two", b"three"]
    assert got.count(None) >= 3 and source.reads_cancelled == got.count(None)


def test_a_cancellation_from_elsewhere_is_not_taken_for_a_ping() -> None:
    async def scenario() -> tuple[list[bytes | None], int]:
        got: list[bytes | None] = []

        async def consume() -> None:
            async for chunk in with_ticks(Pieces([b"a"], hold_s=10), ping_s=0.05, idle_s=5):
                got.append(chunk)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.12)  # a ping or two first
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return got, task.cancelling()

    got, _ = asyncio.run(scenario())
    assert got[0] == b"a" and got[1:] and all(chunk is None for chunk in got[1:])


def test_the_task_is_not_interrupted_while_it_is_busy_elsewhere() -> None:
    """A ping falls due while the consumer is writing (here: sleeping) rather than reading: no
    cancellation lands in its write, and the data after it is read whole."""

    async def scenario() -> list[bytes | None]:
        got: list[bytes | None] = []
        async for chunk in with_ticks(Pieces([b"a", b"b"], gap_s=0.05), ping_s=0.03, idle_s=5):
            got.append(chunk)
            if chunk == b"a":
                await asyncio.sleep(0.2)  # a slow client: several ping periods
        return got

    got = asyncio.run(scenario())
    assert [chunk for chunk in got if chunk is not None] == [b"a", b"b"]
