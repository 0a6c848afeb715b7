"""One INFO line per request on the `claude_any` logger, the logging set-up used by `run`, `printable`,
and at DEBUG what each call sent to its provider and got back.

The INFO line holds only routing facts and numbers: model names, target ids, the rule name, status,
latency and token counts. The DEBUG lines add the translated request body and the provider's answer, each
passed through the target's scrubber and then cut at BODY_CHARS, so no secret it resolved reaches them;
headers (where the credentials travel) and provider settings are never logged.
Anything a client chose (a model name, a target id built from it, an upstream's error text) goes through
`printable` before it reaches a log line or a response header, so it cannot start a line of its own or
break a header, and it is cut to a bounded length.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from claude_any import prices
from claude_any.runtime.call.chunk_source import ChunkSource, Logged
from claude_any.runtime.serve.log_format import formatter
from claude_any.table import Price

logger = logging.getLogger("claude_any")

FIELD_CHARS = 200  # one client string in a log line or an error message (model names are far shorter)
HEADER_CHARS = 1000  # one response header value (x-claude-any-attempts lists every try)
LINE_CHARS = 4000  # a whole log line
CLIENT_GONE = "client disconnected"  # the note of a stream whose client left before its end

# ASCII control characters as escapes; beyond ASCII, `backslashreplace` writes \xNN, \uNNNN or \UNNNNNNNN.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127]} | {9: "\\t", 10: "\\n", 13: "\\r"}
_ESCAPE_LENGTH = {"x": 4, "u": 6, "U": 10}  # characters in one escape, backslash included


def printable(value: str, limit: int = FIELD_CHARS) -> str:
    """`value` as printable ASCII of at most `limit` characters, for log lines and response headers.

    Control characters (CR and LF included) and everything beyond ASCII (lone surrogates included) become
    escapes such as `\\r`, `\\x1b` or `\\u2028`; a longer value is cut and ends with `...[N chars]`, N being
    its full length. Applying it twice changes nothing, so layers may each apply it.
    """
    if len(value) <= limit and value.isascii() and value.isprintable():
        return value  # model names, target ids: the common case costs two C-level scans
    escaped = value[:limit].encode("ascii", "backslashreplace").decode("ascii").translate(_CONTROL)
    if len(value) <= limit and len(escaped) <= limit:
        return escaped
    marker = f"...[{len(value)} chars]"
    cut = max(0, limit - len(marker))
    start = escaped.rfind("\\", max(0, cut - 9), cut)  # an escape cut in half is left out whole
    if start >= 0 and start + _ESCAPE_LENGTH.get(escaped[start + 1 : start + 2], 2) > cut:
        cut = start
    return escaped[:cut] + marker


class OneLine(logging.Filter):
    """Makes every record one printable line of at most LINE_CHARS (a traceback still follows it): a
    string a client chose, logged by any module, cannot forge a line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: left for the handler to report as logging does
            return True
        record.msg, record.args = printable(message, LINE_CHARS), None
        return True


logger.addFilter(OneLine())  # records logged on `claude_any` itself; `configure` covers its child loggers


