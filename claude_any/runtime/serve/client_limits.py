"""What one client connection may hold (enforced by serve/client_protocol.py; `explain` shows them)."""

from __future__ import annotations

from dataclasses import dataclass

HEADER_BYTES = 64 * 1024  # request line and headers (Claude Code sends about 1.5 KB)
BODY_MIN_BYTES = 10 * 1024  # per header_s: 1 KB/s, far below any real link


@dataclass(frozen=True)
class ClientLimits:
    """The clocks and the cap of client_protocol.py (its docstring says what each guards against)."""

    header_s: float = 10.0  # for request headers to arrive; a body must make progress in each such period
    write_s: float = 60.0  # timeouts.client_write_s
    max_connections: int = 4096  # server.max_connections, per worker process
