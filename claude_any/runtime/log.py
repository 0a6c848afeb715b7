"""One INFO line per request on the `claude_any` logger, and the logging set-up used by `run`.

The line holds only routing facts and numbers: model names, target ids, the rule name, status, latency and
token counts. Request bodies, headers and provider settings are never logged, so no secret can leak here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

logger = logging.getLogger("claude_any")


@dataclass
class RequestLog:
    """Filled in while a request is served; `emit` writes the line once."""

    method: str
    path: str
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    model: str = "-"
    target: str = "-"  # target id
    upstream: str = "-"  # provider/model
    rule: str = "-"
    status: int = 0
    stream: bool = False
    tokens_in: int | None = None
    tokens_out: int | None = None
    note: str = ""  # e.g. "fallback from large: rate_limit_error", "client disconnected"
    _emitted: bool = False

    def emit(self) -> None:
        """Write the request line (once; later calls do nothing)."""
        if self._emitted:
            return
        self._emitted = True
        millis = (time.perf_counter() - self.started) * 1000
        parts = [self.request_id, self.method, self.path]
        if self.model != "-":
            parts.append(f"{self.model} -> {self.target} ({self.upstream}) rule={self.rule!r}")
        parts.append(f"status={self.status} {millis:.0f}ms")
        if self.tokens_in is not None or self.tokens_out is not None:
            parts.append(f"in={_num(self.tokens_in)} out={_num(self.tokens_out)}")
        if self.target != "-":
            parts.append("stream" if self.stream else "sync")
        if self.note:
            parts.append(f"note={self.note!r}")
        logger.info("%s", " ".join(parts))


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def configure(level: str) -> None:
    """Timestamped lines on stderr for the `claude_any` logger at `level` (debug|info|warning|error)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
