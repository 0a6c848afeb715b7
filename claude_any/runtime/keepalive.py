"""Reading an upstream stream with a clock: keep-alive ticks while it is silent, and an idle timeout.

Reasoning models can think for minutes without sending a byte. The client (and any proxy in between) must
see traffic meanwhile, so every `ping_s` of silence yields a tick (the caller sends a `ping` event); after
`idle_s` of silence the stream is declared stalled. The two clocks are independent on purpose.

The next chunk is awaited in its own task so that waiting with a timeout never cancels a read half-way
(cancelling the read would close the upstream stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio


class IdleTimeout(Exception):
    """The upstream sent nothing for `idle_s` seconds."""

    def __init__(self, idle_s: float) -> None:
        super().__init__(f"no data for {idle_s:g} s")
        self.idle_s = idle_s


async def _next(source: AsyncIterator[bytes]) -> bytes:
    return await source.__anext__()


async def with_ticks(
    source: AsyncIterator[bytes], *, ping_s: float, idle_s: float
) -> AsyncIterator[bytes | None]:
    """The chunks of `source`, with a None between them for every `ping_s` of silence; raises
    `IdleTimeout` after `idle_s` of silence. Errors of `source` propagate as they are."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Task[bytes] | None = None
    try:
        last_data = loop.time()
        while True:
            if pending is None:
                pending = asyncio.ensure_future(_next(source))
            remaining = idle_s - (loop.time() - last_data)
            if remaining <= 0:
                raise IdleTimeout(idle_s)
            done, _ = await asyncio.wait({pending}, timeout=min(ping_s, remaining))
            if not done:
                if loop.time() - last_data < idle_s:
                    yield None
                continue
            task, pending = pending, None
            try:
                chunk = task.result()
            except StopAsyncIteration:
                return
            last_data = loop.time()
            yield chunk
    finally:
        if pending is not None:
            await _cancel(pending)


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel the pending read and wait for it, even while our own task is being cancelled (client gone),
    so the upstream response is closed only after nobody reads from it any more."""
    task.cancel()
    with anyio.CancelScope(shield=True):
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning at shutdown
