"""Work on a large request body, off the event loop: one worker thread, shared by all requests.

Parsing, estimating and translating a 30 MB body takes up to seconds of CPU (a million small content blocks
cost about 3 s here). On the event loop that is seconds during which no other client is served, not even a
`/health` probe. On a worker thread the GIL still serialises Python code, but the interpreter hands it to
the event loop every few milliseconds, so small requests go on while the large one is worked on.

One thread, not a pool: two large bodies at once would only take turns on the GIL with each other and with
the loop, so the second waits its turn instead, and the loop keeps its share.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

LARGE_BODY_BYTES = 1024 * 1024  # bodies from this size are parsed, estimated and translated on the worker

P = ParamSpec("P")
R = TypeVar("R")

_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claude-any-large-body")


async def run(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` on the worker thread; the event loop serves other requests meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(_worker, functools.partial(fn, *args, **kwargs))
