"""The usage ledger's writer: requests go to the database in batches, off the request path.

`Ledger.add` (a RequestLog listener, called when a request is over) only appends the log to a bounded
in-memory queue; a thread takes up to BATCH_ROWS at a time and inserts them. A slow or unreachable database
never delays a response: rows wait in the queue (the oldest dropped past QUEUE_ROWS, and counted) while the
thread retries with backoff, logging one warning when the database goes and one when it is back. `close`
writes what is queued, for at most FLUSH_SECONDS.

The same thread keeps each user's spend today (budgets.py), read from the database every SPEND_REFRESH_S
so that every instance on a shared database sees the others' rows; what this instance has queued but not
yet written is added, so the request path reads a dict.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from claude_any.runtime.serve.access_log import RequestLog
from claude_any.runtime.serve.recent_requests import Spend as DaySpend
from claude_any.table import Usage
from claude_any.usage.database import (
    DatabaseUnavailable,
    DatabaseUrl,
    LedgerError,
    database_url,
    open_database,
    reason,
    requests,
)
from claude_any.usage.spend import Spend, utc_day

logger = logging.getLogger("claude_any.usage")

QUEUE_ROWS = 100_000  # requests held while the database is slow or down (about 1 KB each)
BATCH_ROWS = 200  # rows per INSERT
BATCH_SECONDS = 0.5  # how long a request waits in the queue at most, when the database answers
SPEND_REFRESH_S = 2.0  # how stale another instance's spend may be in this one's budget checks
FLUSH_SECONDS = 5.0  # at shutdown, how long the queue may take to be written
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0  # backoff between tries while the database is down
DROP_WARNING_S = 60.0  # at most one "dropped" warning a minute
_COUNTS = ("tokens_in", "tokens_out", "cache_read", "cache_write")
_BIGGEST = 2**63 - 1  # a BIGINT
_COLUMNS = frozenset(requests.c.keys())  # of RequestLog.fields(), what the schema keeps (`time` is `at`)


def _spend_of(log: RequestLog) -> Spend:
    # A failed request's tokens_in is the gateway's estimate of what it would have sent: not counted.
    tokens = (log.tokens_in or 0) + (log.tokens_out or 0) if log.status < 400 else 0
    if log.cost_usd is None:  # unknown, never $0; a request that reached no target cost nothing
        return Spend(0.0, tokens, unpriced=int(log.target != "-"))
    return Spend(log.cost_usd, tokens, estimated=int(log.tokens_estimated))


class Ledger:
    """The process-wide usage ledger (`ProcessState.ledger`): `add` from the request path, `start` and `close`
    from the app's lifespan."""

    def __init__(
        self,
        database: DatabaseUrl,
        instance: str | None = None,
        *,
        queue_rows: int = QUEUE_ROWS,
        batch_rows: int = BATCH_ROWS,
        batch_seconds: float = BATCH_SECONDS,
        spend_refresh_s: float = SPEND_REFRESH_S,
    ) -> None:
        self.database = database
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}"
        self._queue: deque[RequestLog] = deque(maxlen=queue_rows)
        self._queue_rows, self._batch_rows = queue_rows, batch_rows
        self._batch_seconds, self._spend_refresh_s = batch_seconds, spend_refresh_s
        self.dropped = 0  # rows pushed out of the full queue, never written
        self.written = 0
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._batch: list[RequestLog] = []  # taken from the queue, not yet committed
        # Spend: `_known` as the database had it at the last refresh plus what this instance wrote since;
        # `_unwritten` queued here and not yet committed. Changed under `_lock`; read without it.
        self._lock = threading.Lock()
        self._known: dict[str, Spend] = {}
        self._known_day = ""
        self._unwritten: dict[str, Spend] = {}
        self._refresh_at = 0.0
        self._retry_at, self._retry_s = 0.0, RETRY_FIRST_S
        self._down = False
        self._dropped_told, self._dropped_told_at = 0, 0.0
        self._flush_s = FLUSH_SECONDS

    @staticmethod
    def for_usage(usage: Usage, env: Mapping[str, str]) -> Ledger | None:
        """The ledger `usage:` asks for, its database checked (opened and migrated) now; None when off.

        Raises LedgerError when the database cannot be used as configured (a newer schema, tables that are
        not this version's, no driver, an unset variable); one that does not answer yet is only warned
        about: the writer keeps trying."""
        if not usage.enabled:
            return None
        ledger = Ledger(database_url(usage, env), usage.instance)
        try:
            open_database(ledger.database).dispose()
        except DatabaseUnavailable as exc:
            logger.warning("usage ledger: %s; requests are kept in memory until it answers", exc)
        return ledger

    # --- the request path ----------------------------------------------------------------------------------

    def add(self, log: RequestLog) -> None:
        """Record `log` (a RequestLog listener): an append to the queue, no I/O."""
        if len(self._queue) == self._queue_rows:
            self.dropped += 1  # deque(maxlen) drops the oldest on append
        self._queue.append(log)
        spend = _spend_of(log)
        with self._lock:  # uncontended but for the writer's moments: a team's users, one lock
            self._unwritten.setdefault(log.user, Spend()).add(spend)
        if len(self._queue) == self._batch_rows:
            self._wake.set()

    def spent_today(self, user: str) -> Spend:
        """What `user` has spent today (UTC), by every instance on the database: a dict lookup."""
        known = self._known.get(user) if self._known_day == utc_day(time.time()) else None
        unwritten = self._unwritten.get(user)
        spend = Spend()
        for part in (known, unwritten):
            if part is not None:
                spend.add(part)
        return spend

    # --- the status page's spend (runtime/serve/recent_requests.SpendReport) -------------------------------

    scope = "every instance on the usage database"

    async def today(self) -> Mapping[str, DaySpend]:
        """Today's (UTC) spend per user ("" for the shared token), as the ledger and this instance know it."""
        users = set(self._unwritten) | (
            set(self._known) if self._known_day == utc_day(time.time()) else set()
        )
        spent = {user: self.spent_today(user) for user in users}
        return {
            user: DaySpend(spend.usd, spend.unpriced, spend.estimated)
            for user, spend in spent.items()
            if spend.usd or spend.unpriced or spend.tokens
        }

    # --- the writer thread ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="claude-any-ledger", daemon=True)
            self._thread.start()

    def close(self, timeout: float = FLUSH_SECONDS) -> None:
        """Write what is queued (for at most `timeout` seconds) and stop the writer thread."""
        self._flush_s = timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 2)
        elif self._queue:
            self._run_final()  # never started (no lifespan): still try to keep what was recorded

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._batch_seconds)
            self._wake.clear()
            if not self._stop.is_set():
                try:
                    self._cycle()
                except Exception:  # a bug must not stop the ledger for the rest of the process
                    logger.exception("usage ledger: unexpected error; %d requests dropped", len(self._batch))
                    self._batch = []
        self._run_final()

    def _run_final(self) -> None:
        deadline = time.monotonic() + self._flush_s
        while (self._queue or self._batch) and time.monotonic() < deadline:
            if not self._cycle(final=True):
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        left = len(self._queue) + len(self._batch)
        if left:
            logger.warning(
                "usage ledger: %d requests not recorded: %s was not written to within %.0f s of shutdown",
                left,
                self.database.shown,
                self._flush_s,
            )
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _cycle(self, final: bool = False) -> bool:
        """Write what is queued and refresh the spend if due; False when the database failed."""
        now = time.monotonic()
        if not final and now < self._retry_at:
            return False
        try:
            if self._engine is None:
                self._engine = open_database(self.database)
            self._write_queued()
            if not final and time.monotonic() >= self._refresh_at:
                self._refresh_spend()
                self._refresh_at = time.monotonic() + self._spend_refresh_s
        except (DataError, IntegrityError) as exc:  # these rows, not the database: retrying would not help
            logger.warning(
                "usage ledger: %d requests not recorded: the database refused them (%s)",
                len(self._batch),
                reason(exc, self.database),
            )
            self._batch = []
            return True
        except (SQLAlchemyError, LedgerError, OSError) as exc:
            self._failed(exc)
            self._tell_dropped()
            return False
        if self._down:
            self._down = False
            logger.warning(
                "usage ledger: %s answers again; the requests held meanwhile are written", self.database.shown
            )
        self._retry_s = RETRY_FIRST_S
        self._tell_dropped()
        return True

    def _write_queued(self) -> None:
        assert self._engine is not None
        while True:
            if not self._batch:
                take = min(self._batch_rows, len(self._queue))
                self._batch = [self._queue.popleft() for _ in range(take)]
            if not self._batch:
                return
            rows = [self._row(log) for log in self._batch]
            with self._engine.begin() as conn:
                conn.execute(requests.insert(), rows)
            self._written(self._batch)
            self.written += len(self._batch)
            self._batch = []

    def _row(self, log: RequestLog) -> dict[str, Any]:
        row = {name: value for name, value in log.fields().items() if name in _COLUMNS}
        for name in _COUNTS:  # a provider's count beyond any real one would fail the whole batch's INSERT
            if isinstance(row[name], int) and not 0 <= row[name] <= _BIGGEST:
                row[name] = min(max(row[name], 0), _BIGGEST)
        row.update(at=log.at, day=utc_day(log.at), instance=self.instance)
        return row

    def _written(self, batch: list[RequestLog]) -> None:
        """Move the batch's spend from `_unwritten` to `_known` (until the next refresh reads it back)."""
        today = utc_day(time.time())
        with self._lock:
            for log in batch:
                spend = _spend_of(log)
                self._unwritten.setdefault(log.user, Spend()).add(spend, -1)
                if utc_day(log.at) == self._known_day == today:
                    self._known.setdefault(log.user, Spend()).add(spend)

    def _refresh_spend(self) -> None:
        assert self._engine is not None
        today = utc_day(time.time())
        table = requests.c
        answered = table.status < 400
        counted = func.coalesce(table.tokens_in, 0) + func.coalesce(table.tokens_out, 0)
        query = (
            select(
                table.user,
                func.sum(table.cost_usd),
                func.sum(case((answered, counted), else_=0)),
                func.sum(case((and_(table.target.is_not(None), table.cost_usd.is_(None)), 1), else_=0)),
                func.sum(case((and_(table.cost_usd.is_not(None), table.tokens_estimated), 1), else_=0)),
            )
            .where(table.day == today)
            .group_by(table.user)
        )
        with self._engine.begin() as conn:
            known = {
                user or "": Spend(float(usd or 0), int(tokens or 0), int(unpriced or 0), int(estimated or 0))
                for user, usd, tokens, unpriced, estimated in conn.execute(query)
            }
        with self._lock:
            self._known, self._known_day = known, today

    def _failed(self, exc: BaseException) -> None:
        if self._engine is not None and not isinstance(exc, LedgerError):
            self._engine.dispose()  # reconnect (and re-check the schema) on the next try
            self._engine = None
        self._retry_at = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
        if not self._down:
            self._down = True
            text = (
                str(exc)
                if isinstance(exc, LedgerError)
                else f"{self.database.shown}: {reason(exc, self.database)}"
            )
            logger.warning(
                "usage ledger: cannot write (%s); keeping up to %d requests in memory and retrying",
                text,
                self._queue_rows,
            )

    def _tell_dropped(self) -> None:
        dropped = self.dropped
        if dropped > self._dropped_told and time.monotonic() - self._dropped_told_at >= DROP_WARNING_S:
            logger.warning(
                "usage ledger: %d requests were not recorded: the queue (%d) was full while %s was down",
                dropped - self._dropped_told,
                self._queue_rows,
                self.database.shown,
            )
            self._dropped_told, self._dropped_told_at = dropped, time.monotonic()
