"""`http1.Connection` and `pool.PooledTransport` against scripted servers, over real sockets.

What `test_provider_network.py` leaves out: response framing (Content-Length, chunked, close-delimited,
`Connection: close`, 1xx, HEAD), malformed and oversized responses, header injection, bytes after a
response, the pool's limits (`max_connections`, pool timeout, `keepalive_expiry`), read flow control,
streamed request bodies, unsupported schemes and closing the transport.

Each server is a small asyncio server on the test's own loop, scripted per test; the core cases also run
on uvloop, which the gateway runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

import httpx
import pytest

from claude_any.runtime import http1
from claude_any.runtime.http1 import Connection
from claude_any.runtime.pool import PooledTransport

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop] | None
# A server's answer to one request: write to the writer; return False to close the connection.
Respond = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[bool]]

KIB = 1024
MIB = 1024 * KIB
BIG = bytes(range(256)) * (8 * MIB // 256)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _uvloop_factory() -> LoopFactory:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


_UVLOOP = _uvloop_factory()
LOOPS = [
    pytest.param(None, id="asyncio"),
    pytest.param(_UVLOOP, id="uvloop", marks=pytest.mark.skipif(_UVLOOP is None, reason="no uvloop")),
]


# --- helpers -----------------------------------------------------------------------------------------------


def run(scenario: Coroutine[Any, Any, T], loop_factory: LoopFactory = None) -> T:
    """Run a scenario on a fresh loop (asyncio's or uvloop's), bounded so that a hang fails its test."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(asyncio.wait_for(scenario, 5))


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request from the wire: its head and its body (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)
    }
    if headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += await reader.readexactly(size)
            assert await reader.readexactly(2) == b"\r\n"
        assert await reader.readexactly(2) == b"\r\n"  # no trailers
        return head, body
    return head, await reader.readexactly(int(headers.get(b"content-length", b"0")))


async def answer_ok(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(OK)
    return True


class Server:
    """A keep-alive HTTP/1.1 server whose answers `respond` scripts; it records each connection, each
    request (with the number of the connection it came on), and each connection the client closed."""

    def __init__(self, respond: Respond = answer_ok) -> None:
        self.respond = respond
        self.accepted = 0  # connections so far
        self.open = 0
        self.max_open = 0
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection number, head, body)
        self.eofs = 0  # connections the client closed (EOF or reset while the server waited for a request)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.accepted
        self.accepted += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
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


@contextlib.asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    """The server on a free port of the running loop (the client's own); yields its base URL."""
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listener.close()


def make_client(**timeouts: float) -> tuple[httpx.AsyncClient, PooledTransport]:
    return make_pool_client(PooledTransport(), **timeouts)


def make_pool_client(
    transport: PooledTransport, **timeouts: float
) -> tuple[httpx.AsyncClient, PooledTransport]:
    client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, **timeouts), trust_env=False)
    return client, transport


def only_connection(transport: PooledTransport) -> Connection:
    connections = transport.connections()
    assert len(connections) == 1
    return connections[0]


async def until(condition: Callable[[], object], seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.002)


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


# --- response framing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("loop_factory", LOOPS)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_framed_body_arrives_whole_and_the_connection_is_reused(
    framing: str, loop_factory: LoopFactory
) -> None:
    body = b"".join(b"line %d\n" % i for i in range(500))

    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        if framing == "chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(chunked(body[:1000], body[1000:1001], body[1001:]))
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return True

    async def scenario() -> tuple[list[bytes], Server]:
        server = Server(respond)
        client, _ = make_client()
        async with serving(server) as url, client:
            return [(await client.get(url + f"/{i}")).content for i in range(3)], server

    bodies, server = run(scenario(), loop_factory)
    assert bodies == [body] * 3
    assert server.connection_numbers() == [0, 0, 0]


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_chunked_body_is_delivered_as_each_chunk_arrives(loop_factory: LoopFactory) -> None:
    """Lockstep: the server sends the next chunk only once the client has the previous one, so a client
    that waited for the whole body would hang (and fail by the bound on the scenario)."""
    received = asyncio.Queue[bytes]()

    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(5):
            writer.write(b"%x\r\n%s\r\n" % (len(b"piece %d;" % i), b"piece %d;" % i))
            await writer.drain()
            assert await received.get() == b"piece %d;" % i
        writer.write(b"0\r\n\r\n")
        return True

    async def scenario() -> list[bytes]:
        pieces: list[bytes] = []
        client, _ = make_client()
        async with serving(Server(respond)) as url, client, client.stream("GET", url) as response:
            async for piece in response.aiter_raw():
                pieces.append(piece)
                received.put_nowait(piece)
        return pieces

    assert run(scenario(), loop_factory) == [b"piece %d;" % i for i in range(5)]


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_body_delimited_by_close_is_complete_and_its_connection_is_not_reused(
    loop_factory: LoopFactory,
) -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"second part")
        return False  # the close ends the body

    async def scenario() -> tuple[list[str], list[Connection], Server]:
        server = Server(respond)
        client, transport = make_client()
        async with serving(server) as url, client:
            first = (await client.get(url)).text
            left = transport.connections()
            return [first, (await client.get(url)).text], left, server

    texts, left, server = run(scenario(), loop_factory)
    assert texts == ["first part, second part"] * 2
    assert left == []  # not pooled after the first response
    assert server.connection_numbers() == [0, 1]


def test_a_connection_close_response_sends_the_next_request_on_a_new_connection() -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        return True  # the server keeps the connection open anyway: only the client's choice counts

    async def scenario() -> tuple[list[str], Server]:
        server = Server(respond)
        client, _ = make_client()
        async with serving(server) as url, client:
            texts = [(await client.get(url)).text for _ in range(2)]
            await until(lambda: server.eofs >= 1)  # the client closed the first connection
            return texts, server

    texts, server = run(scenario())
    assert texts == ["ok", "ok"]
    assert server.connection_numbers() == [0, 1]


@pytest.mark.parametrize("split", [False, True], ids=["one-write", "two-writes"])
def test_a_100_continue_is_skipped_for_the_real_response(split: bool) -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n")
        if split:
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\nmade")
        return True

    async def scenario() -> tuple[list[httpx.Response], Server]:
        server = Server(respond)
        client, _ = make_client()
        async with serving(server) as url, client:
            return [await client.post(url, content=b"data") for _ in range(2)], server

    responses, server = run(scenario())
    for response in responses:
        assert (response.status_code, response.reason_phrase, response.content) == (201, "Created", b"made")
        assert response.headers.get("x-final") == "yes"
        assert "x-interim" not in response.headers
    assert server.connection_numbers() == [0, 0]  # the exchange ended cleanly: reused


def test_a_head_response_with_a_content_length_has_no_body_and_is_not_reused() -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        if head.startswith(b"HEAD "):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")  # the length of a GET's body
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
        return True

    async def scenario() -> tuple[httpx.Response, list[Connection], bytes, Server]:
        server = Server(respond)
        client, transport = make_client()
        async with serving(server) as url, client:
            head = await client.head(url)  # a client waiting for 10 body bytes would hang here
            left = transport.connections()
            return head, left, (await client.get(url)).content, server

    head, left, got, server = run(scenario())
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "10")
    assert left == []
    assert got == b"0123456789"
    assert server.connection_numbers() == [0, 1]


# --- broken responses --------------------------------------------------------------------------------------


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

    async def scenario() -> tuple[list[Connection], Server]:
        server = Server(respond)
        client, transport = make_client()
        async with serving(server) as url, client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(url)
            if response:
                await until(lambda: server.eofs == 1)  # the client closed the broken connection
            return transport.connections(), server

    left, server = run(scenario())
    assert left == []  # not pooled
    assert (server.accepted, len(server.requests)) == (1, 1)


def test_an_endless_header_line_is_a_remote_protocol_error_before_the_read_timeout() -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: " + b"e" * (1 * MIB))  # and never a line end
        return True

    async def scenario() -> None:
        client, _ = make_client(read=0.5)
        async with serving(Server(respond)) as url, client:
            await client.get(url)

    with pytest.raises(httpx.RemoteProtocolError):
        run(scenario())


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
        client, _ = make_client()
        async with serving(server) as url, client:
            with pytest.raises(httpx.LocalProtocolError):
                await client.get(url, headers=headers)
            await asyncio.sleep(0.02)  # time for anything sent to arrive
            assert server.accepted == 0
            return (await client.get(url)).text, server

    text, server = run(scenario())
    assert text == "ok"  # the pool is fine afterwards
    assert len(server.requests) == 1
    assert b"X-Injected" not in server.requests[0][1]


# --- the end of an exchange --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra", [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra", b"garbage"], ids=["response", "garbage"]
)
def test_bytes_after_a_complete_response_keep_its_connection_from_reuse(extra: bytes) -> None:
    """The extra bytes come in the same write as the response (so in the same read, most likely)."""

    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(OK + extra)
        return True

    async def scenario() -> tuple[list[str], Server]:
        server = Server(respond)
        client, _ = make_client()
        async with serving(server) as url, client:
            return [(await client.get(url)).text for _ in range(2)], server

    texts, server = run(scenario())
    assert texts == ["ok", "ok"]  # the complete response stands
    assert server.connection_numbers() == [0, 1]


def test_bytes_after_the_body_but_before_the_release_keep_the_connection_from_reuse() -> None:
    """The caller has the whole body but has not closed the response yet when the server writes more."""
    client_has_body = asyncio.Event()

    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(OK)
        if not client_has_body.is_set():
            await writer.drain()
            await client_has_body.wait()
            writer.write(b"HTTP/1.1 200 OK\r\n")
        return True

    async def scenario() -> tuple[list[bool], str, Server]:
        server = Server(respond)
        client, transport = make_client()
        async with serving(server) as url, client:
            async with client.stream("GET", url) as response:
                # the body stream itself: httpx's aread() and aiter_*() close the response at its end
                body = cast(httpx.AsyncByteStream, response.stream).__aiter__()
                assert await body.__anext__() == b"ok"
                connection = only_connection(transport)
                states = [connection.is_idle(), connection.usable()]
                client_has_body.set()
                await until(lambda: not connection.usable())
            return states, (await client.get(url)).text, server

    states, text, server = run(scenario())
    assert states == [False, True]  # still in its exchange, and fine until the extra bytes came
    assert text == "ok"
    assert server.connection_numbers() == [0, 1]


# --- pool limits -------------------------------------------------------------------------------------------


def test_max_connections_makes_the_third_request_wait_for_a_free_connection() -> None:
    releases = asyncio.Queue[None]()

    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        await releases.get()
        writer.write(OK)
        return True

    async def scenario() -> tuple[list[str], Server]:
        server = Server(respond)
        client, _ = make_pool_client(PooledTransport(max_connections=2))
        async with serving(server) as url, client:
            tasks = [asyncio.create_task(client.get(url)) for _ in range(3)]
            await until(lambda: len(server.requests) == 2)
            await asyncio.sleep(0.05)  # the third request had time to go out, were it allowed to
            assert len(server.requests) == 2
            assert server.accepted == 2
            releases.put_nowait(None)
            await until(lambda: len(server.requests) == 3)
            assert server.accepted == 2  # the third took the freed connection
            for _ in range(2):
                releases.put_nowait(None)
            texts = [response.text for response in await asyncio.gather(*tasks)]
            return texts, server

    texts, server = run(scenario())
    assert texts == ["ok"] * 3
    assert server.max_open == 2


def test_a_pool_timeout_while_every_connection_is_busy() -> None:
    async def scenario() -> tuple[str, Server]:
        server = Server()
        client, _ = make_pool_client(PooledTransport(max_connections=2), pool=0.1)
        async with serving(server) as url, client:
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(2):  # two responses held open, unread: both connections busy
                    await stack.enter_async_context(client.stream("GET", url))
                started = time.monotonic()
                with pytest.raises(httpx.PoolTimeout):
                    await client.get(url)
                assert time.monotonic() - started >= 0.09  # the configured wait, not an early failure
            return (await client.get(url)).text, server

    text, server = run(scenario())
    assert text == "ok"  # a freed connection serves the next request
    assert server.accepted == 2
    assert len(server.requests) == 3


