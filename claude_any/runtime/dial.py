"""Opening a TCP connection to a host name with happy eyeballs (RFC 8305): addresses tried in turn, IPv6
and IPv4 alternating, each started 250 ms after the one before unless that one failed sooner, the first to
connect winning.

Without it, a machine whose IPv6 is configured but goes nowhere (common on corporate networks) would wait
the whole connect timeout on a provider's IPv6 address before trying IPv4. uvloop's `create_connection`
tries addresses one after the other and has no `happy_eyeballs_delay`, so the race is run here and the
winning socket handed to it.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

ATTEMPT_DELAY_S = 0.25  # RFC 8305's recommended "Connection Attempt Delay"

_AddressInfo = tuple[Any, ...]  # one getaddrinfo() result: family, type, proto, canonname, sockaddr


async def connect(host: str, port: int, *, delay: float = ATTEMPT_DELAY_S) -> socket.socket:
    """A connected non-blocking socket to `host`:`port`; raises OSError when no address could be reached
    (the caller bounds the whole with its connect timeout; cancelling closes every socket opened)."""
    loop = asyncio.get_running_loop()
    addresses = _interleave(await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    if not addresses:
        raise OSError(f"no address found for {host}")
    if len(addresses) == 1:
        return await _attempt(loop, addresses[0])
    return await _race(loop, addresses, delay)


async def _race(
    loop: asyncio.AbstractEventLoop, addresses: list[_AddressInfo], delay: float
) -> socket.socket:
    waiting = list(addresses)
    running: set[asyncio.Task[socket.socket]] = set()
    failures: list[OSError] = []
    winner: socket.socket | None = None
    try:
        while waiting or running:
            if waiting:
                running.add(loop.create_task(_attempt(loop, waiting.pop(0))))
            # Until one attempt ends, or the delay before the next address (none once all are started).
            done, running = await asyncio.wait(
                running, timeout=delay if waiting else None, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task.exception() is None and winner is None:
                    winner = task.result()
                elif task.exception() is None:
                    task.result().close()  # a second success in the same turn
                else:
                    failures.append(_os_error(task.exception()))
            if winner is not None:
                return winner
    finally:
        for task in running:
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()  # connected just as this ended (cancelled, or another won)
            else:
                task.cancel()  # `_attempt` closes its socket when cancelled
    if len(failures) == 1:
        raise failures[0]
    raise OSError(f"could not connect to any of {len(failures)} addresses: " + "; ".join(map(str, failures)))


async def _attempt(loop: asyncio.AbstractEventLoop, info: _AddressInfo) -> socket.socket:
    family, kind, proto, _, address = info
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # requests go out whole, at once
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


def _os_error(exc: BaseException | None) -> OSError:
    return exc if isinstance(exc, OSError) else OSError(str(exc))


def _interleave(infos: list[_AddressInfo]) -> list[_AddressInfo]:
    """The resolver's order, duplicates dropped, families alternating from the first one's (RFC 8305 §4)."""
    seen: set[Any] = set()
    by_family: dict[int, list[_AddressInfo]] = {}
    for info in infos:
        if info[4] not in seen:
            seen.add(info[4])
            by_family.setdefault(info[0], []).append(info)
    queues = list(by_family.values())
    ordered: list[_AddressInfo] = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered
