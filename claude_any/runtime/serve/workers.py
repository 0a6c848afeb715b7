"""`run --workers N`: uvicorn's supervisor, with SIGHUP reloading the routing table in every worker in place.

uvicorn's own SIGHUP (0.55) starts new workers and stops the old ones, cutting their streams after
`timeout_graceful_shutdown`; and the new workers would start from the same table. Here the supervisor loads
the table (a config.yaml is compiled once, here, and its diagnostics logged once), checks that it can be
served, writes it to the routes.json the workers start from, and sends each worker SIGHUP: each reads it
again and swaps its gateway as one process does (serve/reload.py), its streams finishing on the old one. A
watched config file is polled here too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping
from socket import socket

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

from claude_any.runtime.route.tokens import SessionScale
from claude_any.runtime.serve.gateway import build_gateway
from claude_any.runtime.serve.reload import WATCH_INTERVAL_S
from claude_any.runtime.serve.table_source import TableReload
from claude_any.table import RoutingTable

logger = logging.getLogger("claude_any")


def write_table(path: str, table: RoutingTable) -> None:
    """Write routes.json for the workers, whole or not at all (a worker may be reading it)."""
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as file:
        file.write(table.dumps())
    os.replace(partial, path)


class ReloadingMultiprocess(Multiprocess):
    """uvicorn's worker supervisor; SIGHUP (and a change to a watched file) reloads the workers' table."""

    def __init__(
        self,
        config: Config,
        sockets: list[socket],
        *,
        table_file: str,
        reload: TableReload | None,
        env: Mapping[str, str],
    ) -> None:
        super().__init__(config, sockets)
        self._table_file = table_file
        self._reload = reload
        self._env = env
        self._next_poll = time.monotonic() + WATCH_INTERVAL_S

    def handle_hup(self) -> None:
        """SIGHUP: reload the table in every worker (instead of uvicorn's restart of the workers)."""
        if self._reload is None:
            logger.info("SIGHUP: no file to read the routing table from again")
            return
        self._reload_workers()

    def handle_signals(self) -> None:
        """uvicorn's signal handling, run every half second; polls a watched file too."""
        super().handle_signals()
        if self._reload is None or not self._reload.source.watched or time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + WATCH_INTERVAL_S
        if self._reload.source.changed():
            self._reload_workers()

    def _check(self, table: RoutingTable) -> None:
        """Build the table's gateway once, as a worker will, so a table that cannot be served (a missing
        `${VAR}`, a broken template) is refused here, once, and no worker is asked."""
        build_gateway(table, self._env, SessionScale())

    def _reload_workers(self) -> None:
        assert self._reload is not None
        prepared = self._reload.prepare(self._check)
        if prepared is None:
            return
        table, _ = prepared
        write_table(self._table_file, table)  # a worker started from now on reads the new table
        hangup = getattr(signal, "SIGHUP", None)
        if hangup is None:
            logger.warning("the workers keep their table until restarted: this system has no SIGHUP")
            return
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # it just ended; its replacement reads the file
                    os.kill(process.pid, hangup)
        self._reload.commit(table)