def test_an_idle_connection_older_than_keepalive_expiry_is_replaced() -> None:
    async def scenario() -> tuple[list[int], Server]:
        server = Server()
        client, transport = make_pool_client(PooledTransport(keepalive_expiry=0.1))
        async with serving(server) as url, client:
            await client.get(url)
            await client.get(url)  # right away: reused (the control)
            seen = list(server.connection_numbers())
            await asyncio.sleep(0.15)
            await client.get(url)
            await until(lambda: server.eofs == 1)  # the expired one was closed, not just left
            assert len(transport.connections()) == 1
            return seen, server

    seen, server = run(scenario())
    assert seen == [0, 0]
    assert server.connection_numbers() == [0, 0, 1]


# --- flow control and request bodies -----------------------------------------------------------------------


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_reading_pauses_while_the_caller_does_not_read(loop_factory: LoopFactory) -> None:
    """A server sends 8 MiB as fast as it can; the client reads one chunk, then pauses. What the
    connection holds unread must stay near its high-water mark (one more read of up to 256 KiB may land
    before reading pauses), and the whole body must still arrive intact afterwards. `_buffered` is private:
    it is the only view of the protocol's own buffer, which is what flow control bounds."""
    bound = http1._READ_HIGH_WATER + 256 * KIB

    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG))
        writer.write(BIG)
        return True

    async def scenario() -> tuple[list[int], bytes]:
        client, transport = make_client()
        async with serving(Server(respond)) as url, client, client.stream("GET", url) as response:
            chunks = response.aiter_raw()
            first = await chunks.__anext__()
            connection = only_connection(transport)
            await until(lambda: connection._buffered > http1._READ_HIGH_WATER)  # the server kept sending
            samples = []
            for _ in range(5):
                await asyncio.sleep(0.01)
                samples.append(connection._buffered)
            rest = b"".join([chunk async for chunk in chunks])
            return samples, first + rest

    samples, body = run(scenario(), loop_factory)
    assert all(http1._READ_HIGH_WATER < sample <= bound for sample in samples), samples
    assert body == BIG


@pytest.mark.parametrize(
    "pieces", [[b"hello ", b"streamed ", b"world"], [b""], []], ids=["pieces", "empty-piece", "nothing"]
)
def test_a_request_body_from_an_async_iterator_is_sent_chunked(pieces: list[bytes]) -> None:
    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async def scenario() -> Server:
        server = Server()
        client, _ = make_client()
        async with serving(server) as url, client:
            assert (await client.post(url, content=body())).text == "ok"
            assert (await client.post(url, content=b"after")).text == "ok"  # the framing ended right
        return server

    server = run(scenario())
    (_, head, received), (_, _, after) = server.requests
    assert b"\r\nTransfer-Encoding: chunked\r\n" in head
    assert received == b"".join(pieces)
    assert after == b"after"
    assert server.connection_numbers() == [0, 0]


# --- scheme and shutdown -----------------------------------------------------------------------------------


def test_an_unsupported_scheme_is_an_unsupported_protocol_error() -> None:
    async def scenario() -> None:
        client, transport = make_client()
        async with client:
            with pytest.raises(httpx.UnsupportedProtocol):
                await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/file"))
            with pytest.raises(httpx.UnsupportedProtocol):
                await client.get("ftp://127.0.0.1/file")
            assert transport.connections() == []

    run(scenario())


def test_aclose_closes_every_connection() -> None:
    async def respond(head: bytes, _: bytes, writer: asyncio.StreamWriter) -> bool:
        if b" /partial " in head:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        else:
            writer.write(OK)
        return True

    async def scenario() -> tuple[int, list[Connection], Server]:
        server = Server(respond)
        client, transport = make_client()
        async with serving(server) as url:
            async with client.stream("GET", url + "/partial") as response:  # in use
                assert await response.aiter_raw().__anext__() == b"only part"
                assert (await client.get(url + "/")).text == "ok"  # a second connection, then idle
                count = len(transport.connections())
                await transport.aclose()
                await until(lambda: server.eofs == 2)
            return count, transport.connections(), server

    count, left, server = run(scenario())
    assert count == 2
    assert left == []
    assert server.accepted == 2


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
        listener = await asyncio.start_server(reject_early, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
        client, _ = make_client(write=0.5)
        try:
            async with client:
                rejected = await client.post(url, content=BIG)
                ok = await client.post(url, content=b"hi")
                return rejected.status_code, ok.status_code, len(accepted)
        finally:
            listener.close()

    assert run(scenario()) == (413, 200, 2)
