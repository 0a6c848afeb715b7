"""Cancelling the work of a request when its client goes away, with one asyncio task instead of a task group.

Until a response starts, and while a stream is sent, the server tells the app about a disconnect only through
`receive()`. Something has to wait on it beside the work. Starlette and anyio do that with a task group per
request (a task, a cancel scope and its delivery loop, all pure Python); a plain task whose done-callback
cancels the working task does the same for less: 0.16 ms of CPU per streamed request (bench.run, cc-stream,
paced, concurrency 10: 2.70 -> 2.54 ms) for the two watchers a request has.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from starlette.types import Receive


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class CancelOnDisconnect:
    """`with CancelOnDisconnect(receive) as watch:` a client disconnect cancels the block (only the block,
    like `asyncio.timeout`), after which `watch.disconnected` is true and the block's CancelledError is gone.

    A cancellation from anyone else (server shutdown) is never swallowed.
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[object] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._active = False
        self._cancelling = 0  # the task's pending cancels at entry
        self.disconnected = False

    def __enter__(self) -> CancelOnDisconnect:
        self._task = asyncio.current_task()
        assert self._task is not None
        self._cancelling = self._task.cancelling()
        self._watcher = asyncio.get_running_loop().create_task(_wait_for_disconnect(self._receive))
        self._watcher.add_done_callback(self._on_watcher_done)
        self._active = True
        return self

    def _on_watcher_done(self, watcher: asyncio.Task[None]) -> None:
        # A done-callback may run after the block has ended: it then must not cancel whatever comes next.
        if not self._active or watcher.cancelled() or watcher.exception() is not None:
            return
        assert self._task is not None
        self.disconnected = True
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._active = False
        assert self._watcher is not None and self._task is not None
        self._watcher.remove_done_callback(self._on_watcher_done)
        self._watcher.cancel()
        if not self.disconnected:
            return False
        # Our cancel is taken back; the error is ours to absorb only if no other cancel is pending.
        return self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError
