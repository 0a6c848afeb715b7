"""The provider clients (`upstream.Clients`, on `pool.PooledTransport`) over real sockets.

They must behave exactly as stock httpx does: plain and TLS round trips, keep-alive reuse, streamed bodies,
flow control both ways, HTTPS through a CONNECT proxy, the same httpx exceptions for refused / silent /
broken connections, dead idle connections noticed before reuse, and a pool still healthy after a request is
cancelled.

uvicorn (in a thread) serves the ordinary cases; behaviour it cannot script (silence, truncation, resets,
closing or writing on an idle connection) comes from small asyncio servers on the test's own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpcore
import httpx
import pytest
from loopback import ThreadServer, black_hole
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from tls_support import Certificates, TLSThreadServer

from claude_any.provider_templates import PreparedTarget
from claude_any.runtime import upstream
from claude_any.runtime.http1 import Connection
from claude_any.runtime.pool import PooledTransport
from claude_any.runtime.upstream import Clients, ProviderClient
from claude_any.table import Timeouts

T = TypeVar("T")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

MIB = 1024 * 1024
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
async def provider_client(timeouts: Timeouts | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A provider client as the gateway makes them (closed afterwards with all its siblings)."""
    clients = Clients(timeouts)
    try:
        yield clients.get("p")
    finally:
        await clients.aclose()


def own_client(verify: ssl.SSLContext | None = None, **timeouts: float) -> httpx.AsyncClient:
    """An httpx client on the gateway's transport, for timeouts shorter than the provider clients allow."""
    return httpx.AsyncClient(
        transport=PooledTransport(ssl_context=verify), timeout=httpx.Timeout(5.0, **timeouts), trust_env=False
    )


def _connections(client: httpx.AsyncClient) -> list[Connection]:
    """The open connections of the client's own pool (a provider client's or `own_client`'s)."""
    transport = client.pool if isinstance(client, ProviderClient) else client._transport  # type: ignore[attr-defined]
    assert isinstance(transport, PooledTransport)
    return transport.connections()


def _stream(client: httpx.AsyncClient) -> Connection:
    """The only connection of the client's pool."""
    connections = _connections(client)
    assert len(connections) == 1
    return connections[0]


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
    upstream._tls_context.cache_clear()
    yield certificates
    upstream._tls_context.cache_clear()


# --- plain HTTP --------------------------------------------------------------------------------------------


def test_get_and_post_round_trips(plain: ThreadServer) -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with provider_client() as client:
            return await client.get(plain.url + "/"), await client.post(
                plain.url + "/echo", content=b"x" * 999
            )

    got, posted = run(scenario())
    assert (got.status_code, got.text) == (200, "hello")
    assert (posted.status_code, posted.json()) == (200, _digest(b"x" * 999))


def test_sequential_requests_reuse_one_connection(plain: ThreadServer) -> None:
    async def scenario() -> list[Any]:
        streams = []
        async with provider_client() as client:
            for _ in range(3):
                assert (await client.get(plain.url + "/")).text == "hello"
                streams.append(_stream(client))
                assert (await client.post(plain.url + "/echo", content=b"abc")).status_code == 200
                streams.append(_stream(client))
        return streams

    streams = run(scenario())
    assert all(stream is streams[0] for stream in streams)


def test_stream_extra_info_describes_the_connection(plain: ThreadServer) -> None:
    async def scenario() -> dict[str, Any]:
        async with provider_client() as client:
            await client.get(plain.url + "/")
            stream = _stream(client)
            info = {key: stream.get_extra_info(key) for key in ("sockname", "peername", "ssl_object")}
            info["usable"] = stream.usable()
            info["idle"] = stream.is_idle()
            raw = stream.get_extra_info("socket")
            info["socket_ends"] = (raw.getsockname(), raw.getpeername())
            return info

    info = run(scenario())
    assert tuple(info["peername"]) == ("127.0.0.1", plain.port)
    assert tuple(info["sockname"])[0] == "127.0.0.1"
    assert info["socket_ends"] == (tuple(info["sockname"]), tuple(info["peername"]))
    assert info["ssl_object"] is None
    assert info["usable"] is True  # idle, nothing waiting
    assert info["idle"] is True


def test_a_streamed_response_arrives_in_pieces_and_in_order(plain: ThreadServer) -> None:
    async def scenario() -> list[bytes]:
        async with (
            provider_client() as client,
            client.stream("GET", plain.url + "/chunks?n=10&delay=0.02") as response,
        ):
            return [piece async for piece in response.aiter_raw()]

    pieces = run(scenario())
    assert b"".join(pieces).decode() == _chunk_text(10)
    assert len(pieces) > 1  # delivered as they came, not all at the end


