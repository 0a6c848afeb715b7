"""The state a routing table is served with, built from the table and the environment; and who holds it.

`Gateway` is what one table needs (router, prepared targets, provider clients, token, model list); a reload
builds a new one (serve/reload.py) and swaps it in. `ProcessState` is what outlives any table: the metrics,
the usage ledger, the status page's recent requests, per-session summaries and token scales, the request
archive. `Gateways` holds the current gateway, counts the requests
in flight on each, and closes a replaced gateway's clients once its last request (its stream included) ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import State

from claude_any import prices
from claude_any.runtime.call import echo
from claude_any.runtime.call.targets import Destinations, check_environment
from claude_any.runtime.call.upstream import Clients
from claude_any.runtime.route.router import Router, listed_id
from claude_any.runtime.route.tokens import SessionScale
from claude_any.runtime.scrub import Scrubber
from claude_any.runtime.serve import request_body
from claude_any.runtime.serve.inbound_auth import InboundTokens
from claude_any.runtime.serve.metrics import Metrics
from claude_any.runtime.serve.recent_requests import RecentRequests, SpendReport
from claude_any.runtime.serve.saved_requests import RequestArchive
from claude_any.runtime.serve.sessions import Sessions
from claude_any.runtime.serve.web_guard import WebGuard
from claude_any.table import Price, RoutingTable, Timeouts

if TYPE_CHECKING:  # the ledger module loads SQLAlchemy: only a gateway with the ledger on imports it
    from claude_any.usage.ledger import Ledger

logger = logging.getLogger("claude_any")

# /v1/models: Anthropic's ModelInfo needs a release date, and allows the epoch when it is unknown.
_LISTED_AT = "1970-01-01T00:00:00Z"


@dataclass
class ProcessState:
    """What the server keeps for as long as it runs, across reloads of the table: reached from endpoints as
    `request.app.state.process`. Process-wide things belong here, not in `Gateway`."""

    metrics: Metrics  # counted by the current table's target ids
    ledger: Ledger | None = None  # the usage ledger (`usage:` needs a restart); None when off
    recent: RecentRequests = field(default_factory=RecentRequests)  # what the status page shows
    sessions: Sessions = field(default_factory=Sessions)  # per Claude Code session, for `statusline`
    session_scale: SessionScale = field(default_factory=SessionScale)  # provider's count vs the estimate
    archive: RequestArchive | None = None  # run --save-requests

    @property
    def spend(self) -> SpendReport:
        """Where today's spend comes from: the ledger, which sees every instance, else this process's sums."""
        return self.ledger if self.ledger is not None else self.recent


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, for the in-flight count
class Gateway:
    """Everything one routing table is served with; a request takes the current one when it starts."""

    table: RoutingTable
    router: Router
    destinations: Destinations
    clients: Clients
    tokens: InboundTokens  # whose each request is (server.auth_token, server.tokens)
    models: list[dict[str, Any]]
    scrub: Scrubber  # removes resolved secrets from every error message shown
    max_body_bytes: int
    guard: WebGuard  # refuses what a web page sends (Host, Origin)

    def price_of(self, target_id: str) -> Price | None:
        """The price of a request this gateway's target answered; None when unknown."""
        return prices.price_for(self.table, self.destinations.get(target_id).target)

    def open(self) -> None:
        """Create the provider clients (TLS context, pools) now, in the event loop, so no request pays."""
        self.clients.open(self.table.providers)

    async def aclose(self) -> None:
        """Close the provider clients and the identity libraries' clients."""
        await self.clients.aclose()
        await self.destinations.aclose()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def build_gateway(
    table: RoutingTable,
    env: Mapping[str, str],
    session_scale: SessionScale,
    *,
    timeouts: Timeouts | None = None,
) -> Gateway:
    """The gateway of a routing table. Resolves secrets and renders every target's request now, so a missing
    `${VAR}` or a broken template raises `StartupError` before it serves anything. `timeouts` overrides the
    table's (tests). `session_scale` is the process's (ProcessState), which outlives the gateway. Opens
    nothing: `Gateway.open` does, in the event loop."""
    check_environment(table, env)  # every unset variable at once, before anything else is built
    scrub = Scrubber.for_table(table, env)
    router = Router(table, session_scale)
    tokens = InboundTokens.for_table(table, env)
    destinations = Destinations(table, env, router.ad_hoc_target)
    # An identity token (`auth: entra`, `auth: oauth`) that cannot be had stops it too; fetched here unless
    # a loop already runs in this thread (a worker process's start: its first request fetches).
    if destinations.credentials and not _loop_running():
        asyncio.run(destinations.check_credentials())
    limits = {provider.name: provider.in_flight_limit for provider in table.providers.values()}
    clients = Clients(timeouts or table.timeouts, limits=limits)
    for name in destinations.in_process_providers():
        clients.mount(name, echo.client())
    return Gateway(
        table=table,
        router=router,
        destinations=destinations,
        clients=clients,
        tokens=tokens,
        models=model_list(table),
        scrub=scrub,
        max_body_bytes=table.server.max_body_mb * request_body.MEGABYTE,
        guard=WebGuard(table.server),
    )


def model_list(table: RoutingTable) -> list[dict[str, Any]]:
    """Anthropic's ModelInfo for every target, categories first: `claude-any/large`, shown as
    `large → openai/gpt-4.1` (Claude Code's /model picker shows `display_name`)."""
    entries: list[dict[str, Any]] = []
    for target_id in sorted(table.targets, key=lambda tid: ("/" in tid, tid)):
        target = table.targets[target_id]
        upstream = f"{target.provider}/{target.model}"
        context, max_output = target.capabilities.get("context"), target.capabilities.get("max_output")
        entries.append(
            {
                "type": "model",
                "id": listed_id(target_id),
                "display_name": upstream if upstream == target_id else f"{target_id} → {upstream}",
                "created_at": _LISTED_AT,
                "lifecycle": "active",
                "deprecated_at": None,
                "retires_at": None,
                "line": None,  # the model line of a Claude model; these are not Claude's
                "capabilities": None,
                "max_input_tokens": context if isinstance(context, int) else None,
                "max_tokens": max_output if isinstance(max_output, int) else None,
            }
        )
    return entries


class Gateways:
    """The current gateway (`state.gateway`: a reload assigns it) and those it replaced, each closed once
    the last request that took it has ended, so no stream loses its provider connection mid-answer."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._in_flight: Counter[Gateway] = Counter()
        self._retired: set[Gateway] = set()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def current(self) -> Gateway:
        """The gateway new requests get."""
        gateway: Gateway = self._state.gateway
        return gateway

    def enter(self) -> Gateway:
        """A request starts: the current gateway, which it keeps to its end (`leave`)."""
        gateway: Gateway = self._state.gateway
        self._in_flight[gateway] += 1
        return gateway

    def leave(self, gateway: Gateway) -> None:
        """A request that took `gateway` has ended (its response sent, or cut)."""
        self._in_flight[gateway] -= 1
        if self._in_flight[gateway] <= 0:
            del self._in_flight[gateway]
            if gateway in self._retired:
                self._close_later(gateway)

    def replace(self, new: Gateway) -> Gateway:
        """New requests get `new` from now on; the old one is closed when its last request ends. Returns
        the old one. One assignment in the event loop's thread: no request sees half of either."""
        old = self.current
        self._state.gateway = new
        self._retired.add(old)
        if not self._in_flight[old]:
            self._close_later(old)
        return old

    def _close_later(self, gateway: Gateway) -> None:
        self._retired.discard(gateway)
        task = asyncio.get_running_loop().create_task(_close(gateway))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """At shutdown: close the current gateway and every replaced one still open."""
        for gateway in (*self._retired, self.current):
            await _close(gateway)
        self._retired.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def _close(gateway: Gateway) -> None:
    try:
        await gateway.aclose()
    except Exception:  # a client that fails to close is dropped either way; the others still close
        logger.warning("closing a routing table's provider clients failed", exc_info=True)
