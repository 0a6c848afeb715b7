"""The provider clients (`upstream.Clients`, one `ProviderClient` on aiohttp per provider) over real sockets.

They must behave as stock httpx does, answering with httpx responses and raising httpx's exceptions: plain
and TLS round trips, keep-alive reuse, streamed bodies, flow control both ways, HTTPS through a CONNECT
proxy on the same pool, the same httpx exceptions for refused / silent / broken connections, broken and
oversized responses, header injection refused, the in-flight limit, idle connections replaced (and closed
without new traffic) once expired, a reused connection the server had closed retried at once, and a pool
still healthy after a request is cancelled.

uvicorn (in a thread) serves the ordinary cases; behaviour it cannot script (silence, truncation, resets,
closing or writing on an idle connection, malformed responses) comes from small asyncio servers on the
test's own loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import socket
import ssl
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import aiohttp
import httpx
import pytest
from aiohttp.base_protocol import BaseProtocol
from loopback import ThreadServer, black_hole
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from tls_support import Certificates, TLSThreadServer

from claude_any.provider_templates import PreparedTarget
from claude_any.runtime.call import upstream
from claude_any.runtime.call.provider_client import (
    PooledConnection,
    ProviderClient,
    ResponseBody,
    tls_context,
)
from claude_any.runtime.call.proxies import ProxySettings
from claude_any.runtime.call.upstream import Clients
from claude_any.runtime.errors import AnthropicError
from claude_any.table import MAX_IN_FLIGHT, Timeouts

T = TypeVar("T")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

KIB = 1024
MIB = 1024 * KIB
BIG = bytes(range(256)) * (8 * MIB // 256)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


# --- helpers -----------------------------------------------------------------------------------------------


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run a scenario on a fresh loop, bounded so that a hang fails its test rather than the suite."""
    return asyncio.run(asyncio.wait_for(scenario, 10))


