"""Hot reload in a serving process: the config file polled, SIGHUP, and the new gateway swapped in.

The table is loaded (a config.yaml compiled) and its gateway built on a thread, so streams keep flowing
meanwhile; then, in the event loop, the new gateway's clients are opened and it replaces the current one
(`Gateways.replace`: one assignment). Requests that started before keep the gateway they took to their end;
it is closed after the last of them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager

from claude_any.runtime.serve.gateway import Gateway, Gateways
from claude_any.runtime.serve.table_source import TableReload
from claude_any.table import RoutingTable

logger = logging.getLogger("claude_any")

WATCH_INTERVAL_S = 1.0  # how often a watched config file is read for changes


class Reloader:
    """Reloads one process's routing table: on SIGHUP, and when the watched file's content changes."""

    def __init__(
        self,
        reload: TableReload,
        gateways: Gateways,
        build: Callable[[RoutingTable], Gateway],
    ) -> None:
        self._reload = reload
        self._gateways = gateways
        self._build = build
        self._lock = asyncio.Lock()  # one reload at a time; a SIGHUP during one waits for it
        self._tasks: set[asyncio.Task[None]] = set()

    async def reload(self) -> None:
        """Load the table again and serve it from now on, or keep the current one (the log says why)."""
        async with self._lock:
            await self._reload_now()

    async def _reload_now(self) -> None:
        try:
            prepared = await asyncio.to_thread(self._reload.prepare, self._build)
            if prepared is None:
                return
            table, gateway = prepared
            gateway.open()
            self._gateways.replace(gateway)
            self._reload.commit(table)
        except Exception:  # a reload that fails in an unforeseen way must not stop the server
            logger.exception("%s: reload failed; still serving the table it had", self._reload.source.shown)

    async def _watch(self) -> None:
        source = self._reload.source
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            async with self._lock:
                if await asyncio.to_thread(source.changed):
                    await self._reload_now()

    def _on_hangup(self) -> None:
        self._spawn(self.reload())

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While the app serves: SIGHUP reloads (where this thread may take signals), and a watched file
        is polled."""
        loop = asyncio.get_running_loop()
        hangup = getattr(signal, "SIGHUP", None)  # not on Windows
        if hangup is not None:
            try:
                loop.add_signal_handler(hangup, self._on_hangup)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
                hangup = None
        if self._reload.source.changed():  # changed while the app started (a worker: its SIGHUP came early)
            self._spawn(self.reload())
        if self._reload.source.watched:
            self._spawn(self._watch())
        try:
            yield
        finally:
            if hangup is not None:
                loop.remove_signal_handler(hangup)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
