"""A cheaper readability check for httpx's connection pool (httpcore 1.0), installed where it can be.

Whenever a request starts or ends, httpcore's pool asks every idle connection whether its socket has become
readable (the server closed it). Its anyio stream answers by building a dict of socket attributes on each
call: about 10 us, times every idle connection, several times per request (at 50 concurrent streams, a
sixth of the gateway's CPU). Here each stream looks its raw socket up once, and the check is one poll.

The swap touches httpcore internals (`_transport`, `_pool`, `_network_backend`), so it is guarded: if they
are not where this expects them, nothing is changed and the pool works as shipped, only slower.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import typing

import httpcore
import httpx

logger = logging.getLogger("claude_any")


def _readable(sock: socket.socket | None) -> bool:
    """True when the socket has data or EOF waiting (or is gone): an idle connection that must be dropped."""
    if sock is None or sock.fileno() < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])  # Windows: no poll, and no FD_SETSIZE limit there


class _Stream(httpcore.AsyncNetworkStream):
    """A network stream with its raw socket looked up once; everything else is the wrapped stream's."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return _readable(self._socket)
        if info == "socket":
            return self._socket
        return self._inner.get_extra_info(info)


class CachedSocketBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, with streams wrapped in `_Stream`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _pools(client: httpx.AsyncClient) -> list[typing.Any]:
    transports: list[object] = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    return [pool for pool in (getattr(t, "_pool", None) for t in transports) if pool is not None]


def load(client: httpx.AsyncClient) -> tuple[int, int] | None:
    """(idle connections, all connections) in the pools of `client`, or None when httpx's layout is not
    the expected one."""
    idle = total = 0
    pools = _pools(client)
    for pool in pools:
        connections = getattr(pool, "connections", None)
        if not isinstance(connections, list):
            return None
        total += len(connections)
        idle += sum(1 for connection in connections if connection.is_idle())
    return (idle, total) if pools else None


def install(client: httpx.AsyncClient) -> int:
    """Give every connection pool of `client` (the default one and any proxy mounts) the cached-socket
    backend; returns how many pools were changed (0 when httpx's internals differ from 0.27/0.28)."""
    changed = 0
    for pool in _pools(client):
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.AsyncNetworkBackend) and not isinstance(backend, CachedSocketBackend):
            pool._network_backend = CachedSocketBackend(backend)
            changed += 1
    if not changed:
        logger.debug("httpx connection pool layout not recognised; using its default network backend")
    return changed
