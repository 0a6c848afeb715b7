"""The cached-socket network backend under httpx: installed on every pool of a provider client (proxy mounts
included), real requests through it, dead keep-alive connections still detected and replaced."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest
from loopback import ThreadServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from claude_any.runtime import pool_backend
from claude_any.runtime.upstream import Clients


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    srv = ThreadServer(Starlette(routes=[Route("/", _hello)])).start()
    yield srv
    srv.stop()


def _backends(client: httpx.AsyncClient) -> list[object]:
    transports = [client._transport, *client._mounts.values()]
    return [t._pool._network_backend for t in transports if t is not None]  # type: ignore[union-attr]


def test_every_pool_of_a_provider_client_gets_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # env proxies become mounted transports
    monkeypatch.delenv("NO_PROXY", raising=False)
    client = Clients().get("p")
    backends = _backends(client)
    assert len(backends) >= 2
    assert all(isinstance(b, pool_backend.CachedSocketBackend) for b in backends)
    assert pool_backend.install(client) == 0  # already installed: not wrapped twice


def test_an_unrecognised_client_layout_is_left_alone() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert pool_backend.install(client) == 0


def test_requests_reuse_connections_and_survive_a_server_side_close(server: ThreadServer) -> None:
    async def scenario() -> list[str]:
        clients = Clients()
        client = clients.get("p")
        texts = []
        for _ in range(3):
            response = await client.get(server.url + "/")
            texts.append(response.text)
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1  # kept alive and reused
        # The server side goes away: the idle connection turns readable (EOF) and must be dropped, not
        # used for the next request.
        stream = pool.connections[0]._connection._network_stream
        assert stream.get_extra_info("is_readable") is False
        raw = stream.get_extra_info("socket")
        peer = raw.getsockname()
        _close_peer(server, peer)
        for _ in range(200):  # until the FIN has arrived
            if stream.get_extra_info("is_readable"):
                break
            await asyncio.sleep(0.01)
        assert stream.get_extra_info("is_readable") is True
        texts.append((await client.get(server.url + "/")).text)
        await clients.aclose()
        return texts

    assert asyncio.run(scenario()) == ["hello"] * 4


def _close_peer(server: ThreadServer, peer: tuple[str, int]) -> None:
    """Ask the test server to close the connection from `peer` (uvicorn's idle keep-alive close)."""
    for protocol in list(server._server.server_state.connections):
        if protocol.transport.get_extra_info("peername")[:2] == peer[:2]:
            protocol.transport.close()


def test_readable_means_data_or_eof_waiting() -> None:
    one, other = socket.socketpair()
    with one, other:
        assert pool_backend._readable(one) is False
        other.sendall(b"x")
        assert pool_backend._readable(one) is True
    closed = socket.socket()
    closed.close()
    assert pool_backend._readable(closed) is True
    assert pool_backend._readable(None) is True
