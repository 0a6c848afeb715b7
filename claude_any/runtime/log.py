"""One INFO line per request on the `claude_any` logger, and the logging set-up used by `run`.

The line holds only routing facts and numbers: model names, target ids, the rule name, status, latency and
token counts. Request bodies, headers and provider settings are never logged, so no secret can leak here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    cache_read: int = 0  # of tokens_in: read from the provider's prompt cache
    cache_write: int = 0  # of tokens_in: written to it
    note: str = ""  # e.g. "fallback from large: rate_limit_error", "client disconnected"
    _emitted: bool = False
    on_emit: Callable[[RequestLog], None] | None = None  # told once the line is written (sessions.py)

    def count_usage(self, usage: Any) -> None:
        """Token counts from an Anthropic usage dict: input includes cache reads and writes."""
        if not isinstance(usage, Mapping):
            return
        tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        if isinstance(tokens_in, int):
            read, write = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
            self.cache_read = read if isinstance(read, int) else 0
            self.cache_write = write if isinstance(write, int) else 0
            self.tokens_in = tokens_in + self.cache_read + self.cache_write
        if isinstance(tokens_out, int):
            self.tokens_out = tokens_out

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
        if self.on_emit is not None:
            self.on_emit(self)


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def configure(level: str) -> None:
    """Timestamped lines on stderr for the `claude_any` logger at `level` (debug|info|warning|error)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
