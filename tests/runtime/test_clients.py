"""The provider clients: one per provider, a lone user's requests on one warm connection, concurrent requests
each on their own, one TLS context for all, everything closed at shutdown. Over real HTTP to loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from loopback import ThreadServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from claude_any.runtime import provider_client
from claude_any.runtime.upstream import Clients


async def _slow(request: Request) -> PlainTextResponse:
    await asyncio.sleep(float(request.query_params.get("wait", "0")))
    return PlainTextResponse("ok")


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    srv = ThreadServer(Starlette(routes=[Route("/", _slow)])).start()
    yield srv
    srv.stop()


def test_one_user_s_requests_share_one_warm_connection(server: ThreadServer) -> None:
    async def scenario() -> int:
        clients = Clients()
        for _ in range(8):
            response = await clients.get("a").request("GET", server.url + "/", {})
            assert (await response.aread()) == b"ok"
            await response.aclose()
        count = len(clients.connections("a"))
        await clients.aclose()
        return count

    assert asyncio.run(scenario()) == 1  # one TLS handshake against a real provider, not eight


def test_concurrent_requests_each_get_a_connection(server: ThreadServer) -> None:
    async def scenario() -> tuple[int, bool]:
        clients = Clients()

        async def one() -> str:
            response = await clients.get("a").request("GET", server.url + "/?wait=0.2", {})
            text = (await response.aread()).decode()
            await response.aclose()
            return text

        assert await asyncio.gather(*(one() for _ in range(40))) == ["ok"] * 40
        connections = clients.connections("a")
        all_idle = all(connection.is_idle() for connection in connections)
        await clients.aclose()
        return len(connections), all_idle

    # every request had a connection at once (none waited), and all are kept for the next ones
    assert asyncio.run(scenario()) == (40, True)


def test_each_provider_has_its_own_client() -> None:
    clients = Clients()
    assert clients.get("a") is clients.get("a")
    assert clients.get("a") is not clients.get("b")
    assert clients.connections("never-used") == []


def test_open_creates_and_aclose_closes_every_client() -> None:
    clients = Clients()
    clients.open(["a", "b"])
    opened = [clients.get("a"), clients.get("b")]
    asyncio.run(clients.aclose())
    assert all(client.is_closed for client in opened)


def test_open_inside_the_event_loop_makes_the_pools_before_any_request() -> None:
    async def scenario() -> list[bool]:
        clients = Clients()
        clients.open(["a"])
        made = [clients.get("a")._session is not None, clients.get("b")._session is not None]
        await clients.aclose()
        return made

    assert asyncio.run(scenario()) == [True, False]


def test_one_tls_context_for_all_providers_speaking_http_1_1() -> None:
    async def scenario() -> set[int]:
        clients = Clients()
        clients.open(["a", "b"])
        sessions = [clients.get(name)._get_session() for name in ("a", "b")]
        contexts = {id(session.connector._ssl) for session in sessions}  # type: ignore[union-attr]
        await clients.aclose()
        return contexts

    assert asyncio.run(scenario()) == {id(provider_client.tls_context())}