def test_the_provider_client_keeps_no_cookie(plain: ThreadServer) -> None:
    """A cookie one answer sets must not ride along on the next request, which may be another user's."""

    async def scenario() -> list[Any]:
        async with provider_client() as client:
            return [(await client.get(plain.url + "/cookie")).json()["cookie"] for _ in range(2)]

    assert run(scenario()) == [None, None]


def test_a_large_upload_to_a_slow_reader_completes(plain: ThreadServer) -> None:
    async def scenario() -> httpx.Response:
        async with provider_client() as client:
            return await client.post(plain.url + "/slow-upload", content=BIG)

    response = run(scenario())
    assert (response.status_code, response.json()) == (200, _digest(BIG))


def test_a_large_download_completes(plain: ThreadServer) -> None:
    async def scenario() -> bytes:
        async with provider_client() as client:
            return (await client.get(plain.url + "/big")).content

    assert run(scenario()) == BIG


def test_a_write_waits_while_the_peer_does_not_read() -> None:
    """Flow control: with the peer's buffers full the write blocks, and so times out. (A backend that
    queued the whole body in the transport would 'finish' the upload at once and time out reading.)"""

    async def scenario() -> None:
        async with own_client(write=0.3) as client:
            await client.post(_url_of(sock), content=bytes(16 * MIB))

    with _silent_listener() as sock, pytest.raises(httpx.WriteTimeout):
        run(scenario())


def test_concurrent_requests_share_the_pool(plain: ThreadServer) -> None:
    async def scenario() -> tuple[list[str], int]:
        async with provider_client() as client:

            async def one() -> str:
                return (await client.get(plain.url + "/chunks?n=3&delay=0.01")).text

            texts = await asyncio.gather(*(one() for _ in range(40)))
            return texts, len(_connections(client))

    texts, connections = run(scenario())
    assert texts == [_chunk_text(3)] * 40
    assert 1 < connections <= 40


# --- TLS ---------------------------------------------------------------------------------------------------


def test_https_round_trip(tls: TLSThreadServer, trust_ca: Certificates) -> None:
    async def scenario() -> tuple[str, Any]:
        async with provider_client() as client:
            response = await client.get(tls.url + "/")
            return response.text, _stream(client).get_extra_info("ssl_object")

    text, ssl_object = run(scenario())
    assert text == "hello"
    assert isinstance(ssl_object, ssl.SSLObject)
    assert ("IP Address", "127.0.0.1") in ssl_object.getpeercert()["subjectAltName"]  # verified


