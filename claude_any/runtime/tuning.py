"""Settings for a process that only serves the gateway (`claude-any run` and its workers), applied in the
thread that runs the event loop before it starts; never applied when the app is embedded elsewhere (tests).

httpcore and anyio ask sniffio which async library is running several times per request. Without sniffio
installed, httpcore's every ask is a failed import (about 30 us: hence sniffio is a dependency); with it,
each answer still costs asyncio.current_task(), and on Python 3.11 a getpid() system call. The serving
thread runs asyncio and nothing else, so it says so once, through sniffio's documented `thread_local`.
(Tuning the garbage collector was measured too: no difference beyond the noise, so it is left alone.)
"""

from __future__ import annotations

import sniffio


def for_serving() -> None:
    """Tune the current thread for serving; call it in the thread that will run the event loop."""
    sniffio.thread_local.name = "asyncio"
