"""The benchmark's fake OpenAI-compatible upstream: a raw asyncio HTTP/1.1 server answering canned bytes.

It must cost next to nothing per request so that the baseline measures the network path and the load
generator, not a web framework: no parsing beyond the request head, replies prebuilt at start-up, keep-alive,
and a stream written as one socket write per SSE event (chunked transfer encoding, as OpenAI sends it) so the
gateway really receives a stream rather than one buffer.

Run: `python -m bench.upstream [--port N]`; it prints `PORT <n>` on stdout once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from bench.payloads import canned_replies

_HEAD_END = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024


def _json_reply(body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


_STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


class Replies:
    """Every reply prebuilt as wire bytes: per path, the JSON answer and the list of stream writes."""

    def __init__(self) -> None:
        self.json: dict[bytes, bytes] = {}
        self.stream: dict[bytes, list[bytes]] = {}
        for path, canned in canned_replies().items():
            key = path.encode()
            self.json[key] = _json_reply(canned.json)
            writes = [_STREAM_HEAD + b"%x\r\n%s\r\n" % (len(canned.events[0]), canned.events[0])]
            writes += [b"%x\r\n%s\r\n" % (len(event), event) for event in canned.events[1:]]
            writes[-1] += b"0\r\n\r\n"
            self.stream[key] = writes


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection: read a request head and its body, write the canned reply."""

    def __init__(self, replies: Replies) -> None:
        self._replies = replies
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._answer_one():
            pass

    def _answer_one(self) -> bool:
        end = self._buffer.find(_HEAD_END)
        if end < 0:
            if len(self._buffer) > _MAX_HEAD and self._transport is not None:
                self._transport.close()
            return False
        head = bytes(self._buffer[:end]).lower()
        length = 0
        stream = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"accept":
                stream = b"text/event-stream" in value
        total = end + 4 + length
        if len(self._buffer) < total:
            return False
        path = head.split(b" ", 2)[1].split(b"?", 1)[0]
        del self._buffer[:total]
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        if stream and path in self._replies.stream:
            for piece in self._replies.stream[path]:
                transport.write(piece)
        else:
            transport.write(self._replies.json.get(path, _NOT_FOUND))
        return True


async def serve(port: int) -> None:
    """Listen on 127.0.0.1:`port` (0: any free port), announce it, serve until killed."""
    replies = Replies()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: UpstreamProtocol(replies), "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
