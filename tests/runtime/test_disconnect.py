"""The disconnect watcher: a client that goes away cancels the watched block and only it; everything else
(results, errors, other cancellations) passes through untouched. The end-to-end cases (the upstream request
is cancelled, the upstream stream is closed) are in test_faults.py."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message

from claude_any.runtime.serve.disconnect import CancelOnDisconnect


class Client:
    """A fake ASGI `receive`: nothing until `leave()`, then `http.disconnect`."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self.gone.set()


async def _forever() -> None:
    await asyncio.Event().wait()


def test_a_disconnect_cancels_the_block_and_is_absorbed() -> None:
    async def main() -> tuple[bool, bool]:
        client = Client()
        reached_the_end = False
        asyncio.get_running_loop().call_later(0.01, client.leave)
        with CancelOnDisconnect(client.receive) as watch:
            await _forever()
            reached_the_end = True
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0)  # the task is not cancelled again afterwards
        return watch.disconnected, reached_the_end

    assert asyncio.run(main()) == (True, False)


def test_a_finished_block_is_not_cancelled_by_a_later_disconnect() -> None:
    async def main() -> bool:
        client = Client()
        with CancelOnDisconnect(client.receive) as watch:
            await asyncio.sleep(0)
        client.leave()
        await asyncio.sleep(0.01)
        return watch.disconnected

    assert asyncio.run(main()) is False


def test_a_disconnect_as_the_block_ends_does_not_leak_a_cancellation() -> None:
    async def main() -> None:
        client = Client()
        with CancelOnDisconnect(client.receive):
            client.leave()
            await asyncio.sleep(0)  # the watcher wakes; its done-callback runs only after the block
        await asyncio.sleep(0.01)

    asyncio.run(main())


def test_errors_of_the_block_pass_through_as_themselves() -> None:
    async def main() -> None:
        with CancelOnDisconnect(Client().receive):
            raise ValueError("upstream said no")

    with pytest.raises(ValueError, match="upstream said no"):
        asyncio.run(main())


def test_another_cancellation_is_not_swallowed() -> None:
    async def watched() -> None:
        with CancelOnDisconnect(Client().receive):
            await _forever()

    async def main() -> None:
        task = asyncio.ensure_future(watched())
        await asyncio.sleep(0.01)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())


def test_a_shutdown_during_a_disconnect_is_not_swallowed() -> None:
    async def watched(client: Client) -> None:
        with CancelOnDisconnect(client.receive):
            await _forever()

    async def main() -> None:
        client = Client()
        task = asyncio.ensure_future(watched(client))
        await asyncio.sleep(0.01)
        client.leave()
        await asyncio.sleep(0)  # the watcher ends; its callback cancels the task
        task.cancel()  # and the server cancels it too, before it has run
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
