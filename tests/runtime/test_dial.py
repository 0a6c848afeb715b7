"""`dial.connect`: happy eyeballs over real loopback sockets. The resolver is replaced by a list of loopback
addresses (a listener that accepts, one that refuses, one that never answers), so each case is exact."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from loopback import black_hole

from claude_any.runtime import dial

V4 = socket.AF_INET
V6 = socket.AF_INET6


def _info(family: int, address: tuple[Any, ...]) -> tuple[Any, ...]:
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)


@contextlib.contextmanager
def _listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


@contextlib.contextmanager
def _refusing() -> Iterator[tuple[str, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        yield sock.getsockname()


def _resolver(loop: asyncio.AbstractEventLoop, addresses: list[tuple[Any, ...]]) -> Any:
    """The loop's resolver, answering `addresses` for provider.example (uvloop resolves through it
    again in `sock_connect`, so every other name keeps its real answer)."""
    real = loop.getaddrinfo

    async def resolve(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host == "provider.example":
            return addresses
        return await real(host, port, **kwargs)

    return resolve


def _connect_with(addresses: list[tuple[Any, ...]], **kwargs: float) -> tuple[tuple[Any, ...], float]:
    """Run `dial.connect` with the resolver answering `addresses`; (the peer it connected to, seconds)."""

    async def scenario() -> tuple[tuple[Any, ...], float]:
        loop = asyncio.get_running_loop()

        loop.getaddrinfo = _resolver(loop, addresses)  # type: ignore[method-assign]
        started = time.monotonic()
        sock = await dial.connect("provider.example", 443, **kwargs)
        with sock:
            return sock.getpeername(), time.monotonic() - started

    return asyncio.run(asyncio.wait_for(scenario(), 5))


def test_addresses_alternate_families_from_the_first_one_s() -> None:
    a6, b6 = _info(V6, ("::1", 1, 0, 0)), _info(V6, ("::2", 1, 0, 0))
    a4, b4 = _info(V4, ("10.0.0.1", 1)), _info(V4, ("10.0.0.2", 1))
    assert dial._interleave([a6, b6, a4, b4, a6]) == [a6, a4, b6, b4]
    assert dial._interleave([a4, b4, a6]) == [a4, a6, b4]


def test_one_address_is_simply_connected() -> None:
    with _listener() as good:
        peer, _ = _connect_with([_info(V4, good.getsockname())])
        assert peer == good.getsockname()


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_an_address_that_never_answers_is_overtaken_after_the_delay() -> None:
    with black_hole() as silent, _listener() as good:
        peer, seconds = _connect_with(
            [_info(V4, silent.getsockname()), _info(V4, good.getsockname())], delay=0.2
        )
        assert peer == good.getsockname()
    assert seconds >= 0.15  # the second attempt waited for the delay: it did not start at once


def test_a_refused_address_starts_the_next_attempt_at_once() -> None:
    with _refusing() as refused, _listener() as good:
        # with a 30 s delay, waiting for it would hit the 5 s bound of the scenario
        peer, _ = _connect_with([_info(V4, refused), _info(V4, good.getsockname())], delay=30)
        assert peer == good.getsockname()


def test_every_address_refused_is_an_os_error_naming_each() -> None:
    with _refusing() as one, _refusing() as two, pytest.raises(OSError, match="any of 2 addresses"):
        _connect_with([_info(V4, one), _info(V4, two)])


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_a_cancelled_race_leaves_no_socket_open() -> None:
    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def scenario(addresses: list[tuple[Any, ...]]) -> tuple[int, int]:
        loop = asyncio.get_running_loop()

        loop.getaddrinfo = _resolver(loop, addresses)  # type: ignore[method-assign]
        before = open_descriptors()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(dial.connect("provider.example", 443, delay=0.05), 0.3)
        await asyncio.sleep(0.05)  # the cancelled attempts finish (before asyncio.run would clean up)
        return before, open_descriptors()

    with black_hole() as one, black_hole() as two:
        before, after = asyncio.run(scenario([_info(V4, one.getsockname()), _info(V4, two.getsockname())]))
    assert after == before
