"""A provider's requests take its pools in turn; every pool shares one TLS context; all close at shutdown."""

from __future__ import annotations

import asyncio

from claude_any.runtime import upstream
from claude_any.runtime.upstream import Clients


def test_requests_take_the_pools_of_their_provider_in_turn() -> None:
    clients = Clients()
    pools = clients.of("a")
    assert len(pools) == upstream._POOLS_PER_PROVIDER
    assert len({id(client) for client in pools}) == len(pools)
    taken = [clients.get("a") for _ in range(2 * len(pools))]
    assert taken == pools + pools
    assert not set(map(id, clients.of("b"))) & set(map(id, pools))  # providers never share a pool


def test_open_creates_and_aclose_closes_every_pool() -> None:
    clients = Clients()
    clients.open(["a", "b"])
    pools = clients.of("a") + clients.of("b")
    assert len(pools) == 2 * upstream._POOLS_PER_PROVIDER
    asyncio.run(clients.aclose())
    assert all(client.is_closed for client in pools)


def test_one_tls_context_for_all_pools() -> None:
    contexts = {id(client._transport._pool._ssl_context) for client in Clients().of("a")}  # type: ignore[attr-defined]
    assert contexts == {id(upstream._tls_context())}