def _digest(body: bytes) -> dict[str, Any]:
    return {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def _chunk_text(count: int) -> str:
    return "".join(f"chunk {i}\n" for i in range(count))


@contextlib.asynccontextmanager
async def provider_client(timeouts: Timeouts | None = None, **limits: Any) -> AsyncIterator[ProviderClient]:
    """A provider client as the gateway makes them (closed afterwards with all its siblings)."""
    clients = Clients(timeouts, **limits)
    try:
        yield clients.get("p")
    finally:
        await clients.aclose()


def own_client(connect: float = 5.0, read: float = 5.0) -> ProviderClient:
    """A provider client with timeouts shorter than the gateway's clients allow."""
    return ProviderClient(ProxySettings({}), connect_s=connect, read_s=read)


async def fetch(
    client: ProviderClient,
    method: str,
    url: str,
    content: bytes = b"",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A request whose body is read whole (and the response closed), as httpx's `client.request` does."""
    response = await client.request(method, url, headers or {}, content)
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


@contextlib.asynccontextmanager
async def streamed(client: ProviderClient, method: str, url: str) -> AsyncIterator[httpx.Response]:
    """A request whose body is left to the caller (closed at the end), as httpx's `client.stream` does."""
    response = await client.request(method, url, {})
    try:
        yield response
    finally:
        await response.aclose()


def _connections(client: ProviderClient) -> list[PooledConnection]:
    return client.connections()


def _only(client: ProviderClient) -> PooledConnection:
    """The only connection of the client's pool."""
    connections = _connections(client)
    assert len(connections) == 1
    return connections[0]


def _port(connection: PooledConnection) -> int:
    """The connection's own port: which connection it is."""
    port: int = connection.get_extra_info("sockname")[1]
    return port


@contextlib.asynccontextmanager
async def serving(handler: Handler, context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """An asyncio server on the running loop (the client's own); yields its base URL."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if context else 'http'}://127.0.0.1:{port}"
    finally:
        server.close()


def _silent_listener() -> socket.socket:
    """A listening socket nobody accepts from: the kernel completes the handshake and buffers a little of
    what the client sends (a small receive buffer), and nothing ever answers."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def _url_of(sock: socket.socket, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{sock.getsockname()[1]}/"


async def _until(condition: Callable[[], object], seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class ConnectProxy:
    """A tiny HTTP proxy that only tunnels (CONNECT), recording each request line."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.requests.append(request_line)
        method, authority, _ = request_line.split(" ", 2)
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        host, _, port = authority.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


class Socks5Proxy:
    """A tiny SOCKS5 proxy (no authentication, CONNECT only), recording each destination as it was asked."""

    def __init__(self) -> None:
        self.destinations: list[tuple[str, int]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, count = await reader.readexactly(2)
        await reader.readexactly(count)  # the methods offered
        writer.write(b"\x05\x00")  # no authentication
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            writer.close()
            return
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.destinations.append((host, port))
        up_reader, up_writer = await asyncio.open_connection(host, port)
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\x00\x00")
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request from the wire: its head and its body (Content-Length framed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head, await reader.readexactly(length)


# A scripted server's answer to one request: write to the writer; return False to close the connection.
Respond = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[bool]]


async def answer_ok(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(OK)
    return True


class Server:
    """A keep-alive HTTP/1.1 server whose answers `respond` scripts; it records each connection, each
    request (with the number of the connection it came on), and each connection the client closed."""

    def __init__(self, respond: Respond = answer_ok) -> None:
        self.respond = respond
        self.accepted = 0
        self.open = 0
        self.max_open = 0
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection number, head, body)
        self.eofs = 0  # connections the client closed (EOF or reset while the server waited for a request)
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.accepted
        self.accepted += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self.writers.append(writer)
        try:
            while True:
                try:
                    head, body = await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.eofs += 1
                    return
                self.requests.append((number, head, body))
                keep_open = await self.respond(head, body, writer)
                await writer.drain()
                if not keep_open:
                    return
        finally:
            self.open -= 1
            writer.close()

    def connection_numbers(self) -> list[int]:
        return [number for number, _, _ in self.requests]


# --- the uvicorn test app ----------------------------------------------------------------------------------


async def _hello(request: Request) -> Response:
    return PlainTextResponse("hello")


async def _echo(request: Request) -> Response:
    return JSONResponse(_digest(await request.body()))


async def _slow_upload(request: Request) -> Response:
    digest, length = hashlib.sha256(), 0
    async for chunk in request.stream():
        digest.update(chunk)
        length += len(chunk)
        await asyncio.sleep(0.002)  # uvicorn stops reading the socket meanwhile: the client has to wait
    return JSONResponse({"length": length, "sha256": digest.hexdigest()})


async def _chunks(request: Request) -> Response:
    count, delay = int(request.query_params["n"]), float(request.query_params["delay"])

    async def body() -> AsyncIterator[bytes]:
        for i in range(count):
            await asyncio.sleep(delay)
            yield f"chunk {i}\n".encode()

    return StreamingResponse(body(), media_type="text/plain")


async def _big(request: Request) -> Response:
    return Response(BIG, media_type="application/octet-stream")


async def _cookie(request: Request) -> Response:
    """Sets a cookie, and says which one the request carried."""
    response = JSONResponse({"cookie": request.headers.get("cookie")})
    response.set_cookie("session", "from-an-earlier-answer")
    return response


async def _gzipped(request: Request) -> Response:
    return Response(gzip.compress(b"zipped " * 1000), headers={"content-encoding": "gzip"})


async def _late(request: Request) -> Response:
    await asyncio.sleep(0.3)
    return PlainTextResponse("late")


def _app() -> Starlette:
    return Starlette(
        routes=[
            Route("/", _hello),
            Route("/echo", _echo, methods=["POST"]),
            Route("/slow-upload", _slow_upload, methods=["POST"]),
            Route("/chunks", _chunks),
            Route("/big", _big),
            Route("/late", _late),
            Route("/cookie", _cookie),
            Route("/gzip", _gzipped),
        ]
    )


# --- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def plain() -> Iterator[ThreadServer]:
    server = ThreadServer(_app()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates.make(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls(certificates: Certificates) -> Iterator[TLSThreadServer]:
    server = TLSThreadServer(_app(), certificates).start()
    yield server
    server.stop()


@pytest.fixture
def trust_ca(monkeypatch: pytest.MonkeyPatch, certificates: Certificates) -> Iterator[Certificates]:
    """Provider clients made during the test trust the test CA (through SSL_CERT_FILE, as in production)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))
    tls_context.cache_clear()
    yield certificates
    tls_context.cache_clear()


# --- plain HTTP --------------------------------------------------------------------------------------------


def test_get_and_post_round_trips(plain: ThreadServer) -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with provider_client() as client:
            return await fetch(client, "GET", plain.url + "/"), await fetch(
                client, "POST", plain.url + "/echo", b"x" * 999
            )

    got, posted = run(scenario())
    assert (got.status_code, got.text, got.reason_phrase) == (200, "hello", "OK")
    assert (posted.status_code, posted.json()) == (200, _digest(b"x" * 999))


def test_sequential_requests_reuse_one_connection(plain: ThreadServer) -> None:
    async def scenario() -> list[int]:
        ports = []
        async with provider_client() as client:
            for _ in range(3):
                assert (await fetch(client, "GET", plain.url + "/")).text == "hello"
                ports.append(_port(_only(client)))
                assert (await fetch(client, "POST", plain.url + "/echo", b"abc")).status_code == 200
                ports.append(_port(_only(client)))
        return ports

    ports = run(scenario())
    assert ports == [ports[0]] * 6


def test_a_connection_describes_itself(plain: ThreadServer) -> None:
    async def scenario() -> dict[str, Any]:
        async with provider_client() as client:
            await fetch(client, "GET", plain.url + "/")
            connection = _only(client)
            info = {key: connection.get_extra_info(key) for key in ("sockname", "peername", "ssl_object")}
            info["idle"] = connection.is_idle()
            async with streamed(client, "GET", plain.url + "/chunks?n=3&delay=0.05"):
                info["idle while in use"] = _only(client).is_idle()
            return info

    info = run(scenario())
    assert tuple(info["peername"]) == ("127.0.0.1", plain.port)
    assert tuple(info["sockname"])[0] == "127.0.0.1"
    assert info["ssl_object"] is None
    assert info["idle"] is True
    assert info["idle while in use"] is False


def test_a_streamed_response_arrives_in_pieces_and_in_order(plain: ThreadServer) -> None:
    async def scenario() -> list[bytes]:
        async with (
            provider_client() as client,
            streamed(client, "GET", plain.url + "/chunks?n=10&delay=0.02") as response,
        ):
            return [piece async for piece in response.aiter_raw()]

    pieces = run(scenario())
    assert b"".join(pieces).decode() == _chunk_text(10)
    assert len(pieces) > 1  # delivered as they came, not all at the end


def test_a_gzipped_body_arrives_decoded(plain: ThreadServer) -> None:
    async def scenario() -> httpx.Response:
        async with provider_client() as client:
            return await fetch(client, "GET", plain.url + "/gzip")

    response = run(scenario())
    assert response.content == b"zipped " * 1000
    assert "content-encoding" not in response.headers  # it describes the wire, not what is handed on


def test_the_provider_client_keeps_no_cookie(plain: ThreadServer) -> None:
    """A cookie one answer sets must not ride along on the next request, which may be another user's."""

    async def scenario() -> list[Any]:
        async with provider_client() as client:
            return [(await fetch(client, "GET", plain.url + "/cookie")).json()["cookie"] for _ in range(2)]

    assert run(scenario()) == [None, None]


def test_requests_carry_the_gateway_s_user_agent_and_ask_for_gzip() -> None:
    async def scenario() -> Server:
        server = Server()
        async with serving(server.handle) as url, provider_client() as client:
            await fetch(client, "POST", url + "/", b"{}", {"content-type": "application/json"})
        return server

    head = run(scenario()).requests[0][1].lower()
    assert b"\r\nuser-agent: claude-any\r\n" in head
    assert b"gzip" in head.split(b"\r\naccept-encoding: ", 1)[1].split(b"\r\n", 1)[0]


def test_a_url_in_wire_form_goes_out_exactly_as_written() -> None:
    """The templates percent-encode a model name into one path segment; nothing may decode it again."""
    path = "/openai/deployments/x%2F..%2Fadmin%3Fapi-version%3D1%23frag%252F/chat/completions?api-version=1"

    async def scenario() -> Server:
        server = Server()
        async with serving(server.handle) as url, provider_client() as client:
            await fetch(client, "POST", url + path, b"{}")
        return server

    request_line = run(scenario()).requests[0][1].split(b"\r\n", 1)[0]
    assert request_line == f"POST {path} HTTP/1.1".encode()


def test_a_large_upload_to_a_slow_reader_completes(plain: ThreadServer) -> None:
    async def scenario() -> httpx.Response:
        async with provider_client() as client:
            return await fetch(client, "POST", plain.url + "/slow-upload", BIG)

    response = run(scenario())
    assert (response.status_code, response.json()) == (200, _digest(BIG))


def test_a_large_download_completes(plain: ThreadServer) -> None:
    async def scenario() -> bytes:
        async with provider_client() as client:
            return (await fetch(client, "GET", plain.url + "/big")).content

    assert run(scenario()) == BIG


def test_an_upload_the_provider_does_not_read_is_bounded_by_the_first_byte_timeout() -> None:
    """The provider neither reads the body nor answers: the upload waits (the socket's buffers are full)
    and `open_response` gives up at `first_byte_s` with the gateway's timeout error, never hanging."""

    async def scenario() -> None:
        async with provider_client() as client:
            await upstream.open_response(
                client,
                PreparedTarget(protocol="openai", url=_url_of(sock), headers={}),
                {"pad": "x" * (16 * MIB)},
                stream=False,
                provider_name="p",
                model="m",
                first_byte_s=0.3,
            )

    with _silent_listener() as sock, pytest.raises(AnthropicError) as caught:
        run(scenario())
    assert (caught.value.status, caught.value.type) == (504, "timeout_error")
    assert "first_byte_s" in caught.value.message


def test_concurrent_requests_share_the_pool(plain: ThreadServer) -> None:
    async def scenario() -> tuple[list[str], int]:
        async with provider_client() as client:

            async def one() -> str:
                return (await fetch(client, "GET", plain.url + "/chunks?n=3&delay=0.01")).text

            texts = await asyncio.gather(*(one() for _ in range(40)))
            return texts, len(_connections(client))

    texts, connections = run(scenario())
    assert texts == [_chunk_text(3)] * 40
    assert 1 < connections <= 40


def test_the_in_flight_limit_makes_a_request_wait_for_a_free_connection() -> None:
    releases = asyncio.Queue[None]()

    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        await releases.get()
        writer.write(OK)
        return True

    async def scenario() -> tuple[list[str], Server]:
        server = Server(respond)
        async with serving(server.handle) as url, provider_client(max_in_flight=2) as client:
            tasks = [asyncio.create_task(fetch(client, "GET", url)) for _ in range(3)]
            await _until(lambda: len(server.requests) == 2)
            await asyncio.sleep(0.05)  # the third request had time to go out, were it allowed to
            assert len(server.requests) == 2
            assert server.accepted == 2
            releases.put_nowait(None)
            await _until(lambda: len(server.requests) == 3)
            assert server.accepted == 2  # the third took the freed connection
            for _ in range(2):
                releases.put_nowait(None)
            texts = [response.text for response in await asyncio.gather(*tasks)]
            return texts, server

    texts, server = run(scenario())
    assert texts == ["ok"] * 3
    assert server.max_open == 2


def test_by_default_150_requests_to_one_provider_are_all_in_flight_at_once() -> None:
    """No hidden cap: a team's sessions are not queued behind each other (the default is 4096)."""
    everyone = asyncio.Event()
    arrived = 0

    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        nonlocal arrived
        arrived += 1
        if arrived == 150:
            everyone.set()
        await everyone.wait()  # no answer until all 150 are open at the same time
        writer.write(OK)
        return True

    async def scenario() -> tuple[list[str], Server]:
        server = Server(respond)
        async with serving(server.handle) as url, provider_client() as client:
            responses = await asyncio.gather(*(fetch(client, "GET", url) for _ in range(150)))
            return [response.text for response in responses], server

    texts, server = run(scenario())
    assert texts == ["ok"] * 150
    assert server.max_open == 150
    assert MAX_IN_FLIGHT == 4096


# --- TLS ---------------------------------------------------------------------------------------------------


def test_https_round_trip(tls: TLSThreadServer, trust_ca: Certificates) -> None:
    async def scenario() -> tuple[str, Any]:
        async with provider_client() as client:
            response = await fetch(client, "GET", tls.url + "/")
            return response.text, _only(client).get_extra_info("ssl_object")

    text, ssl_object = run(scenario())
    assert text == "hello"
    assert isinstance(ssl_object, ssl.SSLObject)
    assert ("IP Address", "127.0.0.1") in ssl_object.getpeercert()["subjectAltName"]  # verified


def test_https_through_an_http_proxy_tunnel(
    tls: TLSThreadServer, trust_ca: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxied request runs on the provider's own pool, like a direct one: one tunnel, kept alive."""
    proxy = ConnectProxy()

    async def scenario() -> tuple[list[str], int]:
        async with serving(proxy.handle) as proxy_url:
            monkeypatch.setenv("HTTPS_PROXY", proxy_url)
            async with provider_client() as client:
                texts = [(await fetch(client, "GET", tls.url + "/")).text for _ in range(2)]
                return texts, len(_connections(client))

    texts, connections = run(scenario())
    assert texts == ["hello", "hello"]
    assert proxy.requests == [f"CONNECT 127.0.0.1:{tls.port} HTTP/1.1"]  # one tunnel, reused
    assert connections == 1


@pytest.mark.parametrize("proxied", [True, False], ids=["proxied", "exempt"])
def test_a_gateway_request_takes_the_proxy_unless_its_host_is_exempt(
    proxied: bool, tls: TLSThreadServer, trust_ca: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`open_response` (the gateway's path) honours HTTPS_PROXY and NO_PROXY."""
    proxy = ConnectProxy()
    target = PreparedTarget(protocol="openai", url=tls.url + "/echo", headers={"x-test": "1"})

    async def scenario() -> dict[str, Any]:
        async with serving(proxy.handle) as proxy_url:
            monkeypatch.setenv("HTTPS_PROXY", proxy_url)
            if not proxied:
                monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            async with provider_client() as client:
                response = await upstream.open_response(
                    client, target, {"a": 1}, stream=False, provider_name="p", model="m"
                )
                return await upstream.read_json(response, "p")

    assert run(scenario()) == _digest(b'{"a":1}')
    assert proxy.requests == ([f"CONNECT 127.0.0.1:{tls.port} HTTP/1.1"] if proxied else [])


@pytest.mark.parametrize(("scheme", "host"), [("socks5", "127.0.0.1"), ("socks5h", "localhost")])
def test_a_request_through_a_socks_proxy(
    scheme: str, host: str, plain: ThreadServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`socks5h` leaves the name to the proxy to resolve; both keep the tunnel alive for the next request."""
    pytest.importorskip("aiohttp_socks")
    proxy = Socks5Proxy()

    async def scenario() -> list[str]:
        async with serving(proxy.handle) as proxy_url:
            monkeypatch.setenv("HTTP_PROXY", proxy_url.replace("http://", f"{scheme}://"))
            async with provider_client() as client:
                return [(await fetch(client, "GET", f"http://{host}:{plain.port}/")).text for _ in range(2)]

    assert run(scenario()) == ["hello", "hello"]
    assert proxy.destinations == [(host, plain.port)]


def test_a_socks_proxy_that_cannot_be_reached_is_a_502(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("aiohttp_socks")
    target = PreparedTarget(protocol="openai", url="https://provider.example/v1/chat/completions", headers={})

    async def scenario() -> None:
        monkeypatch.setenv("HTTPS_PROXY", f"socks5://user:s3cret@127.0.0.1:{sock.getsockname()[1]}")
        async with provider_client() as client:
            await upstream.open_response(client, target, {}, stream=False, provider_name="p", model="m")

    with socket.socket() as sock, pytest.raises(AnthropicError) as caught:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: refused
        run(scenario())
    assert (caught.value.status, caught.value.cause) == (502, "connect")
    assert "s3cret" not in caught.value.message


def test_a_proxy_s_credentials_go_to_it_and_never_into_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The proxy refuses (407) the tunnel: the request had offered the URL's credentials to the proxy, and
    the gateway's error names neither the password nor the proxy URL."""
    heads: list[bytes] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    target = PreparedTarget(protocol="openai", url="https://provider.example/v1/chat/completions", headers={})

    async def scenario() -> None:
        async with serving(refuse) as proxy_url:
            monkeypatch.setenv("HTTPS_PROXY", proxy_url.replace("http://", "http://user:s3cret@"))
            async with provider_client() as client:
                await upstream.open_response(client, target, {}, stream=False, provider_name="p", model="m")

    with pytest.raises(AnthropicError) as caught:
        run(scenario())
    assert caught.value.status == 502
    assert "407" in caught.value.message
    assert "s3cret" not in caught.value.message and "user" not in caught.value.message
    request_line, *header_lines = heads[0].decode("latin-1").split("\r\n")
    assert request_line == "CONNECT provider.example:443 HTTP/1.1"
    authorization = base64.b64encode(b"user:s3cret").decode()
    assert f"Proxy-Authorization: Basic {authorization}" in header_lines


def test_a_proxy_that_cannot_be_reached_is_a_502_naming_no_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = PreparedTarget(protocol="openai", url="https://provider.example/v1/chat/completions", headers={})

    async def scenario() -> None:
        monkeypatch.setenv("HTTPS_PROXY", f"http://user:s3cret@127.0.0.1:{sock.getsockname()[1]}")
        async with provider_client() as client:
            await upstream.open_response(client, target, {}, stream=False, provider_name="p", model="m")

    with socket.socket() as sock, pytest.raises(AnthropicError) as caught:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: refused
        run(scenario())
    assert (caught.value.status, caught.value.cause) == (502, "connect")
    assert "s3cret" not in caught.value.message


def test_an_untrusted_certificate_is_a_connect_error(tls: TLSThreadServer) -> None:
    async def scenario() -> None:
        tls_context.cache_clear()  # the default trust store: the test CA is not in it
        async with own_client() as client:
            await fetch(client, "GET", tls.url + "/")

    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        run(scenario())


def test_a_tls_handshake_with_a_plain_http_server_is_a_connect_error(plain: ThreadServer) -> None:
    async def scenario() -> None:
        async with own_client() as client:
            await fetch(client, "GET", f"https://127.0.0.1:{plain.port}/")

    with pytest.raises(httpx.ConnectError):
        run(scenario())


def test_a_tls_handshake_nobody_answers_is_a_connect_timeout() -> None:
    async def scenario() -> None:
        async with own_client(connect=0.2) as client:
            await fetch(client, "GET", _url_of(sock, "https"))

    with _silent_listener() as sock, pytest.raises(httpx.ConnectTimeout):
        run(scenario())


# --- failures ----------------------------------------------------------------------------------------------


def test_a_refused_connection_is_a_connect_error() -> None:
    async def scenario() -> None:
        async with provider_client() as client:
            await fetch(client, "GET", _url_of(sock))

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        with pytest.raises(httpx.ConnectError):
            run(scenario())


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_a_connect_nobody_accepts_is_a_connect_timeout() -> None:
    async def scenario() -> None:
        async with own_client(connect=0.2) as client:
            await fetch(client, "GET", _url_of(sock))

    with black_hole() as sock, pytest.raises(httpx.ConnectTimeout):
        run(scenario())  # bounded by run(): a hang fails instead of timing out


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_an_address_that_never_answers_is_overtaken_by_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Happy eyeballs: a provider name resolving first to an address that never answers (an IPv6 route
    going nowhere, say) and then to a good one connects to the good one well before the connect timeout."""

    async def scenario() -> str:
        loop = asyncio.get_running_loop()
        real = loop.getaddrinfo

        async def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host == "provider.example":
                infos = [*await real("127.0.0.1", silent_port, *args, **kwargs)]
                return infos + [*await real("127.0.0.1", good_port, *args, **kwargs)]
            return await real(host, port, *args, **kwargs)

        monkeypatch.setattr(loop, "getaddrinfo", resolve)
        async with serving(Server().handle) as url, own_client(connect=5) as client:
            good_port = int(url.rsplit(":", 1)[1])
            return (await fetch(client, "GET", f"http://provider.example:{good_port}/")).text

    with black_hole() as silent:
        silent_port = silent.getsockname()[1]
        started = time.monotonic()
        assert run(scenario()) == "ok"
    assert time.monotonic() - started < 3  # not the 5 s connect timeout of the first address


def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async def scenario() -> None:
        async with own_client(read=0.2) as client:
            await fetch(client, "GET", _url_of(sock))

    with _silent_listener() as sock:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            run(scenario())
        assert time.monotonic() - started > 0.15  # the configured timeout, not an early failure


def test_bytes_that_came_before_a_broken_connection_are_read_before_its_error() -> None:
    """aiohttp's reader raises a broken connection's error ahead of the bytes it still holds (they arrived
    while the stream's task was busy writing): the provider's last words reach the client, then the error."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        content = aiohttp.StreamReader(BaseProtocol(loop), 2**16, loop=loop)
        content.feed_data(b'data: {"partial": true}\n\n')
        content.set_exception(aiohttp.ClientPayloadError("the connection was broken"))
        body = ResponseBody(cast(aiohttp.ClientResponse, SimpleNamespace(content=content)))
        assert await body.read() == b'data: {"partial": true}\n\n'
        for _ in range(2):  # and it stays failed
            with pytest.raises(httpx.HTTPError):
                await body.read()

    run(scenario())


def test_a_connection_closed_mid_body_is_an_error() -> None:
    async def truncate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        async with serving(truncate) as url, provider_client() as client:
            await fetch(client, "GET", url + "/")

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        run(scenario())


def test_a_connection_reset_mid_body_is_a_read_error() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
        await writer.drain()
        await asyncio.sleep(0.05)  # the client has the head and is waiting for the rest
        linger = struct.pack("ii", 1, 0)  # close with an RST
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        writer.transport.abort()

    async def scenario() -> None:
        async with (
            serving(reset) as url,
            provider_client() as client,
            streamed(client, "GET", url + "/") as response,
        ):
            assert response.status_code == 200
            await response.aread()

    with pytest.raises(httpx.ReadError):
        run(scenario())


def _many_headers() -> bytes:
    line = b"X-Filler: " + b"f" * 100 + b"\r\n"
    return b"HTTP/1.1 200 OK\r\n" + line * (300 * KIB // len(line)) + b"Content-Length: 2\r\n\r\nok"


BROKEN_RESPONSES = {
    "garbage status line": b"SPAM EGGS AND HAM\r\n\r\n",
    "not HTTP at all": b"\x00\x01\x02 binary junk\r\n\r\n",
    "head over 256 KiB in many headers": _many_headers(),
    "head over 256 KiB in one header": b"HTTP/1.1 200 OK\r\nX-Big: "
    + b"b" * (300 * KIB)
    + b"\r\nContent-Length: 2\r\n\r\nok",
    "head over 256 KiB in the status line": b"HTTP/1.1 200 " + b"O" * (300 * KIB) + b"\r\n\r\nok",
    "no response at all": b"",
}


@pytest.mark.parametrize("response", BROKEN_RESPONSES.values(), ids=BROKEN_RESPONSES.keys())
def test_a_broken_response_is_a_remote_protocol_error(response: bytes) -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(response)
        return bool(response)  # the server closes without answering; otherwise it leaves the client to act

    async def scenario() -> tuple[list[PooledConnection], Server]:
        server = Server(respond)
        async with serving(server.handle) as url, provider_client() as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await fetch(client, "POST", url, b"{}")  # not GET: aiohttp sends an idempotent one again
            if response:
                await _until(lambda: server.eofs == 1)  # the client closed the broken connection
            return _connections(client), server

    left, server = run(scenario())
    assert left == []  # not pooled
    assert (server.accepted, len(server.requests)) == (1, 1)


def test_an_endless_header_line_is_a_remote_protocol_error_before_the_read_timeout() -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: " + b"e" * (1 * MIB))  # and never a line end
        return True

    async def scenario() -> None:
        async with serving(Server(respond).handle) as url, own_client(read=5) as client:
            await fetch(client, "GET", url)

    started = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):
        run(scenario())
    assert time.monotonic() - started < 4


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Value": "a\r\nX-Injected: 1"},
        {"X-Value": "a\nX-Injected: 1"},
        {"X-Value": "a\rb"},
        {"X-Value": "a\x00b"},
        {"X-Name\r\nX-Injected": "1"},
    ],
    ids=["crlf-in-value", "lf-in-value", "cr-in-value", "nul-in-value", "crlf-in-name"],
)
def test_a_header_with_a_line_break_is_a_local_protocol_error_and_nothing_is_sent(
    headers: dict[str, str],
) -> None:
    async def scenario() -> tuple[str, Server]:
        server = Server()
        async with serving(server.handle) as url, provider_client() as client:
            with pytest.raises(httpx.LocalProtocolError):
                await fetch(client, "GET", url, headers=headers)
            await asyncio.sleep(0.02)  # time for anything sent to arrive
            assert server.requests == []
            return (await fetch(client, "GET", url)).text, server

    text, server = run(scenario())
    assert text == "ok"  # the pool is fine afterwards
    assert len(server.requests) == 1
    assert b"X-Injected" not in server.requests[0][1]


def test_an_unsupported_scheme_is_an_unsupported_protocol_error() -> None:
    async def scenario() -> None:
        async with provider_client() as client:
            await fetch(client, "GET", "ftp://127.0.0.1/file")

    with pytest.raises(httpx.UnsupportedProtocol):
        run(scenario())


# --- the end of an exchange --------------------------------------------------------------------------------


def test_a_body_delimited_by_close_is_complete_and_its_connection_is_not_reused() -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"second part")
        return False  # the close ends the body

    async def scenario() -> tuple[list[str], Server]:
        server = Server(respond)
        async with serving(server.handle) as url, provider_client() as client:
            texts = [(await fetch(client, "GET", url)).text for _ in range(2)]
            return texts, server

    texts, server = run(scenario())
    assert texts == ["first part, second part"] * 2
    assert server.connection_numbers() == [0, 1]


def test_a_connection_close_response_sends_the_next_request_on_a_new_connection() -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        return True  # the server keeps the connection open anyway: only the client's choice counts

    async def scenario() -> tuple[list[str], Server]:
        server = Server(respond)
        async with serving(server.handle) as url, provider_client() as client:
            texts = [(await fetch(client, "GET", url)).text for _ in range(2)]
            await _until(lambda: server.eofs >= 1)  # the client closed the first connection
            return texts, server

    texts, server = run(scenario())
    assert texts == ["ok", "ok"]
    assert server.connection_numbers() == [0, 1]


def test_a_100_continue_is_skipped_for_the_real_response() -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\nmade")
        return True

    async def scenario() -> tuple[list[httpx.Response], Server]:
        server = Server(respond)
        async with serving(server.handle) as url, provider_client() as client:
            return [await fetch(client, "POST", url, b"data") for _ in range(2)], server

    responses, server = run(scenario())
    for response in responses:
        assert (response.status_code, response.reason_phrase, response.content) == (201, "Created", b"made")
        assert response.headers.get("x-final") == "yes"
        assert "x-interim" not in response.headers
    assert server.connection_numbers() == [0, 0]  # the exchange ended cleanly: reused


def test_a_response_after_a_complete_response_keeps_its_connection_from_reuse() -> None:
    """The extra response comes in the same write as the answer (so in the same read, most likely)."""

    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra")
        return True

    async def scenario() -> tuple[list[str], Server]:
        server = Server(respond)
        async with serving(server.handle) as url, provider_client() as client:
            return [(await fetch(client, "GET", url)).text for _ in range(2)], server

    texts, server = run(scenario())
    assert texts == ["ok", "ok"]  # the complete response stands
    assert server.connection_numbers() == [0, 1]


def test_an_answer_that_comes_before_the_whole_request_was_sent_is_not_followed_by_reuse() -> None:
    """The server rejects an upload after its head (413) without reading the body: the response is whole,
    but the rest of the body is still queued for the wire, so the connection must not carry a next request."""
    accepted: list[asyncio.StreamWriter] = []

    async def reject_early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        head = await reader.readuntil(b"\r\n\r\n")
        if b"content-length: 2\r\n" in head.lower():  # the small follow-up request: answer it
            await reader.readexactly(2)
            writer.write(OK)
        else:
            writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        with contextlib.suppress(ConnectionError):
            await reader.read()  # hold the connection open (unread) until the client closes it

    async def scenario() -> tuple[int, int, int]:
        async with serving(reject_early) as url, provider_client() as client:
            rejected = await fetch(client, "POST", url, BIG)
            ok = await fetch(client, "POST", url, b"hi")
            return rejected.status_code, ok.status_code, len(accepted)

    assert run(scenario()) == (413, 200, 2)


# --- idle connections --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_idle_connection_the_server_closed_is_replaced(scheme: str, trust_ca: Certificates) -> None:
    async def scenario() -> None:
        server = Server()
        context = trust_ca.server_context() if scheme == "https" else None
        async with serving(server.handle, context) as url, provider_client() as client:
            assert (await fetch(client, "GET", url + "/")).text == "ok"
            first = _port(_only(client))
            server.writers[0].close()
            await _until(lambda: _connections(client) == [])  # noticed without a request
            assert (await fetch(client, "GET", url + "/")).text == "ok"
            assert server.connection_numbers() == [0, 1]
            assert _port(_only(client)) != first

    run(scenario())


def test_an_idle_connection_older_than_keepalive_expiry_is_replaced() -> None:
    async def scenario() -> Server:
        server = Server()
        async with serving(server.handle) as url, provider_client(keepalive_expiry_s=0.5) as client:
            await fetch(client, "GET", url)
            await fetch(client, "GET", url)  # right away: reused (the control)
            assert server.connection_numbers() == [0, 0]
            await asyncio.sleep(0.6)
            await fetch(client, "GET", url)
            await _until(lambda: server.eofs == 1)  # the expired one was closed, not just left
            assert len(_connections(client)) == 1
        return server

    assert run(scenario()).connection_numbers() == [0, 0, 1]


def test_an_idle_connection_is_closed_after_its_expiry_without_new_traffic() -> None:
    """No request comes after the first: the idle connection is still closed (within twice the expiry),
    rather than held open until the next request finds it expired."""

    async def scenario() -> tuple[int, int, Server]:
        server = Server()
        async with serving(server.handle) as url, provider_client(keepalive_expiry_s=0.2) as client:
            await fetch(client, "GET", url)
            kept = len(_connections(client))
            await _until(lambda: server.eofs == 1, seconds=2.0)
            return kept, len(_connections(client)), server

    kept, left, server = run(scenario())
    assert (kept, left) == (1, 0)
    assert server.accepted == 1


def test_a_reused_connection_the_server_had_closed_is_retried_at_once_on_a_new_one() -> None:
    """The server's idle timeout races the request: it reads the request on the kept-alive connection and
    closes it unanswered. The client sends it again at once on a new connection; no error reaches the caller.
    A request on a new connection that fails the same way is not sent again (the server may have acted)."""

    async def respond(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        number = server.connection_numbers()[-1]
        if server.connection_numbers().count(number) > 1:
            return False  # a second request on this connection: closed, unanswered
        writer.write(OK)
        return True

    server = Server(respond)

    async def scenario() -> tuple[list[str], list[int], type[Exception]]:
        async with serving(server.handle) as url, provider_client() as client:
            texts = [(await fetch(client, "POST", url, b"{}")).text for _ in range(3)]
            numbers = server.connection_numbers()
            refuse_new = Server(lambda head, body, writer: _close(writer))
            async with serving(refuse_new.handle) as other:
                with pytest.raises(httpx.RemoteProtocolError) as caught:
                    await fetch(client, "POST", other, b"{}")
                assert len(refuse_new.requests) == 1
            return texts, numbers, caught.type

    texts, numbers, error = run(scenario())
    assert texts == ["ok"] * 3
    assert numbers == [0, 0, 1, 1, 2]  # each reuse closed unanswered, then sent again on a new connection


async def _close(writer: asyncio.StreamWriter) -> bool:
    return False


# --- shutdown ----------------------------------------------------------------------------------------------


def test_aclose_closes_every_connection() -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        if b" /partial " in head:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        else:
            writer.write(OK)
        return True

    async def scenario() -> tuple[int, list[PooledConnection], Server]:
        server = Server(respond)
        client = own_client()
        async with serving(server.handle) as url:
            async with streamed(client, "GET", url + "/partial") as response:  # in use
                assert await response.aiter_raw().__anext__() == b"only part"
                assert (await fetch(client, "GET", url + "/")).text == "ok"  # a second connection, then idle
                count = len(_connections(client))
                await client.aclose()
                await _until(lambda: server.eofs == 2)
            return count, _connections(client), server

    count, left, server = run(scenario())
    assert count == 2
    assert left == []
    assert server.accepted == 2


# --- cancellation ------------------------------------------------------------------------------------------


def test_a_stream_cancelled_by_a_timeout_leaves_the_pool_healthy(plain: ThreadServer) -> None:
    async def scenario() -> list[str]:
        async with provider_client() as client:

            async def read_all() -> None:
                async with streamed(client, "GET", plain.url + "/chunks?n=50&delay=0.05") as response:
                    async for _ in response.aiter_raw():
                        pass

            with pytest.raises(TimeoutError):
                await asyncio.wait_for(read_all(), 0.2)
            return [(await fetch(client, "GET", plain.url + "/")).text for _ in range(2)]

    assert run(scenario()) == ["hello", "hello"]


def test_a_stream_whose_task_is_cancelled_leaves_the_pool_healthy(plain: ThreadServer) -> None:
    async def scenario() -> tuple[list[bytes], str]:
        pieces: list[bytes] = []
        async with provider_client() as client:

            async def read_all() -> None:
                async with streamed(client, "GET", plain.url + "/chunks?n=50&delay=0.05") as response:
                    async for piece in response.aiter_raw():
                        pieces.append(piece)

            task = asyncio.create_task(read_all())
            await _until(lambda: pieces)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return pieces, (await fetch(client, "GET", plain.url + "/")).text

    pieces, text = run(scenario())
    assert pieces[0] == b"chunk 0\n"
    assert text == "hello"


def test_a_request_cancelled_before_its_response_leaves_the_pool_healthy(plain: ThreadServer) -> None:
    async def scenario() -> str:
        async with provider_client() as client:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(fetch(client, "GET", plain.url + "/late"), 0.1)
            return (await fetch(client, "GET", plain.url + "/")).text

    assert run(scenario()) == "hello"
