"""Settings for a process that only serves the gateway (`claude-any run` and its workers), applied in the
thread that runs the event loop before it starts; never applied when the app is embedded elsewhere (tests).

anyio asks sniffio which async library is running several times per request. Without sniffio installed,
every ask is a failed import (about 30 us: hence sniffio is a dependency); with it,
each answer still costs asyncio.current_task(), and on Python 3.11 a getpid() system call. The serving
thread runs asyncio and nothing else, so it says so once, through sniffio's documented `thread_local`.

The garbage collector: what start-up built (modules, the app, the routing table) lives as long as the
process, yet every full collection walked all of it again, about 18 ms each under load (a pause that showed
in the p99 latency). Frozen once the app exists, a full collection costs about 5 ms; the collector's share
of the CPU went from 4.3% to 3.0% (bench.run cc-stream, paced, concurrency 10). Raising the collection
thresholds was measured too: no gain in CPU, and the peak RSS grew by 20 MB, so they are left alone.
"""

from __future__ import annotations

import gc

import sniffio


def for_serving() -> None:
    """Tune the current thread for serving; call it in the thread that will run the event loop, once the
    app is built."""
    sniffio.thread_local.name = "asyncio"
    gc.collect()  # start-up garbage is freed now, not frozen with the rest
    gc.freeze()
