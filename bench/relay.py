"""A bare byte relay: the floor any gateway's CPU per token is measured against.

    python -m bench.relay --upstream-port 8001     # prints "PORT n", then relays until stopped

Each client connection gets its own connection to the upstream, and bytes are copied both ways as they
arrive: no HTTP parsing, no translation, no task per connection (asyncio protocols on uvloop, one read and
one write per chunk). What it costs per token is what reading an event from a provider and writing it to a
client costs on this machine, which no gateway can go below. `bench.run --scenario sessions --floor` runs
the sessions through it as a third side.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import cast

import uvloop

from bench.processes import HOST


class _Side(asyncio.Protocol):
    """One end of a relayed pair: what it reads is written to its peer; a close closes both."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.early: list[bytes] = []  # what the client sent before the upstream connection was open

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.early.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


class _Client(_Side):
    """A client's connection: opens its own upstream connection when it arrives."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self.upstream_port = upstream_port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        asyncio.ensure_future(self._dial())

    async def _dial(self) -> None:
        loop = asyncio.get_running_loop()
        upstream = _Side()
        upstream.peer = self
        try:
            await loop.create_connection(lambda: upstream, HOST, self.upstream_port)
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        self.peer = upstream
        assert upstream.transport is not None
        for data in self.early:
            upstream.transport.write(data)
        self.early.clear()


async def serve(upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Client(upstream_port), HOST, 0, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.upstream_port))


if __name__ == "__main__":
    main()
