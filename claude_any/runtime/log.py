"""One INFO line per request on the `claude_any` logger, the logging set-up used by `run`, and at DEBUG
what each call sent to its provider and got back.

The INFO line holds only routing facts and numbers: model names, target ids, the rule name, status,
latency and token counts. The DEBUG lines add the translated request body and the provider's answer, each
cut at BODY_CHARS and passed through the target's scrubber first, so no secret it resolved reaches them;
headers (where the credentials travel) and provider settings are never logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

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

    def count_usage(self, usage: Any) -> None:
        """Token counts from an Anthropic usage dict: input includes cache reads and writes."""
        if not isinstance(usage, Mapping):
            return
        tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        if isinstance(tokens_in, int):
            for key in ("cache_read_input_tokens", "cache_creation_input_tokens"):
                extra = usage.get(key)
                tokens_in += extra if isinstance(extra, int) else 0
            self.tokens_in = tokens_in
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


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


BODY_CHARS = 3000  # of one body in a DEBUG line: enough to see the fields sent, not a whole conversation
_STREAM_BYTES = 4 * BODY_CHARS  # of a streamed answer kept for its DEBUG line (events are wordy)


def debug_enabled() -> bool:
    """True when `run --log-level debug` asked for each call's request and answer."""
    return logger.isEnabledFor(logging.DEBUG)


def excerpt(body: Any, scrub: Callable[[str], str]) -> str:
    """`body` (a JSON value, or bytes as they came) as one scrubbed line, cut at BODY_CHARS.

    Scrubbed before it is cut, so a cut can never leave part of a secret behind.
    """
    if isinstance(body, bytes | bytearray):
        text = bytes(body).decode("utf-8", "replace")
    else:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
    text = scrub(text).replace("\r", "\\r").replace("\n", "\\n")
    if len(text) <= BODY_CHARS:
        return text
    return f"{text[:BODY_CHARS]}...[{len(text)} chars]"


class Called(Protocol):
    """What the DEBUG lines need of a target (`targets.Destination`)."""

    @property
    def label(self) -> str: ...  # provider/model
    @property
    def scrub(self) -> Callable[[str], str]: ...


class Prepared(Protocol):
    """What the DEBUG lines need of a prepared request (`provider_templates.PreparedTarget`)."""

    @property
    def url(self) -> str: ...
    @property
    def body_extras(self) -> dict[str, Any]: ...


def debug_call(request_id: str, target: Called, prepared: Prepared, body: dict[str, Any]) -> None:
    """DEBUG: the translated request a call sends, as the upstream code merges it (the URL without its
    query)."""
    if debug_enabled():
        parts = urlsplit(prepared.url)
        url = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else prepared.url  # echo:…
        sent = {**body, **prepared.body_extras}
        logger.debug(
            "%s -> %s POST %s %s", request_id, target.label, target.scrub(url), excerpt(sent, target.scrub)
        )


def debug_answer(request_id: str, target: Called, body: Any) -> None:
    """DEBUG: the provider's whole answer to a call, before it is translated back."""
    if debug_enabled():
        logger.debug("%s <- %s %s", request_id, target.label, excerpt(body, target.scrub))


def debug_stream(chunks: AsyncIterator[bytes], request_id: str, target: Called) -> AsyncIterator[bytes]:
    """`chunks` unchanged; at DEBUG the start of the streamed answer is logged once it ends (or fails)."""
    if not debug_enabled():
        return chunks
    return _logged_stream(chunks, request_id, target.label, target.scrub)


async def _logged_stream(
    chunks: AsyncIterator[bytes], request_id: str, label: str, scrub: Callable[[str], str]
) -> AsyncIterator[bytes]:
    kept = bytearray()
    total = 0
    try:
        async for chunk in chunks:
            total += len(chunk)
            if len(kept) < _STREAM_BYTES:
                kept += chunk[: _STREAM_BYTES - len(kept)]
            yield chunk
    finally:
        logger.debug("%s <- %s stream, %d bytes: %s", request_id, label, total, excerpt(kept, scrub))


def configure(level: str, file: str | None = None) -> None:
    """Timestamped lines for the `claude_any` logger at `level` (debug|info|warning|error), on stderr or
    appended to `file`. Raises OSError when `file` cannot be opened."""
    handler = logging.FileHandler(file, encoding="utf-8") if file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    server_log = logging.getLogger("uvicorn")  # the HTTP server's own few lines, to the same place
    server_log.handlers[:] = [handler]
    server_log.propagate = False
