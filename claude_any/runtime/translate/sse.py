"""Server-sent events on the wire: an incremental reader for upstream bytes and the frame writer.

The reader accepts the upstream byte stream split anywhere (inside a line, a `\\r\\n` or a UTF-8
character), `\\n`, `\\r\\n` or lone `\\r` line ends (all three are SSE), comment lines (`: keep-alive`,
`: OPENROUTER PROCESSING`), `event:` lines and multi-line `data:` fields. Lines are decoded only once
complete, so a multi-byte character split across reads is never seen half-way (neither `\\n` nor `\\r`
occurs inside a UTF-8 sequence).
"""

from __future__ import annotations

from typing import NamedTuple

from claude_any.runtime.translate import json_codec


def dumps(value: object) -> str:
    """Compact JSON text (no spaces, UTF-8 kept, as Anthropic sends it) used for every emitted payload."""
    return json_codec.dumps(value).decode()


def frame(event: str, payload: object) -> bytes:
    """One SSE frame: `event: <name>` and `data: <compact json>`, then the blank line."""
    return b"event: " + event.encode() + b"\ndata: " + json_codec.dumps(payload) + b"\n\n"


class Event(NamedTuple):
    """One dispatched upstream event: its `event:` name ("" when absent) and its joined data."""

    name: str
    data: str


class SSEReader:
    """Incremental SSE parser: `feed(bytes)` returns the events completed by those bytes.

    Linear in its input however it is split: each read is scanned once, and a line still without its end
    is kept as a list of pieces, joined once when the end comes (a long line sent in many reads must not
    be copied again on every read). Bounding a line's length is the reader's caller's job
    (`upstream.body_source`).
    """

    __slots__ = ("_pending", "_after_cr", "_data", "_name")

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # the start of a line whose end has not come yet
        self._after_cr = False  # the last read ended with a \r: a \n starting the next one belongs to it
        self._data: list[str] = []
        self._name = ""

    def feed(self, chunk: bytes) -> list[Event]:
        """Consume `chunk` and return every event whose terminating blank line it contained."""
        if not chunk:
            return []
        if self._after_cr:
            self._after_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:  # rare (OpenAI-style servers end lines with \n): make every line end a \n
            self._after_cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        rest = lines.pop()  # no line end after it yet: kept for the next read
        events: list[Event] = []
        if lines:
            if self._pending:
                self._pending.append(lines[0])
                lines[0] = b"".join(self._pending)
                self._pending = []
            for raw in lines:
                self._line(raw, events)
        if rest:
            self._pending.append(rest)
        return events

    def close(self) -> list[Event]:
        """At upstream EOF: a last line without its line end, and an event without its blank line."""
        events: list[Event] = []
        if self._pending:
            rest, self._pending = b"".join(self._pending), []
            self._line(rest, events)
        self._after_cr = False
        self._line(b"", events)
        return events

    def _line(self, raw: bytes, events: list[Event]) -> None:
        if not raw:
            # A blank line ends the event.
            if self._data:
                events.append(Event(self._name, "\n".join(self._data)))
                self._data = []
            self._name = ""
        elif raw[:5] == b"data:":
            start = 6 if raw[5:6] == b" " else 5
            self._data.append(raw[start:].decode("utf-8", errors="replace"))
        elif raw[:6] == b"event:":
            self._name = raw[6:].decode("utf-8", errors="replace").strip()
        # Comments (":…"), id:, retry: and unknown fields carry nothing we use.