@dataclass
class RequestLog:
    """Filled in while a request is served; `emit` writes the line once, then tells the listeners (the
    usage ledger, metrics, session summaries), which read `fields()` or the attributes."""

    method: str
    path: str
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    at: float = field(default_factory=time.time)  # wall clock, for the ledger
    user: str = ""  # the name of the request's `server.tokens` entry; "" for the shared token or none
    session: str = ""  # x-claude-code-session-id when it is a plausible id (sessions.py), else ""
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
    # The token counts are the gateway's estimate (the provider reported none, or zeros): the client needs
    # numbers to compact by; the ledger and the status line say they are estimates.
    tokens_estimated: bool = False
    note: str = ""  # e.g. "fallback from large: rate_limit_error", "client disconnected"
    # US dollars for the tokens, once `emit` knows them and the target's price; None when either is unknown.
    cost_usd: float | None = None
    price_of: Callable[[str], Price | None] | None = None  # target id -> its price (set by the app)
    latency_ms: float = 0.0  # set by `emit`
    # For the metrics (not ledger fields): the Anthropic error type answered, whether a stream's answer
    # ended as the provider said it should (SSEResponse), the time to a stream's first bytes from the
    # provider, and the relay's tries again of a failed target and tries of a fallback.
    error: str = ""
    complete: bool = False
    first_byte_ms: float | None = None
    retries: int = 0
    fallbacks: int = 0
    # The target of each try that failed and was followed by another (a retry or a fallback), in order;
    # the request's own `target` and `status` are its last try's. For the status page's health.
    failed_tries: tuple[str, ...] = ()
    _emitted: bool = False
    # Told once, when the request is over and its line written: the session's token scale (app.py), the
    # session summary for the status line (sessions.py).
    listeners: list[Callable[[RequestLog], None]] = field(default_factory=list)

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

    def first_data(self) -> None:
        """The provider's streamed answer sent its first bytes (keepalive.with_ticks calls it once)."""
        self.first_byte_ms = (time.perf_counter() - self.started) * 1000

    def emit(self) -> None:
        """Write the request line (once; later calls do nothing)."""
        if self._emitted:
            return
        self._emitted = True
        millis = self.latency_ms = (time.perf_counter() - self.started) * 1000
        self.cost_usd = self._cost()
        parts = [self.request_id, self.method, self.path]
        if self.user:
            parts.append(f"user={self.user}")
        if self.model != "-":
            model, target, upstream = printable(self.model), printable(self.target), printable(self.upstream)
            parts.append(f"{model} -> {target} ({upstream}) rule='{printable(self.rule)}'")
        parts.append(f"status={self.status} {millis:.0f}ms")
        if self.tokens_in is not None or self.tokens_out is not None:
            parts.append(f"in={_num(self.tokens_in)} out={_num(self.tokens_out)}")
        if self.target != "-":
            parts.append("stream" if self.stream else "sync")
        if self.note:
            parts.append(f"note='{printable(self.note, LINE_CHARS // 4)}'")
        logger.info("%s", " ".join(parts), extra={"request_log": self})  # json lines: log_format.py
        for listener in self.listeners:
            listener(self)

    def _cost(self) -> float | None:
        if self.price_of is None or self.target == "-" or self.tokens_in is None or self.tokens_out is None:
            return None
        price = self.price_of(self.target)
        if price is None:
            return None
        uncached = max(self.tokens_in - self.cache_read - self.cache_write, 0)
        return prices.cost(
            price,
            uncached=uncached,
            cache_read=self.cache_read,
            cache_write=self.cache_write,
            output=self.tokens_out,
        )

    def fields(self) -> dict[str, Any]:
        """The request as the usage ledger and `--log-format json` record it (after `emit`): no secret, and
        client-chosen strings (model, session) escaped and cut by `printable`."""
        return {
            "time": datetime.fromtimestamp(self.at, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "user": self.user or None,
            "session": self.session or None,
            "model": printable(self.model) if self.model != "-" else None,
            "rule": self.rule if self.rule != "-" else None,
            "target": printable(self.target) if self.target != "-" else None,
            "upstream": printable(self.upstream) if self.upstream != "-" else None,
            "status": self.status,
            "stream": self.stream,
            "latency_ms": round(self.latency_ms, 1),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "tokens_estimated": self.tokens_estimated,
            "cost_usd": self.cost_usd,
            "note": printable(self.note, LINE_CHARS // 4) or None,
        }


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
        if isinstance(body, dict):  # the short fields (model, limits, effort) first: a cut keeps them
            parts = {key: _json(value) for key, value in body.items()}
            text = "{" + ",".join(f"{_json(k)}:{v}" for k, v in sorted(parts.items(), key=_bulky)) + "}"
        else:
            text = _json(body)
    text = scrub(text)  # OneLine then escapes line breaks and control characters, as in every record
    if len(text) <= BODY_CHARS:
        return text
    return f"{text[:BODY_CHARS]}...[{len(text)} chars]"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _bulky(item: tuple[str, str]) -> bool:
    return len(item[1]) > 200  # False sorts first; the sort is stable, so the order is kept otherwise


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


def debug_stream(source: ChunkSource, request_id: str, target: Called) -> ChunkSource:
    """`source` unchanged; at DEBUG the start of the streamed answer is logged once it ends (or fails)."""
    if not debug_enabled():
        return source

    def describe(total: int, kept: bytes) -> None:
        logger.debug(
            "%s <- %s stream, %d bytes: %s", request_id, target.label, total, excerpt(kept, target.scrub)
        )

    return Logged(source, _STREAM_BYTES, describe)


def configure(level: str, file: str | None = None, log_format: str = "text") -> None:
    """Timestamped lines (`log_format` text) or JSON objects (json: log_format.py) for the `claude_any`
    logger at `level` (debug|info|warning|error), on stderr or appended to `file`. Raises OSError when
    `file` cannot be opened."""
    handler = logging.FileHandler(file, encoding="utf-8") if file else logging.StreamHandler()
    handler.addFilter(OneLine())  # also the records of child loggers (`claude_any.runtime.translate.…`)
    handler.setFormatter(formatter(log_format))
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    server_log = logging.getLogger("uvicorn")  # the HTTP server's own few lines, to the same place
    server_log.handlers[:] = [handler]
    server_log.propagate = False
