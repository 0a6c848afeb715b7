"""Which pool a provider's request takes: the first while it is quiet (one warm connection for one user),
else each in turn; every pool shares one TLS context; all close at shutdown. Over real HTTP to loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from loopback import ThreadServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from claude_any.runtime import pool_backend, upstream
from claude_any.runtime.upstream import Clients


async def _slow(request: Request) -> PlainTextResponse:
    await asyncio.sleep(float(request.query_params.get("wait", "0")))
    return PlainTextResponse("ok")


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    srv = ThreadServer(Starlette(routes=[Route("/", _slow)])).start()
    yield srv
    srv.stop()


def _connections(clients: Clients, provider: str) -> list[int]:
    counts = [pool_backend.load(client) for client in clients.of(provider)]
    assert all(count is not None for count in counts)
    return [count[1] for count in counts if count is not None]


def test_one_user_s_requests_share_one_warm_connection(server: ThreadServer) -> None:
    async def scenario() -> list[int]:
        clients = Clients()
        for _ in range(8):
            response = await clients.get("a").get(server.url + "/")
            assert response.text == "ok"
        counts = _connections(clients, "a")
        await clients.aclose()
        return counts

    assert asyncio.run(scenario()) == [1, 0, 0, 0]  # one TLS handshake against a real provider, not four


def test_concurrent_requests_spread_over_the_pools(server: ThreadServer) -> None:
    async def scenario() -> list[int]:
        clients = Clients()

        async def one() -> str:
            response = await clients.get("a").get(server.url + "/?wait=0.2")
            return response.text

        assert await asyncio.gather(*(one() for _ in range(40))) == ["ok"] * 40
        counts = _connections(clients, "a")
        await clients.aclose()
        return counts

    counts = asyncio.run(scenario())
    assert sum(counts) == 40  # every request had a connection at once: none waited for a busy pool
    assert max(counts) - min(counts) <= 1


def test_providers_never_share_a_pool() -> None:
    clients = Clients()
    pools = clients.of("a")
    assert len(pools) == upstream._POOLS_PER_PROVIDER
    assert len({id(client) for client in pools}) == len(pools)
    assert not set(map(id, clients.of("b"))) & set(map(id, pools))


def test_open_creates_and_aclose_closes_every_pool() -> None:
    clients = Clients()
    clients.open(["a", "b"])
    pools = clients.of("a") + clients.of("b")
    assert len(pools) == 2 * upstream._POOLS_PER_PROVIDER
    asyncio.run(clients.aclose())
    assert all(client.is_closed for client in pools)


def test_one_tls_context_for_all_pools() -> None:
    pools = [client._transport._pool for client in Clients().of("a")]  # type: ignore[attr-defined]
    assert {id(pool._ssl_context) for pool in pools} == {id(upstream._tls_context())}


def test_pools_are_taken_in_turn_when_httpx_internals_are_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_backend, "load", lambda client: None)
    clients = Clients()
    pools = clients.of("a")
    assert [clients.get("a") for _ in range(2 * len(pools))] == pools + pools
