"""The provider clients: one per provider, a lone user's requests on one warm connection, concurrent requests
each on their own, one TLS context for all, everything closed at shutdown. Over real HTTP to loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from chunk_sources import read_all
from loopback import ThreadServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from claude_any.provider_templates import PreparedTarget
from claude_any.runtime.call import provider_client, upstream
from claude_any.runtime.call.upstream import Clients


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


def test_a_mounted_client_answers_its_provider_s_requests_instead_of_the_network() -> None:
    """An in-process provider's httpx client (`Clients.mount`) goes through the same open/read/stream
    functions as the network's."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if b'"stream":true' in request.content:
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"data: {}\n\n")
        return httpx.Response(200, json={"answered": "in-process"})

    target = PreparedTarget(protocol="openai", url="http://in-process.invalid/v1/chat/completions")

    async def scenario() -> tuple[dict[str, object], bytes]:
        clients = Clients()
        clients.mount("inproc", httpx.AsyncClient(transport=httpx.MockTransport(answer)))
        clients.open(["inproc"])  # nothing to open for a mounted client
        client = clients.get("inproc")
        kwargs = {"provider_name": "inproc", "model": "m"}
        plain = await upstream.open_response(client, target, {"stream": False}, stream=False, **kwargs)
        message = await upstream.read_json(plain, "inproc")
        streamed = await upstream.open_response(client, target, {"stream": True}, stream=True, **kwargs)
        source = upstream.body_source(streamed)
        body = b"".join([chunk async for chunk in read_all(source)])
        await upstream.close(streamed)
        await clients.aclose()
        return message, body

    message, body = asyncio.run(scenario())
    assert message == {"answered": "in-process"}
    assert body == b"data: {}\n\n"
    assert [request.headers["accept"] for request in seen] == ["application/json", "text/event-stream"]
