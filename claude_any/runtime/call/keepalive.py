"""Reading an upstream stream with a clock: keep-alive ticks while it is silent, and an idle timeout.

Reasoning models can think for minutes without sending a byte. The client (and any proxy in between) must
see traffic meanwhile, so every `ping_s` of silence yields a tick (the caller sends a `ping` event); after
`idle_s` of silence the stream is declared stalled. The two clocks are independent on purpose.

The upstream is read by its own task, so that a clock signal never cancels a read half-way (cancelling
the read would close the upstream stream).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import anyio


class IdleTimeout(Exception):
    """The upstream sent nothing for `idle_s` seconds."""

    def __init__(self, idle_s: float) -> None:
        super().__init__(f"no data for {idle_s:g} s")
        self.idle_s = idle_s


_QUEUE_CHUNKS = 64  # read-ahead bound: a slow client holds back the upstream instead of filling memory

# Queue items: ("data", bytes) | ("tick", None) | ("idle", None) | ("end", None) | ("error", exception)
_Item = tuple[str, Any]


async def with_ticks(
    source: AsyncIterator[bytes],
    *,
    ping_s: float,
    idle_s: float,
    on_first: Callable[[], None] | None = None,
) -> AsyncGenerator[bytes | None, None]:
    """The bytes of `source`, with a None between them for every `ping_s` of silence; raises
    `IdleTimeout` after `idle_s` of silence. Errors of `source` propagate as they are. Chunks already
    read when the consumer asks for more are joined into one. `on_first` is called when the first chunk
    arrives (the time to first token, for the metrics).

    One reader task feeds a queue and one timer watches the clock, re-armed only when it fires: a chunk
    costs a queue hand-off and a float store, not a task and a timed wait (streams carry thousands).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_Item] = asyncio.Queue(_QUEUE_CHUNKS)
    last_data = last_signal = loop.time()
    timer: asyncio.TimerHandle | None = None

    async def pump() -> None:
        try:
            if on_first is not None:  # the first chunk apart, so the loop below costs nothing more
                first = await anext(source, None)
                if first is None:
                    await queue.put(("end", None))
                    return
                on_first()
                await queue.put(("data", first))
            async for chunk in source:
                await queue.put(("data", chunk))
            await queue.put(("end", None))
        except Exception as exc:  # handed to the consumer, which raises it in its own task
            await queue.put(("error", exc))

    def watch() -> None:
        nonlocal timer, last_signal
        now = loop.time()
        silent = now - last_data
        if silent >= idle_s:
            _offer(queue, ("idle", None))
            return
        if now - max(last_data, last_signal) >= ping_s:
            last_signal = now
            _offer(queue, ("tick", None))
        due = min(last_data + idle_s, max(last_data, last_signal) + ping_s)
        timer = loop.call_at(max(due, now + 0.001), watch)

    reader = asyncio.ensure_future(pump())
    timer = loop.call_at(last_data + min(ping_s, idle_s), watch)
    held: _Item | None = None  # an item taken off the queue while joining data, handled next
    try:
        while True:
            if held is None:
                kind, value = await queue.get()
            else:
                (kind, value), held = held, None
            if kind == "data":
                last_data = loop.time()
                # Chunks that arrived together (one socket read often holds many SSE events) go on as one:
                # one translation call and one write to the client instead of one each. Nothing waits for
                # more data, so this never delays a byte.
                if not queue.empty():
                    parts = [value]
                    while not queue.empty():
                        item = queue.get_nowait()
                        if item[0] != "data":
                            held = item
                            break
                        parts.append(item[1])
                    value = b"".join(parts)
                yield value
            elif kind == "tick":
                if loop.time() - last_data < idle_s:
                    yield None
            elif kind == "idle":
                if loop.time() - last_data >= idle_s:
                    raise IdleTimeout(idle_s)
                timer = loop.call_at(last_data + min(ping_s, idle_s), watch)
            elif kind == "end":
                return
            else:
                raise value
    finally:
        if timer is not None:
            timer.cancel()
        await _cancel(reader)


def _offer(queue: asyncio.Queue[_Item], item: _Item) -> None:
    """Queue a clock signal unless the queue is full, which means data is waiting anyway."""
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(item)


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel the pending read and wait for it, even while our own task is being cancelled (client gone),
    so the upstream response is closed only after nobody reads from it any more."""
    if task.done():  # a stream read to its end: no cancel scope, no wait (a loop turn saved per stream)
        if not task.cancelled():
            task.exception()
        return
    task.cancel()
    with anyio.CancelScope(shield=True):
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning at shutdown
