"""What this process has answered lately, for the status page (status_page.py): the last requests, each
target's health over a recent window, and today's spend per user as seen here.

Fed by one listener per request (`RecentRequests.record`, told by `RequestLog.emit` once the request is over):
it appends one small record to a bounded ring and adds the cost to its user's sum for the day, nothing more.
Every count and percentile is computed when the page is asked for. It lives in `ProcessState`, not in the
table's `Gateway`, so it outlives a reload; with `run --workers N` each worker process has its own.
"""

from __future__ import annotations

import math
import sys
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from claude_any.runtime.serve.access_log import RequestLog

RING = 5000  # requests kept: the last-requests list and the health window read from it
WINDOW_S = 300  # the health window: the last five minutes (of what the ring still holds)
_DAY_S = 86400
RECORDED_PATH = "/v1/messages"  # the requests that reach a provider and cost; not probes, not the page


class Seen(NamedTuple):
    """One finished /v1/messages request, as the status page shows it. Strings are as the client or config
    wrote them: the page escapes them when it renders. (A tuple: the cheapest record to make per request.)"""

    at: float  # wall clock, seconds since the epoch
    user: str  # "" for the shared token, or a server without tokens
    model: str  # as the client asked
    target: str  # target id; "-" when none was tried (no route, a bad request)
    upstream: str  # provider/model
    status: int
    stream: bool
    latency_ms: float  # to the end of the answer (a stream's whole length)
    tokens_in: int | None
    tokens_out: int | None
    tokens_estimated: bool  # the counts are the gateway's estimate: the provider reported none
    cost_usd: float | None  # None: unknown (tokens or price)
    failed_tries: tuple[str, ...]  # targets of earlier tries that failed (RequestLog.failed_tries)


@dataclass(frozen=True)
class Spend:
    """A user's spend for a day: the costs known, and how many requests had none (tokens or price unknown),
    which `usd` leaves out: an unknown cost is never counted as $0. `estimated` of the requests in `usd` were
    priced from the gateway's token estimate (the provider reported no usage)."""

    usd: float
    unpriced: int
    estimated: int = 0


@dataclass(frozen=True)
class Health:
    """One target over the health window (requests that ended within it)."""

    requests: int  # requests it answered or failed last, and earlier tries of it that failed
    errors: int  # answers with a status of 400 or more, a client that went away (499) not counted
    p50_ms: float | None  # of the requests it answered or failed last: an earlier try's time is not known
    p95_ms: float | None
    last_at: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


class SpendReport(Protocol):
    """Where today's spend per user comes from: this process (RecentRequests), or the usage ledger, which
    sees every instance. `ProcessState.spend` gives one."""

    @property
    def scope(self) -> str: ...  # said on the page: whose requests the sums cover

    async def today(self) -> Mapping[str, Spend]: ...  # user ("" for the shared token) -> spend (UTC day)


class RecentRequests:
    """The ring of the last RING requests and the per-user spend of the current UTC day, for this process."""

    scope = "this instance only, since it started"

    def __init__(self, size: int = RING) -> None:
        self._ring: deque[Seen] = deque(maxlen=size)
        self._day_ends = 0.0  # the end of the UTC day `_spend` is for
        # user -> (known usd, requests of unknown cost, requests priced from estimated tokens)
        self._spend: dict[str, tuple[float, int, int]] = {}
        self.started = time.time()

    def record(self, log: RequestLog) -> None:
        """The listener (`log.listeners`): keep a finished /v1/messages request. Users are the config's
        names, so the spend dict is as small as `server.tokens`."""
        if log.path != RECORDED_PATH:
            return
        self._ring.append(
            Seen(
                log.at,
                log.user,
                sys.intern(log.model),  # each request parsed its own copy; the ring keeps one per name
                log.target,
                log.upstream,
                log.status,
                log.stream,
                log.latency_ms,
                log.tokens_in,
                log.tokens_out,
                log.tokens_estimated,
                log.cost_usd,
                log.failed_tries,
            )
        )
        if log.at >= self._day_ends:
            self._spend, self._day_ends = {}, (log.at // _DAY_S + 1) * _DAY_S
        elif log.at < self._day_ends - _DAY_S:
            return  # began yesterday (a stream across midnight): counted for the day it began, gone now
        usd, unpriced, estimated = self._spend.get(log.user, (0.0, 0, 0))
        if log.cost_usd is None:
            self._spend[log.user] = usd, unpriced + (log.target != "-"), estimated  # never sent: no cost
        else:
            self._spend[log.user] = usd + log.cost_usd, unpriced, estimated + log.tokens_estimated

    def last(self, count: int) -> list[Seen]:
        """The last `count` requests, newest first."""
        ring = self._ring
        return [ring[-i] for i in range(1, min(count, len(ring)) + 1)]

    def health(self, targets: Iterable[str], now: float | None = None) -> dict[str, Health]:
        """Each of `targets` (then any other target seen): the requests that ended in the last WINDOW_S
        seconds, as far as the ring reaches back."""
        since = (time.time() if now is None else now) - WINDOW_S
        latencies: dict[str, list[float]] = {target: [] for target in targets}
        errors: dict[str, int] = dict.fromkeys(latencies, 0)
        failed: dict[str, int] = dict.fromkeys(latencies, 0)  # earlier tries, each an error too
        last: dict[str, float] = {}
        for seen in reversed(self._ring):  # all of it: a long stream ends after requests that began later
            if seen.target == "-" or seen.at + seen.latency_ms / 1000 < since:
                continue
            latencies.setdefault(seen.target, []).append(seen.latency_ms)
            errors[seen.target] = errors.get(seen.target, 0) + (seen.status >= 400 and seen.status != 499)
            last.setdefault(seen.target, seen.at)
            for target in seen.failed_tries:
                latencies.setdefault(target, [])
                failed[target] = failed.get(target, 0) + 1
                last.setdefault(target, seen.at)
        return {
            target: Health(
                len(values) + failed.get(target, 0),
                errors.get(target, 0) + failed.get(target, 0),
                _rank(values, 0.5),
                _rank(values, 0.95),
                last.get(target),
            )
            for target, values in latencies.items()
        }

    async def today(self, now: float | None = None) -> Mapping[str, Spend]:
        """Today's (UTC) spend per user, from the requests this process answered."""
        if (time.time() if now is None else now) >= self._day_ends:
            return {}
        return {user: Spend(*entry) for user, entry in self._spend.items()}


def _rank(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile of `values` (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