def test_https_through_an_http_proxy_tunnel(
    tls: TLSThreadServer, trust_ca: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy()

    async def scenario() -> tuple[list[str], Any, Any]:
        async with serving(proxy.handle) as proxy_url:
            monkeypatch.setenv("HTTPS_PROXY", proxy_url)
            async with provider_client() as client:
                texts = [(await client.get(tls.url + "/")).text for _ in range(2)]
                # httpx's own proxy transport carries proxied requests; the direct pool stays empty
                assert isinstance(client, ProviderClient)
                pool = client.router.pick(httpx.URL(tls.url))._pool  # type: ignore[attr-defined]
                return texts, (pool, len(pool.connections)), _connections(client)

    texts, (pool, tunnels), direct = run(scenario())
    assert texts == ["hello", "hello"]
    assert proxy.requests == [f"CONNECT 127.0.0.1:{tls.port} HTTP/1.1"]  # one tunnel, reused
    assert isinstance(pool, httpcore.AsyncHTTPProxy)
    assert tunnels == 1
    assert direct == []


@pytest.mark.parametrize("proxied", [True, False], ids=["proxied", "exempt"])
def test_a_gateway_request_takes_the_proxy_unless_its_host_is_exempt(
    proxied: bool, tls: TLSThreadServer, trust_ca: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`open_response` (the gateway's own path, which skips httpx's client for direct requests) honours
    HTTPS_PROXY and NO_PROXY."""
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


def test_an_untrusted_certificate_is_a_connect_error(tls: TLSThreadServer) -> None:
    async def scenario() -> None:
        async with own_client(verify=ssl.create_default_context()) as client:  # the test CA is not in it
            await client.get(tls.url + "/")

    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        run(scenario())


def test_a_tls_handshake_with_a_plain_http_server_is_a_connect_error(plain: ThreadServer) -> None:
    async def scenario() -> None:
        async with own_client() as client:
            await client.get(f"https://127.0.0.1:{plain.port}/")

    with pytest.raises(httpx.ConnectError):
        run(scenario())


def test_a_tls_handshake_nobody_answers_is_a_connect_timeout() -> None:
    async def scenario() -> None:
        async with own_client(connect=0.2) as client:
            await client.get(_url_of(sock, "https"))

    with _silent_listener() as sock, pytest.raises(httpx.ConnectTimeout):
        run(scenario())


# --- failures ----------------------------------------------------------------------------------------------


def test_a_refused_connection_is_a_connect_error() -> None:
    async def scenario() -> None:
        async with provider_client() as client:
            await client.get(_url_of(sock))

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        with pytest.raises(httpx.ConnectError):
            run(scenario())


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_a_connect_nobody_accepts_is_a_connect_timeout() -> None:
    async def scenario() -> None:
        async with own_client(connect=0.2) as client:
            await client.get(_url_of(sock))

    with black_hole() as sock, pytest.raises(httpx.ConnectTimeout):
        run(scenario())  # bounded by run(): a hang fails instead of timing out


def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async def scenario() -> None:
        async with own_client(read=0.2) as client:
            await client.get(_url_of(sock))

    with _silent_listener() as sock:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            run(scenario())
        assert time.monotonic() - started > 0.15  # the configured timeout, not an early failure


def test_the_provider_clients_read_timeout_is_the_backstop() -> None:
    """Clients' own read timeout: max(first_byte_s, idle_s) + 1 seconds."""

    async def scenario() -> None:
        async with provider_client(Timeouts(connect_s=1, first_byte_s=0.1, idle_s=0.1)) as client:
            await client.get(_url_of(sock))

    with _silent_listener() as sock:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            run(scenario())
        assert time.monotonic() - started >= 1.0  # the backstop (first_byte_s + 1), not first_byte_s itself


def test_a_connection_closed_mid_body_is_an_error() -> None:
    async def truncate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        async with serving(truncate) as url, provider_client() as client:
            await client.get(url + "/")

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
            client.stream("GET", url + "/") as response,
        ):
            assert response.status_code == 200
            await response.aread()

    with pytest.raises(httpx.ReadError):
        run(scenario())


# --- idle connections --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("event", ["close", "unexpected data"])
def test_an_idle_connection_the_server_spoiled_is_replaced(
    scheme: str, event: str, trust_ca: Certificates
) -> None:
    """The server closes an idle keep-alive connection, or writes on it: `usable` must say so, and the
    next request must go out on a new connection."""
    writers: list[asyncio.StreamWriter] = []

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(OK)
                await writer.drain()
        writer.close()

    async def scenario() -> None:
        context = trust_ca.server_context() if scheme == "https" else None
        async with serving(keep_alive, context) as url, provider_client() as client:
            assert (await client.get(url + "/")).text == "ok"
            stream = _stream(client)
            assert stream.usable() is True
            if event == "close":
                writers[0].close()
            else:
                writers[0].write(b"HTTP/1.1 200 OK\r\n")
            await _until(lambda: not stream.usable())
            assert (await client.get(url + "/")).text == "ok"
            assert len(writers) == 2
            assert _stream(client) is not stream

    run(scenario())


# --- cancellation ------------------------------------------------------------------------------------------


def test_a_stream_cancelled_by_a_timeout_leaves_the_pool_healthy(plain: ThreadServer) -> None:
    async def scenario() -> list[str]:
        async with provider_client() as client:

            async def read_all() -> None:
                async with client.stream("GET", plain.url + "/chunks?n=50&delay=0.05") as response:
                    async for _ in response.aiter_raw():
                        pass

            with pytest.raises(TimeoutError):
                await asyncio.wait_for(read_all(), 0.2)
            return [(await client.get(plain.url + "/")).text for _ in range(2)]

    assert run(scenario()) == ["hello", "hello"]


def test_a_stream_whose_task_is_cancelled_leaves_the_pool_healthy(plain: ThreadServer) -> None:
    async def scenario() -> tuple[list[bytes], str]:
        pieces: list[bytes] = []
        async with provider_client() as client:

            async def read_all() -> None:
                async with client.stream("GET", plain.url + "/chunks?n=50&delay=0.05") as response:
                    async for piece in response.aiter_raw():
                        pieces.append(piece)

            task = asyncio.create_task(read_all())
            await _until(lambda: pieces)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return pieces, (await client.get(plain.url + "/")).text

    pieces, text = run(scenario())
    assert pieces[0] == b"chunk 0\n"
    assert text == "hello"


def test_a_request_cancelled_before_its_response_leaves_the_pool_healthy(plain: ThreadServer) -> None:
    async def scenario() -> str:
        async with provider_client() as client:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.get(plain.url + "/late"), 0.1)
            return (await client.get(plain.url + "/")).text

    assert run(scenario()) == "hello"
