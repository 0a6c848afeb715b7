"""Reading an upstream stream with a clock: keep-alive ticks while it is silent, and an idle timeout.

Reasoning models can think for minutes without sending a byte. The client (and any proxy in between) must
see traffic meanwhile, so every `ping_s` of silence yields a tick (the caller sends a `ping` event); after
`idle_s` of silence the stream is declared stalled. The two clocks are independent on purpose.

The stream's own task reads the upstream, and a clock signal interrupts a read that waits by cancelling
that task, as `asyncio.timeout` does; the read survives it because a `ChunkSource` loses nothing when a
wait is cancelled (chunk_source.py). No reader task, no queue: a token costs one task step (the reader
task and its queue hand-off it replaces: docs/PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Literal

from claude_any.runtime.call.chunk_source import ChunkSource


class IdleTimeout(Exception):
    """The upstream sent nothing for `idle_s` seconds."""

    def __init__(self, idle_s: float) -> None:
        super().__init__(f"no data for {idle_s:g} s")
        self.idle_s = idle_s


_Signal = Literal["tick", "idle"]


async def with_ticks(
    source: ChunkSource,
    *,
    ping_s: float,
    idle_s: float,
    on_first: Callable[[], None] | None = None,
) -> AsyncGenerator[bytes | None, None]:
    """The bytes of `source`, with a None between them for every `ping_s` of silence; raises
    `IdleTimeout` after `idle_s` of silence. Errors of `source` propagate as they are. Bytes that arrived
    together come as one chunk. `on_first` is called when the first chunk arrives (the time to first token,
    for the metrics). Iterate it from one task only: the clock interrupts that task's reads."""
    clock = _Clock(ping_s, idle_s)
    loop = clock.loop
    try:
        while True:
            signal: _Signal | None = None
            clock.waiting = True
            try:
                chunk = await source.read()
            except asyncio.CancelledError:
                signal = clock.take_signal()
                if signal is None:  # not the clock's: the task is being cancelled
                    raise
            finally:
                clock.waiting = False
            if signal == "tick":
                yield None
            elif signal == "idle":
                raise IdleTimeout(idle_s)
            elif not chunk:
                return
            else:
                clock.last_data = loop.time()
                if on_first is not None:
                    on_first()
                    on_first = None
                yield chunk
    finally:
        clock.stop()


class _Clock:
    """The ping and idle clocks of one stream, on one timer re-armed only when it fires: a chunk costs a
    float store, not a timer. A signal interrupts the task only while it waits for the upstream (never a
    write to the client), and never when something else is already cancelling it."""

    __slots__ = (
        "base",
        "idle_s",
        "last_data",
        "last_tick",
        "loop",
        "ping_s",
        "signal",
        "task",
        "timer",
        "waiting",
    )

    def __init__(self, ping_s: float, idle_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.base = task.cancelling()  # cancellation requests not the clock's: above this, leave the task be
        self.ping_s, self.idle_s = ping_s, idle_s
        self.last_data = self.last_tick = self.loop.time()
        self.waiting = False  # the task is suspended in a read
        self.signal: _Signal | None = None  # delivered by cancelling the task, not yet taken
        self.timer: asyncio.TimerHandle | None = self.loop.call_at(
            self.last_data + min(ping_s, idle_s), self._fire
        )

    def _fire(self) -> None:
        now = self.loop.time()
        if self.waiting and self.signal is None:
            if now - self.last_data >= self.idle_s:
                self._interrupt("idle")
                self.timer = None
                return
            if now - max(self.last_data, self.last_tick) >= self.ping_s and self._interrupt("tick"):
                self.last_tick = now
        due = min(self.last_data + self.idle_s, max(self.last_data, self.last_tick) + self.ping_s)
        if due <= now:  # silent for long, but the task is busy elsewhere (writing to a slow client)
            due = now + min(self.ping_s, self.idle_s)
        self.timer = self.loop.call_at(due, self._fire)

    def _interrupt(self, signal: _Signal) -> bool:
        if self.task.cancelling() != self.base:  # being cancelled already: that goes first
            return False
        self.signal = signal
        self.task.cancel()
        return True

    def take_signal(self) -> _Signal | None:
        """The signal a CancelledError in a read delivered, its cancellation withdrawn; None when the
        cancellation is (also) someone else's, which must go on."""
        signal, self.signal = self.signal, None
        if signal is None or self.task.uncancel() != self.base:
            return None
        return signal

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
